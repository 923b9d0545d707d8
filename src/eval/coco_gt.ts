// A minimal, strict reader of COCO ground truth for evaluation: only what bbox evaluation needs, held in columns.
// Self-contained on purpose, so the evaluator does not depend on the training-side dataset reader.
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { JSON_STREAM_BYTES, readJsonFile } from '../data/json.js';

/** COCO ground truth in columns. Images and categories are in ascending id order (the reference's order). */
export interface CocoGroundTruth {
  /** Where it came from, for error messages. */
  readonly source: string;
  /** [I] image ids, ascending. */
  readonly imageIds: readonly number[];
  /** [K] category ids, ascending, and their names. */
  readonly categoryIds: readonly number[];
  readonly categoryNames: readonly string[];
  /** id -> position in imageIds / categoryIds. */
  readonly imageIndex: ReadonlyMap<number, number>;
  readonly categoryIndex: ReadonlyMap<number, number>;
  /** [N] annotations in file order: id, image index, category index, area, crowd flag; boxes [N*4] x,y,w,h. */
  readonly annIds: Float64Array;
  readonly annImage: Int32Array;
  readonly annCategory: Int32Array;
  readonly annBoxes: Float64Array;
  readonly annArea: Float64Array;
  readonly annCrowd: Uint8Array;
}

const Id = z.number().int();
const Box = z
  .tuple([z.number(), z.number(), z.number(), z.number()])
  .refine((b) => b[2] >= 0 && b[3] >= 0, { message: 'width and height must be >= 0' })
  // finite numbers can still overflow: an infinite corner or area would poison IoU and the area ranges
  .refine((b) => [b[0] + b[2], b[1] + b[3], b[2] * b[3]].every(Number.isFinite), {
    message: 'too large: its corner (x + w, y + h) or area (w * h) overflows',
  });

const CocoFile = z.object({
  images: z.array(z.object({ id: Id })),
  categories: z.array(z.object({ id: Id, name: z.string().optional() })),
  annotations: z.array(
    z.object({
      id: Id,
      image_id: Id,
      category_id: Id,
      bbox: Box,
      // Missing area falls back to w*h (what the reference computes for results).
      area: z.number().nonnegative().optional(),
      iscrowd: z.union([z.literal(0), z.literal(1), z.boolean()]).optional(),
    }),
  ),
});

/** Formats a zod path as `annotations[3].bbox[2]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? String(p) : `.${String(p)}`;
  return s;
}

/** Validates parsed COCO JSON (`images`, `categories`, `annotations`); `source` names it in errors. */
export function parseCocoGt(json: unknown, source = 'ground truth'): CocoGroundTruth {
  const r = CocoFile.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue && issue.path.length ? formatPath(issue.path) : '(top level)';
    throw new Error(`${source}: ${where}: ${issue ? issue.message : 'invalid COCO ground truth'}`);
  }
  const { images, categories, annotations } = r.data;

  const imageIds = uniqueSorted(
    images.map((im) => im.id),
    source,
    'images',
    'image',
  );
  const categoryIds = uniqueSorted(
    categories.map((c) => c.id),
    source,
    'categories',
    'category',
  );
  const names = new Map(categories.map((c) => [c.id, c.name ?? String(c.id)]));
  const categoryNames = categoryIds.map((id) => names.get(id)!);
  const imageIndex = new Map(imageIds.map((id, i) => [id, i]));
  const categoryIndex = new Map(categoryIds.map((id, k) => [id, k]));

  const n = annotations.length;
  const annIds = new Float64Array(n);
  const annImage = new Int32Array(n);
  const annCategory = new Int32Array(n);
  const annBoxes = new Float64Array(n * 4);
  const annArea = new Float64Array(n);
  const annCrowd = new Uint8Array(n);
  const seen = new Set<number>();
  for (let j = 0; j < n; j++) {
    const a = annotations[j]!;
    if (seen.has(a.id)) throw new Error(`${source}: annotations[${j}].id: duplicate annotation id ${a.id}`);
    seen.add(a.id);
    const ii = imageIndex.get(a.image_id);
    if (ii === undefined) throw new Error(`${source}: annotations[${j}].image_id: unknown image id ${a.image_id}`);
    const kk = categoryIndex.get(a.category_id);
    if (kk === undefined) {
      throw new Error(`${source}: annotations[${j}].category_id: unknown category id ${a.category_id}`);
    }
    annIds[j] = a.id;
    annImage[j] = ii;
    annCategory[j] = kk;
    annBoxes.set(a.bbox, j * 4);
    annArea[j] = a.area ?? a.bbox[2] * a.bbox[3];
    annCrowd[j] = a.iscrowd ? 1 : 0;
  }
  return {
    source,
    imageIds,
    categoryIds,
    categoryNames,
    imageIndex,
    categoryIndex,
    annIds,
    annImage,
    annCategory,
    annBoxes,
    annArea,
    annCrowd,
  };
}

/** Reads and validates a COCO ground-truth JSON file. */
export function readCocoGt(path: string): CocoGroundTruth {
  return parseCocoGt(readJson(path), path);
}

/** Reads a JSON file; a parse failure names the file (and hints at Python's NaN, which JSON cannot hold). */
export function readJson(path: string): unknown {
  // a file too large for one string is parsed as a byte stream (data/json.ts)
  if (statSync(path).size >= JSON_STREAM_BYTES) return readJsonFile(path);
  const text = readFileSync(path, 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const hint = /\b(NaN|-?Infinity)\b/.test(text) ? ' (it contains NaN or Infinity, which JSON cannot hold)' : '';
    throw new Error(`${path}: not valid JSON${hint}: ${(e as Error).message}`, { cause: e });
  }
}

function uniqueSorted(ids: number[], source: string, field: string, what: string): number[] {
  const sorted = [...ids].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] === sorted[i - 1]) {
      const dup = sorted[i]!;
      throw new Error(`${source}: ${field}[${ids.indexOf(dup, ids.indexOf(dup) + 1)}].id: duplicate ${what} id ${dup}`);
    }
  }
  return sorted;
}
