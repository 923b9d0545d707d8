// `ladet data check`: validates a whole COCO dataset (the annotation file and every image) and summarises it:
// images, boxes per class, box sizes, and every problem found, without training.
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { checkCocoFile, formatProblem, imagePath, type CocoDataset, type CocoImage, type CocoProblem } from './coco.js';
import { checkImagePixels, DEFAULT_MAX_IMAGE_PIXELS, ImageError } from './image.js';

export interface CheckOptions {
  imageDir: string;
  /** Decode every image fully (finds truncated/corrupt data); false reads headers only. Default true. */
  decode?: boolean;
  /** Images with more pixels are reported (and not decoded), as training would refuse them. Default DEFAULT_MAX_IMAGE_PIXELS; 0 = no limit. */
  maxPixels?: number;
  /** Images checked at once. Default 8. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Box-size bins by sqrt(area) in pixels, and COCO's small/medium/large split (32^2, 96^2). */
export const SIZE_BINS = [0, 8, 16, 32, 64, 128, 256, 512] as const;

export interface CheckReport {
  file: string;
  imageDir: string;
  images: number;
  imagesWithBoxes: number;
  annotations: number;
  crowd: number;
  classes: { id: number; name: string; boxes: number; images: number }[];
  /** counts[i] = boxes with SIZE_BINS[i] <= sqrt(area) < SIZE_BINS[i + 1] (the last bin is open). */
  sizeHistogram: number[];
  coco: { small: number; medium: number; large: number };
  imageSize: { minWidth: number; maxWidth: number; minHeight: number; maxHeight: number } | null;
  problems: CocoProblem[];
  errors: number;
  warnings: number;
}

export async function checkDataset(annotationFile: string, opts: CheckOptions): Promise<CheckReport> {
  const { dataset, problems } = checkCocoFile(annotationFile);
  if (dataset) problems.push(...(await checkImages(dataset, opts)));
  return summarise(annotationFile, opts.imageDir, dataset, problems);
}

/** Problems of the image files: missing, unreadable or corrupt, or of another size than the JSON says. */
async function checkImages(ds: CocoDataset, opts: CheckOptions): Promise<CocoProblem[]> {
  const found: { i: number; p: CocoProblem }[] = [];
  const limit = opts.concurrency ?? 8;
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < ds.images.length) {
      const i = next++;
      const im = ds.images[i] as CocoImage;
      let p: { kind: string; message: string } | null;
      try {
        p = await checkImage(im, imagePath(opts.imageDir, im), opts.decode ?? true, opts.maxPixels ?? DEFAULT_MAX_IMAGE_PIXELS);
      } catch (e) {
        // a file_name or symlink leading out of the image folder (imagePath); checkImage itself does not throw
        p = { kind: 'outside-folder', message: (e as Error).message };
      }
      if (p) found.push({ i, p: { severity: 'error', kind: p.kind, where: `images[${im.index ?? i}] (id ${im.id})`, message: p.message } });
      opts.onProgress?.(++done, ds.images.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  return found.sort((a, b) => a.i - b.i).map((f) => f.p);
}

async function checkImage(im: CocoImage, file: string, decode: boolean, maxPixels: number): Promise<{ kind: string; message: string } | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? { kind: 'missing-image', message: `image file ${file} not found` }
      : { kind: 'missing-image', message: `cannot read image file ${file} (${(e as Error).message})` };
  }
  let width: number;
  let height: number;
  let orientation: number;
  try {
    // the pixel limit is ours (checkImagePixels below, from the header): libvips' own default limit is off
    const img = sharp(bytes, { failOn: 'warning', limitInputPixels: false });
    const m = await img.metadata();
    orientation = m.orientation ?? 1;
    const swap = orientation >= 5;
    width = (swap ? m.height : m.width) ?? 0;
    height = (swap ? m.width : m.height) ?? 0;
    try {
      checkImagePixels(file, width, height, maxPixels, 'maxPixels (data.maxImagePixels=N in a training config); 0 = no limit');
    } catch (e) {
      if (e instanceof ImageError) return { kind: 'too-large', message: `image file ${file}: ${e.reason}` };
      throw e;
    }
    if (decode) await img.raw().toBuffer();
  } catch (e) {
    return { kind: 'corrupt-image', message: `image file ${file} is corrupt or not an image (${(e as Error).message})` };
  }
  if (width !== im.width || height !== im.height) {
    const rotated = orientation >= 5 && height === im.width && width === im.height;
    const hint = rotated ? ` (the JSON has the size before EXIF orientation ${orientation}, which ladet applies)` : '';
    return { kind: 'image-size', message: `image file ${file} is ${width}x${height} but the JSON says ${im.width}x${im.height}${hint}` };
  }
  return null;
}

function summarise(file: string, imageDir: string, ds: CocoDataset | null, problems: CocoProblem[]): CheckReport {
  const errors = problems.filter((p) => p.severity === 'error').length;
  const base = { file, imageDir, problems, errors, warnings: problems.length - errors };
  const sizeHistogram: number[] = SIZE_BINS.map(() => 0);
  const coco = { small: 0, medium: 0, large: 0 };
  if (!ds) return { ...base, images: 0, imagesWithBoxes: 0, annotations: 0, crowd: 0, classes: [], sizeHistogram, coco, imageSize: null };
  const perClass = new Map<number, { boxes: number; images: Set<number> }>();
  for (const c of ds.categories) perClass.set(c.id, { boxes: 0, images: new Set() });
  const withBoxes = new Set<number>();
  let crowd = 0;
  for (const a of ds.annotations) {
    if (a.iscrowd) {
      crowd++;
      continue;
    }
    withBoxes.add(a.imageId);
    const c = perClass.get(a.categoryId);
    if (c) {
      c.boxes++;
      c.images.add(a.imageId);
    }
    const side = Math.sqrt(a.bbox[2] * a.bbox[3]);
    let bin = 0;
    while (bin + 1 < SIZE_BINS.length && side >= (SIZE_BINS[bin + 1] as number)) bin++;
    sizeHistogram[bin] = (sizeHistogram[bin] as number) + 1;
    // COCO's area ranges use the annotation's area field
    if (a.area < 32 * 32) coco.small++;
    else if (a.area < 96 * 96) coco.medium++;
    else coco.large++;
  }
  const ws = ds.images.map((im) => im.width);
  const hs = ds.images.map((im) => im.height);
  return {
    ...base,
    images: ds.images.length,
    imagesWithBoxes: withBoxes.size,
    annotations: ds.annotations.length,
    crowd,
    classes: [...ds.categories]
      .sort((a, b) => a.id - b.id)
      .map((c) => ({ id: c.id, name: c.name, boxes: perClass.get(c.id)?.boxes ?? 0, images: perClass.get(c.id)?.images.size ?? 0 })),
    sizeHistogram,
    coco,
    imageSize: ds.images.length
      ? { minWidth: Math.min(...ws), maxWidth: Math.max(...ws), minHeight: Math.min(...hs), maxHeight: Math.max(...hs) }
      : null,
  };
}

/** The report as text; at most `maxProblems` problems are listed, with the count of the rest. */
export function formatReport(r: CheckReport, maxProblems = 50): string {
  const lines: string[] = [];
  lines.push(`annotations ${r.file}`, `images      ${r.imageDir}`, '');
  lines.push(`images: ${r.images} (${r.imagesWithBoxes} with boxes, ${r.images - r.imagesWithBoxes} without)`);
  if (r.imageSize) {
    const s = r.imageSize;
    lines.push(`image size: width ${s.minWidth}..${s.maxWidth}, height ${s.minHeight}..${s.maxHeight}`);
  }
  lines.push(`annotations: ${r.annotations} (${r.annotations - r.crowd} boxes, ${r.crowd} crowd)`, '');
  if (r.classes.length) {
    const w = Math.max(5, ...r.classes.map((c) => c.name.length));
    lines.push(`${'class'.padEnd(w)}  ${'id'.padStart(5)}  ${'boxes'.padStart(8)}  ${'images'.padStart(8)}`);
    for (const c of r.classes) lines.push(`${c.name.padEnd(w)}  ${String(c.id).padStart(5)}  ${String(c.boxes).padStart(8)}  ${String(c.images).padStart(8)}`);
    lines.push('');
  }
  const total = r.sizeHistogram.reduce((a, b) => a + b, 0);
  if (total > 0) {
    lines.push('box size sqrt(w*h) in pixels:');
    const peak = Math.max(...r.sizeHistogram);
    r.sizeHistogram.forEach((n, i) => {
      const lo = SIZE_BINS[i] as number;
      const hi = SIZE_BINS[i + 1];
      const label = hi === undefined ? `>= ${lo}` : `${lo}-${hi}`;
      lines.push(`  ${label.padStart(8)}  ${String(n).padStart(8)}  ${'#'.repeat(Math.round((40 * n) / peak))}`);
    });
    lines.push(`COCO area ranges: small ${r.coco.small}, medium ${r.coco.medium}, large ${r.coco.large}`, '');
  }
  if (r.problems.length === 0) {
    lines.push('no problems found');
  } else {
    const kinds = new Map<string, number>();
    for (const p of r.problems) kinds.set(`${p.severity} ${p.kind}`, (kinds.get(`${p.severity} ${p.kind}`) ?? 0) + 1);
    lines.push(`problems: ${r.errors} error${r.errors === 1 ? '' : 's'}, ${r.warnings} warning${r.warnings === 1 ? '' : 's'} (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')})`);
    for (const p of r.problems.slice(0, maxProblems)) lines.push(`  ${p.severity}: ${formatProblem(r.file, p)}`);
    if (r.problems.length > maxProblems) lines.push(`  ... and ${r.problems.length - maxProblems} more`);
  }
  return lines.join('\n');
}
