// Detections to evaluate, validated against the ground truth and held in columns.
// Checked by hand rather than with zod: results files hold hundreds of thousands to tens of millions of entries,
// and the check is the same loop that fills the columns. Files are read streaming (results_reader.ts).
import type { CocoGroundTruth } from './coco_gt.js';
import { fileBytes, Held, MIN_ENTRY_BYTES, readResultsFile } from './results_reader.js';

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
  lookup?: { image: (id: unknown) => number | undefined; category: (id: unknown) => number | undefined },
): void {
  const ii = lookup ? lookup.image(imageId) : typeof imageId === 'number' ? gt.imageIndex.get(imageId) : undefined;
  if (ii === undefined) fail(source, i, 'image_id', `unknown image id ${String(imageId)} (not in ${gt.source})`);
  const kk = lookup
    ? lookup.category(categoryId)
    : typeof categoryId === 'number'
      ? gt.categoryIndex.get(categoryId)
      : undefined;
  if (kk === undefined)
    fail(source, i, 'category_id', `unknown category id ${String(categoryId)} (not in ${gt.source})`);
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
  if (typeof v !== 'number' || !Number.isFinite(v))
    fail(source, i, `bbox[${c}]`, `must be a finite number (got ${String(v)})`);
  return v;
}

/**
 * id -> index for tens of millions of lookups: a table over [min id, max id] when the ids are integers spread over
 * at most 4x their count plus 2^20 (COCO's image ids: 5000 over 0..581929), else the Map.
 */
function idLookup(ids: readonly number[], index: ReadonlyMap<number, number>): (id: unknown) => number | undefined {
  const lo = ids[0] ?? 0; // ids are ascending
  const hi = ids[ids.length - 1] ?? -1;
  const span = hi - lo + 1;
  if (ids.length === 0 || !ids.every(Number.isInteger) || span > 4 * ids.length + (1 << 20)) {
    return (id) => (typeof id === 'number' ? index.get(id) : undefined);
  }
  const table = new Int32Array(span).fill(-1);
  ids.forEach((id, k) => (table[id - lo] = k));
  return (id) => {
    if (typeof id !== 'number') return undefined;
    const v = id - lo;
    // a non-integer v indexes nothing in a typed array: undefined, as the Map gives
    const k = table[v];
    return k === undefined || k < 0 ? undefined : k;
  };
}

function alloc(n: number, gt: CocoGroundTruth): Detections {
  return {
    groundTruth: gt,
    count: n,
    image: new Int32Array(n),
    category: new Int32Array(n),
    scores: new Float64Array(n),
    boxes: new Float64Array(n * 4),
  };
}

/** Validates a results list (parsed JSON or objects built in code). */
export function detectionsFromList(list: unknown, gt: CocoGroundTruth, source = 'detections'): Detections {
  if (!Array.isArray(list))
    throw new Error(`${source}: expected a JSON array of detections {image_id, category_id, bbox, score}`);
  const out = alloc(list.length, gt);
  for (let i = 0; i < list.length; i++) {
    const d: unknown = list[i];
    if (typeof d !== 'object' || d === null || Array.isArray(d))
      fail(source, i, '', 'expected an object {image_id, category_id, bbox, score}');
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
    put(
      out,
      i,
      cols.imageIds[i],
      cols.categoryIds[i],
      cols.scores[i],
      b[i * 4],
      b[i * 4 + 1],
      b[i * 4 + 2],
      b[i * 4 + 3],
      gt,
      source,
    );
  }
  return out;
}

export interface ReadDetectionsOptions {
  /** Bytes read from the file at a time (default 1 MiB); the file is never held whole. */
  chunkBytes?: number;
}

/**
 * Reads and validates a COCO results file, streaming: any size the columns fit in memory (48 bytes a detection;
 * 10 million detections, a 700 MB file, take 480 MB). Errors name the file and the entry, and the field
 * (`DETS.json: [12].bbox[2]: must be a finite number (got null)`), or the line and column of a JSON error.
 */
export function readDetections(path: string, gt: CocoGroundTruth, opts: ReadDetectionsOptions = {}): Detections {
  const size = fileBytes(path);
  // No valid entry is shorter than MIN_ENTRY_BYTES, so this many rows always suffice. Until the first entries show
  // the file's bytes per entry, take at most 64 Ki rows; then size the columns from that (plus 5 %), growing by
  // half when a file's later entries are shorter.
  const bound = Math.floor((size + 1) / MIN_ENTRY_BYTES) + 1;
  let out = alloc(Math.min(bound, 1 << 16), gt);
  const grow = (i: number, bytesRead: number): void => {
    const perEntry = bytesRead / i;
    const want = Math.max(Math.ceil(out.count * 1.5), Math.ceil((size / perEntry) * 1.05) + 1024);
    const bigger = alloc(Math.min(bound, want), gt);
    bigger.image.set(out.image);
    bigger.category.set(out.category);
    bigger.scores.set(out.scores);
    bigger.boxes.set(out.boxes);
    out = bigger;
  };
  const lookup = { image: idLookup(gt.imageIds, gt.imageIndex), category: idLookup(gt.categoryIds, gt.categoryIndex) };
  const n = readResultsFile(
    path,
    (i, e, bytesRead) => {
      if (e.bbox !== Held.Number || e.bboxLength !== 4) fail(path, i, 'bbox', 'expected [x, y, w, h]');
      if (i >= out.count) grow(i, bytesRead);
      const h = e.held;
      const x = e.num;
      if (h[0]! & h[1]! & h[2]! & h[3]! & h[4]! & h[5]! & h[6]! & Held.Number) {
        // all seven are numbers (the only valid case): stored straight from the entry's Float64Array when valid,
        // else put() says what is wrong
        const ii = lookup.image(x[0]);
        const kk = lookup.category(x[1]);
        const w = x[5]!;
        const hh = x[6]!;
        if (
          ii !== undefined &&
          kk !== undefined &&
          Number.isFinite(x[2]! + x[3]! + x[4]! + w + hh) &&
          w >= 0 &&
          hh >= 0
        ) {
          out.image[i] = ii;
          out.category[i] = kk;
          out.scores[i] = x[2]!;
          const b = out.boxes;
          b[4 * i] = x[3]!;
          b[4 * i + 1] = x[4]!;
          b[4 * i + 2] = w;
          b[4 * i + 3] = hh;
        } else put(out, i, x[0], x[1], x[2], x[3], x[4], x[5], x[6], gt, path, lookup);
      } else {
        const v = (f: number): unknown => (h[f] === Held.Number ? x[f] : h[f] === Held.Other ? e.other[f] : undefined);
        put(out, i, v(0), v(1), v(2), v(3), v(4), v(5), v(6), gt, path, lookup);
      }
    },
    opts.chunkBytes,
  );
  // Trim: a view when little is spare, else a copy (the spare rows would stay allocated with the view).
  const trim = <T extends Int32Array | Float64Array>(a: T, len: number): T =>
    a.length - len > a.length / 16 ? (a.slice(0, len) as T) : (a.subarray(0, len) as T);
  return {
    groundTruth: gt,
    count: n,
    image: trim(out.image, n),
    category: trim(out.category, n),
    scores: trim(out.scores, n),
    boxes: trim(out.boxes, 4 * n),
  };
}
