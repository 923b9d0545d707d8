// One batch, end to end on one thread: decode + resize (sharp), flip, normalise, pad, and collate into a single
// NCHW float buffer. Runs in a loader worker (or inline); everything random comes from each sample's own seed,
// so the result does not depend on which thread built it.
import { decodeImage, type ResizeKernel } from './image.js';
import { Rng } from './rng.js';
import {
  normalizeTables,
  padTo,
  rescaleSize,
  sampleScale,
  transformBoxes,
  writeNormalizedChw,
  type ImageMeta,
  type PipelineConfig,
} from './transforms.js';

/** What a worker needs to load one sample. Boxes are in original image pixels. */
export interface SampleSpec {
  /** Index of the sample in the dataset. */
  index: number;
  imageId: number;
  /** Full path of the image file (with `bytes`: only how errors name the image). */
  file: string;
  /** The encoded image already in memory, read instead of `file` (inline use only: not sent to loader workers). */
  bytes?: Uint8Array;
  /** Size the annotation file gives; a decoded image of another size is skipped (its boxes would be wrong). */
  width: number;
  height: number;
  /** [n*4] x1, y1, x2, y2. */
  boxes: Float32Array;
  /** [n] class indices. */
  labels: Int32Array;
  /** Augmentation seed of this sample (derived from loader seed, epoch and index). */
  seed: number;
}

export interface SampleTargets {
  /** [n*4] x1, y1, x2, y2 in network-input pixels. */
  boxes: Float32Array;
  /** [n] contiguous class indices. */
  labels: Int32Array;
}

export interface SkippedSample {
  index: number;
  imageId: number;
  file: string;
  reason: string;
}

/** A collated batch as plain arrays (what crosses the thread boundary). */
export interface RawBatch {
  /** [N, 3, H, W] normalised pixels, zero-padded right and bottom. */
  data: Float32Array;
  shape: [number, number, number, number];
  targets: SampleTargets[];
  metas: ImageMeta[];
  /** Dataset indices of the images in the batch, in order. */
  indices: number[];
  /** Samples left out because their image could not be used. */
  skipped: SkippedSample[];
}

export interface BatchOptions {
  pipeline: PipelineConfig;
  kernel?: ResizeKernel;
}

/** Where the batch buffer comes from: a pool of reused buffers, or fresh zeroed memory. */
export type Allocate = (floats: number) => Float32Array;
const fresh: Allocate = (n) => new Float32Array(n);

interface LoadedSample {
  pixels: Uint8Array;
  meta: ImageMeta;
  targets: SampleTargets;
}

/** Decodes and transforms one sample (resize, flip of the boxes; the pixels are flipped while normalising). */
export async function loadSample(spec: SampleSpec, opts: BatchOptions): Promise<LoadedSample> {
  const rng = new Rng(spec.seed);
  const scale = sampleScale(opts.pipeline, rng);
  const flip = opts.pipeline.flipProb > 0 && rng.chance(opts.pipeline.flipProb);
  let sx = 1;
  let sy = 1;
  const img = await decodeImage(
    spec.bytes ?? spec.file,
    (w, h) => {
      const r = rescaleSize(w, h, scale);
      sx = r.sx;
      sy = r.sy;
      return r;
    },
    opts.kernel ?? 'linear',
    { width: spec.width, height: spec.height },
    opts.pipeline.maxImagePixels === undefined ? {} : { maxPixels: opts.pipeline.maxImagePixels },
  );
  if (img.originalWidth !== spec.width || img.originalHeight !== spec.height) {
    throw new Error(`image is ${img.originalWidth}x${img.originalHeight} but the annotation file says ${spec.width}x${spec.height}`);
  }
  const boxes = transformBoxes(spec.boxes, sx, sy, img.width, img.height, flip);
  const imgShape: [number, number] = [img.height, img.width];
  return {
    pixels: img.data,
    meta: {
      imageId: spec.imageId,
      file: spec.file,
      oriShape: [img.originalHeight, img.originalWidth],
      imgShape,
      padShape: padTo(imgShape, opts.pipeline.sizeDivisor),
      scaleFactor: [sx, sy, sx, sy],
      flip,
    },
    targets: { boxes, labels: spec.labels.slice() },
  };
}

/** Loads all samples concurrently (sharp decodes on libuv's pool) and collates them; unusable images are skipped. */
export async function buildBatch(specs: readonly SampleSpec[], opts: BatchOptions, allocate: Allocate = fresh): Promise<RawBatch> {
  const settled = await Promise.allSettled(specs.map((s) => loadSample(s, opts)));
  const loaded: LoadedSample[] = [];
  const indices: number[] = [];
  const skipped: SkippedSample[] = [];
  settled.forEach((r, i) => {
    const s = specs[i] as SampleSpec;
    if (r.status === 'fulfilled') {
      loaded.push(r.value);
      indices.push(s.index);
    } else {
      const e = r.reason as Error & { reason?: string };
      skipped.push({ index: s.index, imageId: s.imageId, file: s.file, reason: e.reason ?? e.message });
    }
  });
  return { ...collate(loaded, opts.pipeline, allocate), indices, skipped };
}

/** Pads every image to the batch's largest padded shape and stacks them as NCHW. */
function collate(samples: readonly LoadedSample[], pipeline: PipelineConfig, allocate: Allocate): Omit<RawBatch, 'indices' | 'skipped'> {
  let h = 0;
  let w = 0;
  for (const s of samples) {
    h = Math.max(h, s.meta.padShape[0]);
    w = Math.max(w, s.meta.padShape[1]);
  }
  const n = samples.length;
  const data = allocate(n * 3 * h * w);
  const tables = normalizeTables(pipeline.mean, pipeline.std);
  samples.forEach((s, i) => {
    const [ih, iw] = s.meta.imgShape;
    const offset = i * 3 * h * w;
    writeNormalizedChw(s.pixels, iw, ih, s.meta.flip, tables, data, offset, h, w);
    // a reused buffer holds an older batch: zero the padding right of and below the image
    for (let c = 0; c < 3; c++) {
      const plane = offset + c * h * w;
      if (iw < w) for (let y = 0; y < ih; y++) data.fill(0, plane + y * w + iw, plane + (y + 1) * w);
      data.fill(0, plane + ih * w, plane + h * w);
    }
  });
  return { data, shape: [n, 3, h, w], targets: samples.map((s) => s.targets), metas: samples.map((s) => s.meta) };
}
