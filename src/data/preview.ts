// A preview picture of a COCO dataset: a grid of images with their boxes and class names drawn (an SVG overlay
// composited by sharp). Used for the sample in docs/datasets.md and by `ladet data preview`.
import sharp, { type OverlayOptions } from 'sharp';
import { imagePath, type CocoDataset } from './coco.js';
import { colourOf, escapeXml } from './draw.js';

export interface PreviewOptions {
  /** Images to show (the first ones of the dataset unless `imageIds` is given). */
  count?: number;
  imageIds?: readonly number[];
  /** Grid columns. */
  columns?: number;
  /** Each image is shown at `scale` times its size (nearest neighbour, so pixels stay crisp). */
  scale?: number;
}

/** A PNG of a grid of the dataset's images with boxes and class names. */
export async function renderPreview(dataset: CocoDataset, imageDir: string, opts: PreviewOptions = {}): Promise<Buffer> {
  const scale = opts.scale ?? 2;
  const ids = opts.imageIds ?? dataset.images.slice(0, opts.count ?? 8).map((im) => im.id);
  if (ids.length === 0) throw new Error(`${dataset.file}: no images to preview`);
  const images = ids.map((id) => dataset.image(id));
  const columns = Math.min(opts.columns ?? 4, images.length);
  const cellW = Math.max(...images.map((im) => im.width)) * scale;
  const cellH = Math.max(...images.map((im) => im.height)) * scale;
  const gap = 4;
  const rows = Math.ceil(images.length / columns);
  const width = columns * cellW + (columns + 1) * gap;
  const height = rows * cellH + (rows + 1) * gap;

  const layers: OverlayOptions[] = [];
  const svg: string[] = [];
  for (let k = 0; k < images.length; k++) {
    const im = images[k]!;
    const left = gap + (k % columns) * (cellW + gap);
    const top = gap + Math.floor(k / columns) * (cellH + gap);
    const pixels = await sharp(imagePath(imageDir, im))
      .autoOrient()
      .resize(im.width * scale, im.height * scale, { kernel: 'nearest' })
      .removeAlpha()
      .png()
      .toBuffer();
    layers.push({ input: pixels, left, top });
    for (const a of dataset.annotationsOf(im.id)) {
      const label = dataset.labels.label(a.categoryId);
      const colour = colourOf(label);
      const [x, y, w, h] = a.bbox.map((v) => v * scale) as [number, number, number, number];
      const name = escapeXml(dataset.labels.names[label] ?? String(a.categoryId));
      svg.push(
        `<rect x="${left + x + 0.5}" y="${top + y + 0.5}" width="${w - 1}" height="${h - 1}" fill="none" stroke="${colour}" stroke-width="1.5"${a.iscrowd ? ' stroke-dasharray="3,2"' : ''}/>`,
        `<text x="${left + x + 2}" y="${top + y + 9}" font-family="DejaVu Sans, sans-serif" font-size="9" fill="${colour}" stroke="black" stroke-width="2" paint-order="stroke">${name}</text>`,
      );
    }
  }
  const overlay = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${svg.join('')}</svg>`);
  layers.push({ input: overlay, left: 0, top: 0 });
  return sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(layers)
    .png({ palette: true, quality: 90, compressionLevel: 9 }) // a preview: a palette keeps the file small
    .toBuffer();
}
