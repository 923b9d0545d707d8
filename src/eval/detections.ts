// Detections to evaluate, validated against the ground truth and held in columns.
// Checked by hand rather than with zod: results files hold hundreds of thousands of entries, and the check is the
// same loop that fills the columns.
import type { CocoGroundTruth } from './cocoGt.js';
import { readJson } from './cocoGt.js';

/** One entry of a COCO results file. */
export interface CocoDetection {
  image_id: number;
  category_id: number;
  /** x, y, w, h */
  bbox: readonly number[];
  score: number;
}

/** Detections as columns (what a detector produces without building objects). */
export interface DetectionColumns {
  /** [N] */
  imageIds: ArrayLike<number>;
  categoryIds: ArrayLike<number>;
  scores: ArrayLike<number>;
  /** [N*4] x, y, w, h */
  boxes: ArrayLike<number>;
}

/** Validated detections: image and category as indices into the ground truth's sorted ids. */
export interface Detections {
  /** The ground truth they were checked against (their indices mean nothing for another). */
  readonly groundTruth: CocoGroundTruth;
  readonly count: number;
  /** [N] */
  readonly image: Int32Array;
  readonly category: Int32Array;
  readonly scores: Float64Array;
  /** [N*4] x, y, w, h */
  readonly boxes: Float64Array;
}

function fail(source: string, i: number, field: string, msg: string): never {
  throw new Error(`${source}: [${i}]${field ? `.${field}` : ''}: ${msg}`);
}

/** Checks one detection's fields and stores it at row i. */
function put(
  out: Detections,
  i: number,
  imageId: unknown,
  categoryId: unknown,
  score: unknown,
  x: unknown,
  y: unknown,
  w: unknown,
  h: unknown,
  gt: CocoGroundTruth,
  source: string,
): void {
  const ii = typeof imageId === 'number' ? gt.imageIndex.get(imageId) : undefined;
  if (ii === undefined) fail(source, i, 'image_id', `unknown image id ${String(imageId)} (not in ${gt.source})`);
  const kk = typeof categoryId === 'number' ? gt.categoryIndex.get(categoryId) : undefined;
  if (kk === undefined) fail(source, i, 'category_id', `unknown category id ${String(categoryId)} (not in ${gt.source})`);
  if (typeof score !== 'number' || !Number.isFinite(score)) {
    fail(source, i, 'score', `must be a finite number (got ${String(score)})`);
  }
  out.image[i] = ii;
  out.category[i] = kk;
  out.scores[i] = score;
  out.boxes[i * 4] = coord(x, source, i, 0);
  out.boxes[i * 4 + 1] = coord(y, source, i, 1);
  const ww = coord(w, source, i, 2);
  const hh = coord(h, source, i, 3);
  if (ww < 0 || hh < 0) fail(source, i, 'bbox', `width and height must be >= 0 (got ${ww} x ${hh})`);
  out.boxes[i * 4 + 2] = ww;
  out.boxes[i * 4 + 3] = hh;
}

function coord(v: unknown, source: string, i: number, c: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(source, i, `bbox[${c}]`, `must be a finite number (got ${String(v)})`);
  return v;
}

function alloc(n: number, gt: CocoGroundTruth): Detections {
  return { groundTruth: gt, count: n, image: new Int32Array(n), category: new Int32Array(n), scores: new Float64Array(n), boxes: new Float64Array(n * 4) };
}

/** Validates a results list (parsed JSON or objects built in code). */
export function detectionsFromList(list: unknown, gt: CocoGroundTruth, source = 'detections'): Detections {
  if (!Array.isArray(list)) throw new Error(`${source}: expected a JSON array of detections {image_id, category_id, bbox, score}`);
  const out = alloc(list.length, gt);
  for (let i = 0; i < list.length; i++) {
    const d: unknown = list[i];
    if (typeof d !== 'object' || d === null || Array.isArray(d)) fail(source, i, '', 'expected an object {image_id, category_id, bbox, score}');
    const { image_id, category_id, bbox, score } = d as Record<string, unknown>;
    if (!Array.isArray(bbox) || bbox.length !== 4) fail(source, i, 'bbox', 'expected [x, y, w, h]');
    put(out, i, image_id, category_id, score, bbox[0], bbox[1], bbox[2], bbox[3], gt, source);
  }
  return out;
}

/** Validates detections given as columns. */
export function detectionsFromColumns(cols: DetectionColumns, gt: CocoGroundTruth, source = 'detections'): Detections {
  const n = cols.scores.length;
  if (cols.imageIds.length !== n || cols.categoryIds.length !== n || cols.boxes.length !== n * 4) {
    throw new Error(
      `${source}: column lengths disagree (imageIds ${cols.imageIds.length}, categoryIds ${cols.categoryIds.length}, ` +
        `scores ${n}, boxes ${cols.boxes.length} = 4 x ${cols.boxes.length / 4})`,
    );
  }
  const out = alloc(n, gt);
  const b = cols.boxes;
  for (let i = 0; i < n; i++) {
    put(out, i, cols.imageIds[i], cols.categoryIds[i], cols.scores[i], b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3], gt, source);
  }
  return out;
}

/** Reads and validates a COCO results file. */
export function readDetections(path: string, gt: CocoGroundTruth): Detections {
  return detectionsFromList(readJson(path), gt, path);
}
