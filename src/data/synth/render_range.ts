// Rendering and writing a range of canvases of one split (what each `data make` worker does).
import { join } from 'node:path';
import { writeFileAtomic } from '../../io/atomic.js';
import { encodePng } from '../image.js';
import type { Box } from './compose.js';
import { type CanvasRenderer, type GeneratorParams, type Split } from './generator.js';
import { generator } from './registry.js';

export interface RangeRequest {
  generator: string;
  split: Split;
  seed: number;
  params: GeneratorParams;
  /** Folder the PNGs go to. */
  imageDir: string;
  /** Canvas indices [start, end). */
  start: number;
  end: number;
}

export interface RangeResult {
  start: number;
  /** Per canvas: its objects' class index and pixel-edge box. */
  objects: { label: number; box: Box }[][];
}

/** File name of canvas `index` (0-based); image ids are index + 1. */
export function canvasFileName(index: number): string {
  return `${String(index + 1).padStart(6, '0')}.png`;
}

// One renderer per generator and split per thread: opening may load source data (Fashion-MNIST).
const renderers = new Map<string, CanvasRenderer>();

export async function renderRange(req: RangeRequest): Promise<RangeResult> {
  const key = `${req.generator}/${req.split}`;
  let render = renderers.get(key);
  if (!render) {
    render = generator(req.generator).open(req.split);
    renderers.set(key, render);
  }
  const objects: RangeResult['objects'] = [];
  const writes: Promise<void>[] = [];
  for (let i = req.start; i < req.end; i++) {
    const canvas = render(req.seed, i, req.params);
    objects.push(canvas.objects.map((o) => ({ label: o.label, box: o.box })));
    // encode on libuv's pool while the next canvas is drawn
    writes.push(encodePng(canvas.image).then((png) => writeFileAtomic(join(req.imageDir, canvasFileName(i)), png)));
  }
  await Promise.all(writes);
  return { start: req.start, objects };
}
