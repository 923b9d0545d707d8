// A picture comparing detectors on the same images (`ladet demo`'s report): a grid with one row per image and one
// column per detector, each cell the image enlarged `scale` times with that detector's detections drawn over the
// ground truth (white, dashed, no tag), under a title row naming the columns. Boxes are drawn by data/draw.ts and
// detections come from engine/predict.ts, as `ladet predict` draws them.
import sharp, { type OverlayOptions } from 'sharp';
import { decodeImage } from '../data/image.js';
import { drawDetections, escapeXml, type DrawnBox } from '../data/draw.js';
import type { CocoDataset } from '../data/coco.js';
import { openDetector, resolveModelFiles } from './open_detector.js';
import { predictImages } from './predict.js';

/** Cell enlargement, gap between cells and title row height (px) of the grid. */
export const GRID = { scale: 2, gap: 6, header: 28 } as const;
export const GT_COLOUR = '#ffffff';

export interface GridColumn {
  title: string;
  /** per image (in the grid's row order), the boxes to draw, in the image's own pixels */
  boxes: readonly (readonly DrawnBox[])[];
}

/** An image's ground-truth boxes as drawn in the grid (white, dashed, untagged). */
export function groundTruthBoxes(dataset: CocoDataset, imageId: number): DrawnBox[] {
  return dataset.annotationsOf(imageId).map((a) => {
    const [x, y, w, h] = a.bbox;
    return {
      box: [x, y, x + w, y + h],
      label: dataset.labels.label(a.categoryId),
      text: '',
      colour: GT_COLOUR,
      dashed: true,
    };
  });
}

/**
 * The detections of a trained run (its config and best weights, as `ladet predict weights=RUN`) on `files`, as tagged
 * boxes "class score": per file, those with score >= scoreThr, best first, at most maxDets.
 */
export async function runDetections(
  runDir: string,
  files: readonly string[],
  o: { scoreThr: number; maxDets: number },
): Promise<DrawnBox[][]> {
  const opened = openDetector(resolveModelFiles({ run: runDir }));
  const byFile = new Map<string, DrawnBox[]>();
  try {
    const stream = predictImages({
      model: opened.model,
      config: opened.config,
      classes: opened.classes,
      files,
      onSkip: (file, reason) => {
        throw new Error(`${file}: ${reason}`);
      },
    });
    for await (const p of stream) {
      const boxes: DrawnBox[] = [];
      // predictBatch returns the best score first
      for (let k = 0; k < p.scores.length && boxes.length < o.maxDets; k++) {
        const score = p.scores[k] as number;
        if (score < o.scoreThr) continue;
        const label = p.labels[k] as number;
        const box = [0, 1, 2, 3].map((c) => p.boxes[4 * k + c] as number) as [number, number, number, number];
        boxes.push({ box, label, text: `${opened.classes[label]?.name ?? label} ${score.toFixed(2)}` });
      }
      byFile.set(p.file, boxes);
    }
  } finally {
    opened.model.dispose();
  }
  return files.map((f) => byFile.get(f) ?? []);
}

/** Width and height of the grid for `rows` images of at most cellW x cellH pixels (before scaling) and `columns`. */
export function gridSize(
  rows: number,
  columns: number,
  cellW: number,
  cellH: number,
): { width: number; height: number } {
  const { scale, gap, header } = GRID;
  return {
    width: columns * cellW * scale + (columns + 1) * gap,
    height: header + rows * cellH * scale + (rows + 1) * gap,
  };
}

/** The grid PNG: row i shows files[i] with gt[i] and each column's boxes[i]. */
export async function renderPredictionGrid(
  files: readonly string[],
  gt: readonly (readonly DrawnBox[])[],
  columns: readonly GridColumn[],
): Promise<Buffer> {
  const { scale, gap, header } = GRID;
  if (files.length === 0 || columns.length === 0) throw new Error('prediction grid: no images or no columns');
  const images = await Promise.all(
    files.map((f) => decodeImage(f, (w, h) => ({ width: w * scale, height: h * scale }), 'nearest')),
  );
  const cellW = Math.max(...images.map((im) => im.width));
  const cellH = Math.max(...images.map((im) => im.height));
  const { width, height } = gridSize(files.length, columns.length, cellW / scale, cellH / scale);
  const scaled = (b: DrawnBox): DrawnBox => ({
    ...b,
    box: b.box.map((v) => v * scale) as [number, number, number, number],
  });
  const layers: OverlayOptions[] = [];
  for (const [r, image] of images.entries()) {
    for (const [c, col] of columns.entries()) {
      // the list is drawn back to front: ground truth (last) under the detections, the best detection on top
      const boxes = [...(col.boxes[r] ?? []), ...(gt[r] ?? [])].map(scaled);
      const input = await drawDetections(image, boxes);
      layers.push({ input, left: gap + c * (cellW + gap), top: header + gap + r * (cellH + gap) });
    }
  }
  const font = 14;
  const titles = columns.map(
    (col, c) =>
      `<text x="${gap + c * (cellW + gap) + cellW / 2}" y="${(header + font) / 2}" text-anchor="middle" font-family="DejaVu Sans, sans-serif" font-size="${font}" fill="#000000">${escapeXml(col.title)}</text>`,
  );
  layers.push({
    input: Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${header}">${titles.join('')}</svg>`,
    ),
    left: 0,
    top: 0,
  });
  return sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(layers)
    .removeAlpha()
    .png()
    .toBuffer();
}
