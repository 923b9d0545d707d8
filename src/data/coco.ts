// COCO-format annotation files: parse, validate (zod for the shape of each entry, then the cross-entry rules),
// and serve per-image training targets. Every problem names the file and the entry, e.g.
// `ann.json: annotations[12] (id 57): bbox has negative width`.
import { isAbsolute, normalize, sep } from 'node:path';
import { resolveInside } from '../io/paths.js';
import { z } from 'zod';
import { describeValue, JsonFileError, nonFiniteToken, readJsonFile } from './json.js';
import { LabelMap, type Category } from './label_map.js';

export interface CocoImage {
  id: number;
  /** Relative to the image folder; validated not to escape it. */
  fileName: string;
  width: number;
  height: number;
  /** Position in the file's `images` list (for messages). */
  index?: number;
}

export interface CocoAnnotation {
  id: number;
  imageId: number;
  categoryId: number;
  /** [x, y, w, h] in image pixels, as in the file (not clipped). */
  bbox: [number, number, number, number];
  /** From the file, or w*h when the file has none. */
  area: number;
  iscrowd: boolean;
}

export interface CocoProblem {
  severity: 'error' | 'warning';
  /** A short tag for counting: 'json', 'field', 'duplicate-id', 'unknown-image', 'bbox', 'clipped', ... */
  kind: string;
  /** The entry, e.g. `annotations[12] (id 57)`; '' for the file as a whole. */
  where: string;
  message: string;
}

/** Training targets of one image, in original image pixels. */
export interface Targets {
  /** [n*4] x1, y1, x2, y2 per box, clipped to the image. */
  boxes: Float32Array;
  /** [n] contiguous class indices (LabelMap order). */
  labels: Int32Array;
}

/** A COCO problem raised as an exception; `problems` holds all that were found. */
export class CocoError extends Error {
  override name = 'CocoError';
  constructor(
    message: string,
    readonly problems: readonly CocoProblem[] = [],
  ) {
    super(message);
  }
}

/** `file: where: message`. */
export function formatProblem(file: string, p: CocoProblem): string {
  return `${file}: ${p.where ? `${p.where}: ` : ''}${p.message}`;
}

const id = z.number().int();
const imageSchema = z.object({
  id,
  file_name: z.string().min(1),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});
const annotationSchema = z.object({
  id,
  image_id: id,
  category_id: id,
  // the four numbers are checked by hand below, for messages such as "bbox has negative width"
  bbox: z.array(z.unknown()),
  area: z.number().nonnegative().optional(),
  iscrowd: z.union([z.literal(0), z.literal(1), z.boolean()]).optional(),
});
const categorySchema = z.object({ id, name: z.string() });
// `annotations` may be absent (image-info files such as COCO test-dev have none).
const topSchema = z.object({
  images: z.array(z.unknown()),
  annotations: z.array(z.unknown()).default([]),
  categories: z.array(z.unknown()),
});

export class CocoDataset {
  readonly labels: LabelMap;
  private readonly imagesById = new Map<number, CocoImage>();
  private readonly annsByImage = new Map<number, CocoAnnotation[]>();

  constructor(
    /** The annotation file this came from (for messages). */
    readonly file: string,
    readonly images: readonly CocoImage[],
    readonly annotations: readonly CocoAnnotation[],
    readonly categories: readonly Category[],
    /** Warnings (and, from validateCoco, errors) found while reading. */
    readonly problems: readonly CocoProblem[] = [],
  ) {
    this.labels = new LabelMap(categories);
    for (const im of images) {
      this.imagesById.set(im.id, im);
      this.annsByImage.set(im.id, []);
    }
    for (const a of annotations) this.annsByImage.get(a.imageId)?.push(a);
  }

  image(imageId: number): CocoImage {
    const im = this.imagesById.get(imageId);
    if (!im) throw new Error(`${this.file}: no image with id ${imageId}`);
    return im;
  }

  /** All annotations of an image, crowd ones included (what evaluation needs). */
  annotationsOf(imageId: number): readonly CocoAnnotation[] {
    return this.annsByImage.get(imageId) ?? [];
  }

  /**
   * Training targets of an image: crowd boxes excluded, boxes clipped to the image, and (as mmdetection does)
   * boxes narrower or shorter than `minSize` pixels after clipping dropped.
   */
  targets(imageId: number, minSize = 1): Targets {
    const im = this.image(imageId);
    const boxes: number[] = [];
    const labels: number[] = [];
    for (const a of this.annotationsOf(imageId)) {
      if (a.iscrowd) continue;
      const [x, y, w, h] = a.bbox;
      const x1 = Math.max(0, x);
      const y1 = Math.max(0, y);
      const x2 = Math.min(im.width, x + w);
      const y2 = Math.min(im.height, y + h);
      if (x2 - x1 < minSize || y2 - y1 < minSize) continue;
      boxes.push(x1, y1, x2, y2);
      labels.push(this.labels.label(a.categoryId));
    }
    return { boxes: Float32Array.from(boxes), labels: Int32Array.from(labels) };
  }

  /** Crowd boxes of an image as [n*4] x1, y1, x2, y2 (kept for evaluation, never trained on), clipped to the image
   * as training boxes are (a coordinate such as 1e300 would otherwise become Infinity in float32). */
  crowdBoxes(imageId: number): Float32Array {
    const im = this.image(imageId);
    const clip = (v: number, hi: number): number => Math.min(hi, Math.max(0, v));
    const out: number[] = [];
    for (const a of this.annotationsOf(imageId)) {
      const [x, y, w, h] = a.bbox;
      if (a.iscrowd) out.push(clip(x, im.width), clip(y, im.height), clip(x + w, im.width), clip(y + h, im.height));
    }
    return Float32Array.from(out);
  }

  /** Images for training; with `filterEmpty`, only those that keep at least one training box. */
  trainImages(opts: { filterEmpty?: boolean; minSize?: number } = {}): CocoImage[] {
    if (!opts.filterEmpty) return [...this.images];
    return this.images.filter((im) => this.targets(im.id, opts.minSize).labels.length > 0);
  }
}

/**
 * The images a training run can use (trainImages with filterEmpty); throws CocoError naming the annotation file when
 * there is none, instead of leaving an empty epoch to fail later (an LR schedule of 0 iterations per epoch).
 * `subsetOf` says the dataset is the first images of a larger one (data.trainLimit), for the message.
 */
export function requireTrainImages(dataset: CocoDataset, opts: { minSize?: number; subsetOf?: { images: number; key: string } } = {}): CocoImage[] {
  const minSize = opts.minSize ?? 1;
  const images = dataset.trainImages({ filterEmpty: true, minSize });
  if (images.length > 0) return images;
  let crowd = 0;
  for (const a of dataset.annotations) if (a.iscrowd) crowd++;
  const boxes = dataset.annotations.length;
  const why: string[] = [];
  if (crowd > 0) why.push(`${crowd} crowd`);
  if (boxes - crowd > 0) why.push(`${boxes - crowd} smaller than ${minSize} px or outside their image`);
  const counts = `${dataset.images.length} images, ${boxes} boxes${why.length ? `: ${why.join(', ')}` : ''}`;
  const sub = opts.subsetOf ? ` (${opts.subsetOf.key} keeps the first ${dataset.images.length} of ${opts.subsetOf.images} images)` : '';
  throw new CocoError(`${dataset.file}: no training image has an annotation (${counts})${sub}; nothing to train on`);
}

/** Reads and validates an annotation file; throws CocoError naming the first error (warnings are kept). */
export function readCoco(file: string): CocoDataset {
  const { dataset, problems } = checkCocoFile(file);
  const errors = problems.filter((p) => p.severity === 'error');
  const first = errors[0];
  if (first || !dataset) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more; \`ladet data check ${file}\` lists them all)` : '';
    throw new CocoError(`${first ? formatProblem(file, first) : `${file}: unreadable`}${more}`, problems);
  }
  return dataset;
}

/** Reads an annotation file and returns every problem found; `dataset` is built from the valid entries. */
export function checkCocoFile(file: string): { dataset: CocoDataset | null; problems: CocoProblem[] } {
  let raw: unknown;
  try {
    raw = readJsonFile(file);
  } catch (e) {
    if (!(e instanceof JsonFileError)) throw new CocoError(`${file}: cannot read the annotation file: ${(e as Error).message}`);
    const problem: CocoProblem = { severity: 'error', kind: 'json', where: '', message: e.message.slice(file.length + 2) };
    return { dataset: null, problems: [problem] };
  }
  return validateCoco(raw, file);
}

/** Validates parsed COCO JSON. Entries with errors are left out of `dataset`; `problems` lists them all. */
export function validateCoco(raw: unknown, file: string): { dataset: CocoDataset | null; problems: CocoProblem[] } {
  const problems: CocoProblem[] = [];
  const error = (kind: string, where: string, message: string): void => void problems.push({ severity: 'error', kind, where, message });
  const warn = (kind: string, where: string, message: string): void => void problems.push({ severity: 'warning', kind, where, message });

  const top = topSchema.safeParse(raw);
  if (!top.success) {
    for (const issue of top.error.issues) error('field', '', formatIssue(issue, raw));
    return { dataset: null, problems };
  }
  const rawTop = top.data;

  const categories: Category[] = [];
  const catAt = new Map<number, number>();
  rawTop.categories.forEach((entry, i) => {
    const where = entryName('categories', i, entry);
    const r = categorySchema.safeParse(entry);
    if (!r.success) {
      noteId(catAt, entry, i);
      return r.error.issues.forEach((issue) => error('field', where, formatIssue(issue, entry)));
    }
    const first = catAt.get(r.data.id);
    if (first !== undefined) return error('duplicate-id', where, `duplicate category id ${r.data.id} (first at categories[${first}])`);
    catAt.set(r.data.id, i);
    categories.push({ id: r.data.id, name: r.data.name });
  });

  const images: CocoImage[] = [];
  const imageAt = new Map<number, number>();
  const imagesById = new Map<number, CocoImage>();
  rawTop.images.forEach((entry, i) => {
    const where = entryName('images', i, entry);
    const r = imageSchema.safeParse(entry);
    if (!r.success) {
      noteId(imageAt, entry, i);
      return r.error.issues.forEach((issue) => error('field', where, formatIssue(issue, entry)));
    }
    const first = imageAt.get(r.data.id);
    if (first !== undefined) return error('duplicate-id', where, `duplicate image id ${r.data.id} (first at images[${first}])`);
    imageAt.set(r.data.id, i);
    const bad = fileNameProblem(r.data.file_name);
    if (bad) return error('file-name', where, bad);
    const im: CocoImage = { id: r.data.id, fileName: r.data.file_name, width: r.data.width, height: r.data.height, index: i };
    images.push(im);
    imagesById.set(im.id, im);
  });

  const validCats = new Set(categories.map((c) => c.id));
  const annotations: CocoAnnotation[] = [];
  const annAt = new Map<number, number>();
  rawTop.annotations.forEach((entry, i) => {
    const where = entryName('annotations', i, entry);
    const r = annotationSchema.safeParse(entry);
    if (!r.success) return r.error.issues.forEach((issue) => error('field', where, formatIssue(issue, entry)));
    const a = r.data;
    const first = annAt.get(a.id);
    if (first !== undefined) return error('duplicate-id', where, `duplicate annotation id ${a.id} (first at annotations[${first}])`);
    annAt.set(a.id, i);
    // An image or category that exists but failed validation was reported already; only truly unknown ids here.
    const im = imagesById.get(a.image_id);
    if (!im) return imageAt.has(a.image_id) ? undefined : error('unknown-image', where, `unknown image_id ${a.image_id}`);
    if (!catAt.has(a.category_id)) return error('unknown-category', where, `unknown category_id ${a.category_id}`);
    if (!validCats.has(a.category_id)) return undefined;
    const bboxProblem = checkBbox(a.bbox);
    if (bboxProblem) return error('bbox', where, bboxProblem);
    const [x, y, w, h] = a.bbox as [number, number, number, number];
    if (x < 0 || y < 0 || x + w > im.width || y + h > im.height) {
      const cx1 = Math.max(0, x);
      const cy1 = Math.max(0, y);
      const cx2 = Math.min(im.width, x + w);
      const cy2 = Math.min(im.height, y + h);
      const size = `${im.width}x${im.height}`;
      if (cx2 <= cx1 || cy2 <= cy1) warn('outside', where, `bbox [${x}, ${y}, ${w}, ${h}] lies entirely outside the ${size} image; not trained on`);
      else warn('clipped', where, `bbox [${x}, ${y}, ${w}, ${h}] extends outside the ${size} image; clipped to [${round(cx1)}, ${round(cy1)}, ${round(cx2 - cx1)}, ${round(cy2 - cy1)}]`);
    }
    annotations.push({
      id: a.id,
      imageId: a.image_id,
      categoryId: a.category_id,
      bbox: [x, y, w, h],
      area: a.area ?? w * h,
      iscrowd: a.iscrowd === 1 || a.iscrowd === true,
    });
  });

  return { dataset: new CocoDataset(file, images, annotations, categories, problems), problems };
}

/** Remembers the id of an entry that failed validation, so entries pointing at it are not also reported. */
function noteId(at: Map<number, number>, entry: unknown, i: number): void {
  const v = entry !== null && typeof entry === 'object' ? (entry as Record<string, unknown>).id : undefined;
  if (typeof v === 'number' && !at.has(v)) at.set(v, i);
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

/** `annotations[12] (id 57)`, or `annotations[12]` when the entry has no usable id. */
function entryName(list: string, i: number, entry: unknown): string {
  const idValue = entry !== null && typeof entry === 'object' ? (entry as Record<string, unknown>).id : undefined;
  return typeof idValue === 'number' ? `${list}[${i}] (id ${idValue})` : `${list}[${i}]`;
}

/** Why a bbox value is unusable, or null. */
function checkBbox(bbox: readonly unknown[]): string | null {
  if (bbox.length !== 4) return `bbox must have 4 numbers [x, y, w, h] (got ${bbox.length})`;
  for (let k = 0; k < 4; k++) {
    const v = bbox[k];
    const tok = nonFiniteToken(v);
    if (tok !== null) return `bbox[${k}] is ${tok}`;
    if (typeof v !== 'number') return `bbox[${k}] must be a number (got ${describeValue(v)})`;
    // JSON's 1e400 parses to Infinity
    if (!Number.isFinite(v)) return `bbox[${k}] is not a finite number (${v})`;
  }
  const [x, y, w, h] = bbox as number[];
  // finite numbers whose corner or area overflows would clip to nonsense or make an infinite area
  if (![(x as number) + (w as number), (y as number) + (h as number), (w as number) * (h as number)].every(Number.isFinite)) {
    return 'bbox is too large: its corner (x + w, y + h) or area (w * h) overflows';
  }
  if ((w as number) < 0) return 'bbox has negative width';
  if ((h as number) < 0) return 'bbox has negative height';
  if (w === 0) return 'bbox has zero width';
  if (h === 0) return 'bbox has zero height';
  return null;
}

/** Why a file_name would reach outside the image folder, or null. */
function fileNameProblem(name: string): string | null {
  if (isAbsolute(name) || /^[A-Za-z]:[\\/]/.test(name) || name.startsWith('\\')) {
    return `file_name ${JSON.stringify(name)} is an absolute path; it must be relative to the image folder`;
  }
  const norm = normalize(name.replace(/\\/g, '/'));
  if (norm === '..' || norm.startsWith(`..${sep}`) || norm.startsWith('../')) {
    return `file_name ${JSON.stringify(name)} escapes the image folder`;
  }
  if (name.includes('\0')) return `file_name ${JSON.stringify(name)} contains a NUL character`;
  return null;
}

/**
 * The path of an image file under `imageDir`. Refused (an Error naming the file_name, the path and the folder) when
 * it leads outside the folder: a file_name that escapes it (validateCoco refuses those already), or a symlink inside
 * the folder (the file, or a folder on its way) whose target lies outside it. An empty `imageDir` means there is no
 * image folder: the file names are the paths themselves (ladet predict's list of files), used as they are.
 */
export function imagePath(imageDir: string, image: CocoImage): string {
  if (imageDir === '') return image.fileName;
  return resolveInside(imageDir, normalize(image.fileName), 'image file');
}

interface ZodIssueLike {
  code: string;
  path: readonly PropertyKey[];
  message: string;
  expected?: unknown;
  minimum?: unknown;
  inclusive?: boolean;
}

/** A zod issue as `missing field 'width'` / `'width' must be a number (got "12")`. */
function formatIssue(issue: ZodIssueLike, entry: unknown): string {
  const field = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
  let value: unknown = entry;
  for (const p of issue.path) value = value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[p] : undefined;
  if (issue.code === 'invalid_type') {
    if (field === '') return `expected a JSON object with images, annotations and categories (got ${describeValue(value)})`;
    if (value === undefined) return `missing field '${field}'`;
    const expected = issue.expected === 'int' ? 'an integer' : issue.expected === 'array' ? 'an array' : `a ${String(issue.expected)}`;
    return `'${field}' must be ${expected} (got ${describeValue(value)})`;
  }
  if (issue.code === 'too_small' && typeof issue.minimum === 'number') {
    if (typeof value === 'string') return `'${field}' must not be empty`;
    return `'${field}' must be ${issue.inclusive ? '>=' : '>'} ${issue.minimum} (got ${describeValue(value)})`;
  }
  if (issue.code === 'invalid_union' || issue.code === 'invalid_value') return `'${field}' has an invalid value ${describeValue(value)}`;
  return `'${field}': ${issue.message}`;
}
