// Shared helpers of the data tests: temporary folders, small COCO files and images written on the fly.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

/** A fresh temporary folder, removed when the process exits. */
export function tempDir(prefix = 'ladet-data-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeJson(dir: string, name: string, value: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

/** RGB pixels from a function of (x, y) -> [r, g, b]. */
export function pixels(width: number, height: number, f: (x: number, y: number) => readonly number[]): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = f(x, y);
      out.set([c[0] ?? 0, c[1] ?? 0, c[2] ?? 0], (y * width + x) * 3);
    }
  }
  return out;
}

/** Writes an RGB image (PNG or JPEG by extension). */
export async function writeImage(file: string, width: number, height: number, f: (x: number, y: number) => readonly number[]): Promise<void> {
  const img = sharp(Buffer.from(pixels(width, height, f)), { raw: { width, height, channels: 3 } });
  await (file.endsWith('.jpg') ? img.jpeg({ quality: 95 }) : img.png()).toFile(file);
}

/** A black image with a white rectangle [x1, x2) x [y1, y2). */
export function whiteRect(x1: number, y1: number, x2: number, y2: number): (x: number, y: number) => number[] {
  return (x, y) => (x >= x1 && x < x2 && y >= y1 && y < y2 ? [255, 255, 255] : [0, 0, 0]);
}

export interface CocoLike {
  images: Record<string, unknown>[];
  annotations: Record<string, unknown>[];
  categories: Record<string, unknown>[];
}

/** A small valid COCO object: two 64x48 images, categories with ids 7 and 3, three boxes (one crowd). */
export function smallCoco(): CocoLike {
  return {
    images: [
      { id: 1, file_name: 'a.png', width: 64, height: 48 },
      { id: 2, file_name: 'b.png', width: 64, height: 48 },
    ],
    annotations: [
      { id: 10, image_id: 1, category_id: 7, bbox: [4, 6, 20, 10], area: 200, iscrowd: 0 },
      { id: 11, image_id: 1, category_id: 3, bbox: [30, 20, 16, 12], area: 192, iscrowd: 0 },
      { id: 12, image_id: 2, category_id: 3, bbox: [0, 0, 30, 30], area: 900, iscrowd: 1 },
    ],
    categories: [
      { id: 7, name: 'seven' },
      { id: 3, name: 'three' },
    ],
  };
}
