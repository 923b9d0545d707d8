// Detections drawn on an image: boxes and "class score" tags as an SVG overlay that sharp (librsvg) renders and
// composites, so text needs no font code here. Output is a PNG of the image's own size. Ground truth can be drawn
// apart (a fixed colour, dashed, no tag).
import sharp from 'sharp';
import type { RgbImage } from './image.js';

export interface DrawnBox {
  /** x1, y1, x2, y2 in the image's pixels */
  box: readonly [number, number, number, number];
  /** picks the colour (class index) */
  label: number;
  /** the tag, e.g. "Dress 0.87"; '' draws the box alone */
  text: string;
  /** a fixed #rrggbb colour instead of the class colour (e.g. ground truth drawn apart from detections) */
  colour?: string;
  /** a dashed outline */
  dashed?: boolean;
}

// 20 distinguishable colours (Sasha Trubetskoy's list), by class index
const PALETTE = [
  '#e6194b', '#3cb44b', '#ffe119', '#4363d8', '#f58231', '#911eb4', '#46f0f0', '#f032e6', '#bcf60c', '#fabebe',
  '#008080', '#e6beff', '#9a6324', '#fffac8', '#800000', '#aaffc3', '#808000', '#ffd8b1', '#000075', '#808080',
];

export function colourOf(label: number): string {
  return PALETTE[((label % PALETTE.length) + PALETTE.length) % PALETTE.length] as string;
}

/** The overlay for an image of width x height: one rect per box and a filled tag above it (inside when no room). */
export function detectionsSvg(width: number, height: number, boxes: readonly DrawnBox[]): string {
  const side = Math.max(width, height);
  const line = Math.max(1.5, side / 320);
  const font = Math.max(9, Math.round(side / 45));
  const parts: string[] = [];
  // lowest score last would hide the best tags; callers pass boxes best first, so draw in reverse
  for (const b of [...boxes].reverse()) {
    const [x1, y1, x2, y2] = b.box.map((v) => round(v)) as [number, number, number, number];
    const colour = b.colour ?? colourOf(b.label);
    const dash = b.dashed ? ` stroke-dasharray="${round(3 * line)},${round(2 * line)}"` : '';
    parts.push(`<rect x="${x1}" y="${y1}" width="${round(x2 - x1)}" height="${round(y2 - y1)}" fill="none" stroke="${colour}" stroke-width="${round(line)}"${dash}/>`);
    if (b.text === '') continue;
    const tagH = font + 4;
    // DejaVu Sans advances about 0.6 em per character on average
    const tagW = Math.min(width, Math.ceil(b.text.length * font * 0.6) + 6);
    const tagX = round(Math.max(0, Math.min(x1, width - tagW)));
    const tagY = y1 >= tagH ? round(y1 - tagH) : round(Math.min(y1, height - tagH));
    parts.push(
      `<rect x="${tagX}" y="${tagY}" width="${tagW}" height="${tagH}" fill="${colour}" fill-opacity="0.85"/>`,
      `<text x="${round(tagX + 3)}" y="${round(tagY + font)}" font-family="DejaVu Sans, sans-serif" font-size="${font}" fill="${textColour(colour)}">${escapeXml(b.text)}</text>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

/** A PNG of `image` with the boxes drawn. */
export async function drawDetections(image: RgbImage, boxes: readonly DrawnBox[]): Promise<Buffer> {
  const raw = { width: image.width, height: image.height, channels: 3 as const };
  return sharp(image.data, { raw })
    .composite([{ input: Buffer.from(detectionsSvg(image.width, image.height, boxes)), left: 0, top: 0 }])
    .removeAlpha()
    .png()
    .toBuffer();
}

/** Black text on light colours, white on dark (relative luminance). */
function textColour(hex: string): string {
  const v = Number.parseInt(hex.slice(1), 16);
  const lum = 0.2126 * ((v >> 16) & 255) + 0.7152 * ((v >> 8) & 255) + 0.0722 * (v & 255);
  return lum > 150 ? '#000000' : '#ffffff';
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}
