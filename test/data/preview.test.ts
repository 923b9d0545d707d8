// The dataset preview grid: its size follows the images, the scale and the grid, and each box is outlined in its
// class colour (draw.ts's palette) at the scaled position.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { readCoco } from '../../src/data/coco.js';
import { colourOf } from '../../src/data/draw.js';
import { renderPreview } from '../../src/data/preview.js';
import { tempDir, writeImage, writeJson } from './fixtures.js';

test('renderPreview draws a 2x1 grid at scale 2 with each box in its class colour', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'images'));
  const grey = (): number[] => [128, 128, 128];
  await writeImage(join(dir, 'images', 'a.png'), 20, 20, grey);
  await writeImage(join(dir, 'images', 'b.png'), 20, 20, grey);
  const ann = writeJson(dir, 'ann.json', {
    images: [
      { id: 1, file_name: 'a.png', width: 20, height: 20 },
      { id: 2, file_name: 'b.png', width: 20, height: 20 },
    ],
    categories: [
      { id: 5, name: 'first' },
      { id: 9, name: 'second' },
    ],
    annotations: [
      { id: 1, image_id: 1, category_id: 5, bbox: [4, 2, 10, 12], area: 120, iscrowd: 0 },
      { id: 2, image_id: 2, category_id: 9, bbox: [2, 4, 12, 10], area: 120, iscrowd: 0 },
    ],
  });
  const png = await renderPreview(readCoco(ann), join(dir, 'images'), { columns: 2, scale: 2 });
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const gap = 4;
  assert.deepEqual([info.width, info.height], [2 * 40 + 3 * gap, 40 + 2 * gap]);
  const at = (x: number, y: number): number[] => [...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)];
  const near = (got: number[], hex: string): boolean => {
    const want = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
    return got.every((v, i) => Math.abs(v - (want[i] as number)) <= 24);
  };
  // the left edge of each box, halfway down it (clear of the name tag); cell k starts at gap + k * (40 + gap)
  assert.ok(near(at(gap + 2 * 4, gap + 2 * (2 + 6) + 4), colourOf(0)), `box 1 edge ${at(gap + 8, gap + 20)}`);
  assert.ok(near(at(gap + 44 + 2 * 2, gap + 2 * (4 + 5) + 4), colourOf(1)), `box 2 edge ${at(gap + 48, gap + 22)}`);
  // inside a box the image shows through
  assert.ok(near(at(gap + 2 * 9, gap + 2 * 10), '#808080'));
  await assert.rejects(async () => renderPreview(readCoco(ann), join(dir, 'images'), { imageIds: [] }), /no images to preview/);
});
