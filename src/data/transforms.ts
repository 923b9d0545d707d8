// The detection transforms, mirroring mmdetection 2.x's pipeline: keep-ratio Resize to a (long, short) scale
// (a scale sampled from a range or a list for multi-scale training), RandomFlip (horizontal), Normalize (RGB
// mean/std) and Pad (to a size divisor, pad value 0 after normalisation). Boxes follow each step, and ImageMeta keeps
// what is needed to map predictions back to the original image.
import type { Rng } from './rng.js';

/** A target scale (long edge, short edge); the order of the two numbers does not matter, as in mmcv. */
export type Scale = readonly [number, number];

/** [height, width], as mmdetection's shapes without the channel. */
export type Shape2 = [number, number];

export interface ImageMeta {
  imageId: number;
  file: string;
  /** Size of the original (EXIF-oriented) image. */
  oriShape: Shape2;
  /** Size after resize: the valid region of the network input (top-left aligned). */
  imgShape: Shape2;
  /** Size after padding this image to the size divisor (the batch may be padded further). */
  padShape: Shape2;
  /** [w_scale, h_scale, w_scale, h_scale]: imgShape / oriShape per axis. */
  scaleFactor: [number, number, number, number];
  /** Whether the image (and its boxes) was flipped horizontally. */
  flip: boolean;
}

export interface PipelineConfig {
  /** One scale for a fixed size; two or more for multi-scale (see multiscaleMode). */
  scales: Scale[];
  /** 'range': long and short edge each drawn uniformly between the scales' extremes; 'value': one of the scales. */
  multiscaleMode: 'range' | 'value';
  /** Probability of a horizontal flip (0 for evaluation). */
  flipProb: number;
  /** RGB mean and std, in 0..255 pixel units. */
  mean: [number, number, number];
  std: [number, number, number];
  /** Pad height and width up to a multiple of this (1 for none). */
  sizeDivisor: number;
  /**
   * Images with more pixels than this (width x height) are refused from their header, before decoding (an
   * unusable image: the loader skips it and says why); 0 = no limit. Default DEFAULT_MAX_IMAGE_PIXELS (image.ts).
   */
  maxImagePixels?: number;
}

/** mmdetection's ImageNet normalisation (torchvision-style RGB mean/std on 0..255). */
export const IMAGENET_MEAN: [number, number, number] = [123.675, 116.28, 103.53];
export const IMAGENET_STD: [number, number, number] = [58.395, 57.12, 57.375];

/** The training pipeline of mmdetection's COCO configs: multi-scale when given a range, flip 0.5, pad 32. */
export function trainPipeline(scales: Scale[] = [[1333, 800]], multiscaleMode: 'range' | 'value' = 'range'): PipelineConfig {
  return { scales, multiscaleMode, flipProb: 0.5, mean: IMAGENET_MEAN, std: IMAGENET_STD, sizeDivisor: 32 };
}

/** The evaluation pipeline: one fixed scale, no flip, pad 32. */
export function testPipeline(scale: Scale = [1333, 800]): PipelineConfig {
  return { scales: [scale], multiscaleMode: 'value', flipProb: 0, mean: IMAGENET_MEAN, std: IMAGENET_STD, sizeDivisor: 32 };
}

/** Throws a clear error for an unusable config. */
export function checkPipeline(c: PipelineConfig): void {
  if (c.scales.length === 0) throw new Error('pipeline: at least one scale is needed');
  for (const s of c.scales) {
    if (s.length !== 2 || !s.every((v) => Number.isFinite(v) && v > 0)) throw new Error(`pipeline: bad scale [${s.join(', ')}]`);
  }
  if (!(c.flipProb >= 0 && c.flipProb <= 1)) throw new Error(`pipeline: flipProb must be in [0, 1] (got ${c.flipProb})`);
  if (!Number.isInteger(c.sizeDivisor) || c.sizeDivisor < 1) throw new Error(`pipeline: sizeDivisor must be a positive integer (got ${c.sizeDivisor})`);
  if (c.std.some((v) => !(v > 0))) throw new Error('pipeline: std must be positive');
  const m = c.maxImagePixels;
  if (m !== undefined && !(Number.isInteger(m) && m >= 0)) throw new Error(`pipeline: maxImagePixels must be a non-negative integer (got ${m})`);
}

/** The scale for one image: fixed, drawn from a range, or picked from a list (mmdetection's Resize._random_scale). */
export function sampleScale(c: PipelineConfig, rng: Rng): Scale {
  if (c.scales.length === 1) return c.scales[0] as Scale;
  if (c.multiscaleMode === 'value') return rng.pick(c.scales);
  const longs = c.scales.map((s) => Math.max(s[0], s[1]));
  const shorts = c.scales.map((s) => Math.min(s[0], s[1]));
  return [rng.int(Math.min(...longs), Math.max(...longs)), rng.int(Math.min(...shorts), Math.max(...shorts))];
}

/**
 * Keep-ratio output size for an image of `width` x `height` and a (long, short) scale, as mmcv.rescale_size:
 * factor = min(long / max(h, w), short / min(h, w)), size = int(side * factor + 0.5). The scale factors of
 * the boxes are the realised ratios new / old per axis.
 */
export function rescaleSize(width: number, height: number, scale: Scale): { width: number; height: number; sx: number; sy: number } {
  const longEdge = Math.max(scale[0], scale[1]);
  const shortEdge = Math.min(scale[0], scale[1]);
  const f = Math.min(longEdge / Math.max(width, height), shortEdge / Math.min(width, height));
  const w = Math.max(1, Math.floor(width * f + 0.5));
  const h = Math.max(1, Math.floor(height * f + 0.5));
  return { width: w, height: h, sx: w / width, sy: h / height };
}

/** Height/width padded up to multiples of `divisor`. */
export function padTo(shape: Shape2, divisor: number): Shape2 {
  return [Math.ceil(shape[0] / divisor) * divisor, Math.ceil(shape[1] / divisor) * divisor];
}

/** Boxes [n*4] x1,y1,x2,y2 scaled by (sx, sy) and clipped to [0, width] x [0, height] (mmdetection clips too). */
export function resizeBoxes(boxes: ArrayLike<number>, sx: number, sy: number, width: number, height: number): Float32Array {
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    out[i] = clamp((boxes[i] as number) * sx, 0, width);
    out[i + 1] = clamp((boxes[i + 1] as number) * sy, 0, height);
    out[i + 2] = clamp((boxes[i + 2] as number) * sx, 0, width);
    out[i + 3] = clamp((boxes[i + 3] as number) * sy, 0, height);
  }
  return out;
}

/**
 * Resize (scale + clip, as resizeBoxes) and optionally flip (as flipBoxes) in one step: computed in float64 and
 * rounded to float32 once, which keeps the round trip through mapBoxesBack within 1e-4 px.
 */
export function transformBoxes(boxes: ArrayLike<number>, sx: number, sy: number, width: number, height: number, flip: boolean): Float32Array {
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    const x1 = clamp((boxes[i] as number) * sx, 0, width);
    const x2 = clamp((boxes[i + 2] as number) * sx, 0, width);
    out[i] = flip ? width - x2 : x1;
    out[i + 1] = clamp((boxes[i + 1] as number) * sy, 0, height);
    out[i + 2] = flip ? width - x1 : x2;
    out[i + 3] = clamp((boxes[i + 3] as number) * sy, 0, height);
  }
  return out;
}

/** Boxes [n*4] mirrored left-right in an image of `width` pixels: x1' = width - x2, x2' = width - x1. */
export function flipBoxes(boxes: ArrayLike<number>, width: number): Float32Array {
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    out[i] = width - (boxes[i + 2] as number);
    out[i + 1] = boxes[i + 1] as number;
    out[i + 2] = width - (boxes[i] as number);
    out[i + 3] = boxes[i + 3] as number;
  }
  return out;
}

/**
 * Maps boxes [n*4] x1,y1,x2,y2 from network-input pixels of an image back to its original pixels: undo the flip
 * (within imgShape), divide by the scale factors, and (with `clip`) clip to the original image.
 * Round trip: original -> resizeBoxes/flipBoxes (float32) -> mapBoxesBack is exact to 1e-4 px for images up to
 * about 2000 px; the float32 boxes in network pixels are what limits it.
 */
export function mapBoxesBack(boxes: ArrayLike<number>, meta: ImageMeta, clip = true): Float64Array {
  const [oh, ow] = meta.oriShape;
  const w = meta.imgShape[1];
  const [sx, sy] = meta.scaleFactor;
  // float64 out: a float32 rounding here would add up to 6e-5 px on top of the input's own at 1000+ px
  const out = new Float64Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    let x1 = boxes[i] as number;
    let x2 = boxes[i + 2] as number;
    if (meta.flip) [x1, x2] = [w - x2, w - x1];
    let bx1 = x1 / sx;
    let by1 = (boxes[i + 1] as number) / sy;
    let bx2 = x2 / sx;
    let by2 = (boxes[i + 3] as number) / sy;
    if (clip) {
      bx1 = clamp(bx1, 0, ow);
      by1 = clamp(by1, 0, oh);
      bx2 = clamp(bx2, 0, ow);
      by2 = clamp(by2, 0, oh);
    }
    out[i] = bx1;
    out[i + 1] = by1;
    out[i + 2] = bx2;
    out[i + 3] = by2;
  }
  return out;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Per-channel lookup tables (value - mean) / std for the 256 byte values. */
export function normalizeTables(mean: readonly number[], std: readonly number[]): Float32Array[] {
  return [0, 1, 2].map((c) => {
    const t = new Float32Array(256);
    for (let v = 0; v < 256; v++) t[v] = (v - (mean[c] as number)) / (std[c] as number);
    return t;
  });
}

/**
 * Writes one RGB HWC image into a CHW float plane block `dst` (3 planes of dstHeight x dstWidth, starting at
 * `offset`), normalised through `tables` and mirrored when `flip`. The area right of and below the image is left
 * as it is (zero in a fresh buffer: the pad value after normalisation).
 */
export function writeNormalizedChw(
  src: Uint8Array,
  width: number,
  height: number,
  flip: boolean,
  tables: readonly Float32Array[],
  dst: Float32Array,
  offset: number,
  dstHeight: number,
  dstWidth: number,
): void {
  const [t0, t1, t2] = tables as [Float32Array, Float32Array, Float32Array];
  const plane = dstHeight * dstWidth;
  for (let y = 0; y < height; y++) {
    const row = offset + y * dstWidth;
    let s = y * width * 3;
    if (flip) {
      for (let x = width - 1; x >= 0; x--, s += 3) {
        dst[row + x] = t0[src[s] as number] as number;
        dst[row + plane + x] = t1[src[s + 1] as number] as number;
        dst[row + 2 * plane + x] = t2[src[s + 2] as number] as number;
      }
    } else {
      for (let x = 0; x < width; x++, s += 3) {
        dst[row + x] = t0[src[s] as number] as number;
        dst[row + plane + x] = t1[src[s + 1] as number] as number;
        dst[row + 2 * plane + x] = t2[src[s + 2] as number] as number;
      }
    }
  }
}
