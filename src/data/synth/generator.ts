// What a built-in dataset generator is, and the canvas recipe the generators share: a cluttered background, then
// 1..N objects of log-uniform size placed with limited overlap, each box the tight bounds of its visible pixels.
import type { RgbImage } from '../image.js';
import { Rng } from '../rng.js';
import { paintBackground, type BackgroundStyle } from './canvas.js';
import { Composer, contrastingTint, type PlacedObject, type Stencil } from './compose.js';

export type Split = 'train' | 'val';

/** Numeric parameters of a generator (all generators take these; `k=v` on the command line). */
export interface GeneratorParams {
  /** Canvases in the training split. */
  train: number;
  /** Canvases in the validation split. */
  val: number;
  /** Canvas side in pixels (square canvases). */
  size: number;
  minItems: number;
  maxItems: number;
  /** Object side before cropping to its pixels, drawn log-uniformly in [minSide, maxSide]. */
  minSide: number;
  maxSide: number;
  /** Largest IoU between any two boxes of a canvas. */
  maxIou: number;
}

export const DEFAULT_PARAMS: GeneratorParams = {
  train: 8000,
  val: 1000,
  size: 160,
  minItems: 1,
  maxItems: 8,
  minSide: 12,
  maxSide: 96,
  maxIou: 0.4,
};

export interface Canvas {
  image: RgbImage;
  objects: PlacedObject[];
}

/** Draws canvases of one split; made once per worker thread (it may hold source data). */
export type CanvasRenderer = (seed: number, index: number, params: GeneratorParams) => Canvas;

export interface Generator {
  name: string;
  description: string;
  /** Class names; category ids are 1..K in this order. */
  classes: readonly string[];
  /** How its backgrounds are painted. */
  background: BackgroundStyle;
  /** Why this generator cannot run on this machine, or null. */
  missing(): string | null;
  open(split: Split): CanvasRenderer;
}

/** An object to draw: its stencil and class index. */
export type StencilMaker = (rng: Rng, side: number) => { stencil: Stencil; label: number } | null;

const SPLIT_TAG: Record<Split, number> = { train: 1, val: 2 };

/** The generator seeds of one canvas: background and objects draw from separate streams. */
export function canvasRngs(seed: number, split: Split, index: number): { background: Rng; objects: Rng } {
  return { background: Rng.derive(seed, SPLIT_TAG[split], index, 1), objects: Rng.derive(seed, SPLIT_TAG[split], index, 2) };
}

/** Checks the parameters; throws naming the bad one. */
export function checkParams(p: GeneratorParams): void {
  const int = (k: keyof GeneratorParams, lo: number): void => {
    if (!Number.isInteger(p[k]) || p[k] < lo) throw new Error(`${k} must be an integer >= ${lo} (got ${p[k]})`);
  };
  int('train', 0);
  int('val', 0);
  int('size', 16);
  int('minItems', 0);
  int('maxItems', 0);
  if (p.maxItems < p.minItems) throw new Error(`maxItems (${p.maxItems}) must be >= minItems (${p.minItems})`);
  if (!(p.minSide >= 4)) throw new Error(`minSide must be >= 4 (got ${p.minSide})`);
  if (!(p.maxSide >= p.minSide)) throw new Error(`maxSide (${p.maxSide}) must be >= minSide (${p.minSide})`);
  if (p.maxSide > p.size) throw new Error(`maxSide (${p.maxSide}) must not exceed the canvas size (${p.size})`);
  if (!(p.maxIou >= 0 && p.maxIou <= 1)) throw new Error(`maxIou must be in [0, 1] (got ${p.maxIou})`);
}

/** Renders one canvas with the shared recipe. */
export function renderCanvas(
  seed: number,
  split: Split,
  index: number,
  params: GeneratorParams,
  style: BackgroundStyle,
  make: StencilMaker,
): Canvas {
  const rngs = canvasRngs(seed, split, index);
  const image = paintBackground(rngs.background, params.size, params.size, style);
  const composer = new Composer(image);
  const rng = rngs.objects;
  const n = rng.int(params.minItems, params.maxItems);
  const opts = { maxIou: params.maxIou, minVisible: 0.6, attempts: 30 };
  for (let k = 0; k < n; k++) {
    const side = Math.round(rng.logUniform(params.minSide, params.maxSide));
    const item = make(rng, side);
    if (!item) continue;
    composer.tryPlace(item.stencil, item.label, rng, opts, (under) => contrastingTint(rng, under, 55));
  }
  return { image, objects: composer.placed() };
}
