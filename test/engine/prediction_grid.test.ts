// The demo's predictions picture: cells where the layout says, ground truth and detections drawn in their cells.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { GRID, GT_COLOUR, gridSize, renderPredictionGrid } from '../../src/engine/prediction_grid.js';

test('renderPredictionGrid: one row per image, one column per detector, boxes scaled into their cells', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-grid-'));
  try {
    // two grey images of different shapes: the cell is the larger of each side, enlarged GRID.scale times
    const files = [join(dir, 'a.png'), join(dir, 'b.png')];
    await sharp({ create: { width: 96, height: 64, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .png()
      .toFile(files[0]!);
    await sharp({ create: { width: 64, height: 96, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .png()
      .toFile(files[1]!);
    const gt = [[{ box: [10, 10, 40, 30] as const, label: 0, text: '', colour: GT_COLOUR, dashed: true }], []];
    const det = { box: [50, 20, 90, 60] as const, label: 0, text: 'a 0.90' };
    const png = await renderPredictionGrid(files, gt, [
      { title: 'first', boxes: [[det], []] },
      { title: 'second', boxes: [[], []] },
    ]);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const { scale, gap, header } = GRID;
    assert.deepEqual(gridSize(2, 2, 96, 96), {
      width: 2 * 96 * scale + 3 * gap,
      height: header + 2 * 96 * scale + 3 * gap,
    });
    assert.deepEqual(
      [info.format, info.width, info.height, info.channels],
      ['raw', 2 * 192 + 3 * gap, header + 2 * 192 + 3 * gap, 3],
    );
    const px = (x: number, y: number): number[] => [
      ...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3),
    ];
    const cell = (r: number, c: number): [number, number] => [gap + c * (192 + gap), header + gap + r * (192 + gap)];
    const white = (p: number[]): boolean => p.every((v) => v > 190);
    for (const c of [0, 1]) {
      const [x, y] = cell(0, c);
      // the ground truth's top edge (y 10 -> 20 px into the cell), 2 px into its first dash: white in both columns
      assert.ok(white(px(x + 22, y + 20)), `column ${c}: gt edge ${px(x + 22, y + 20)}`);
      assert.deepEqual(px(x + 60, y + 50), [128, 128, 128], `column ${c}: inside the image, away from boxes`);
    }
    // the detection (left edge x 50 -> 100 px) only in the first column, in its class colour (#e6194b)
    const [x0, y0] = cell(0, 0);
    const [r, g, b] = px(x0 + 100, y0 + 100) as [number, number, number];
    assert.ok(r > 190 && g < 90 && b < 120, `detection edge ${[r, g, b]}`);
    const [x1, y1] = cell(0, 1);
    assert.deepEqual(px(x1 + 100, y1 + 100), [128, 128, 128], 'no detection in the second column');
    // the narrow second image fills 128 of the cell's 192 px; the rest is the white background
    const [x2, y2] = cell(1, 0);
    assert.deepEqual(px(x2 + 60, y2 + 60), [128, 128, 128]);
    assert.deepEqual(px(x2 + 160, y2 + 60), [255, 255, 255]);
    // the titles are drawn in the header band
    let dark = 0;
    for (let y = 0; y < header; y++) for (let x = 0; x < info.width; x++) if ((px(x, y)[0] as number) < 100) dark++;
    assert.ok(dark > 20, `only ${dark} dark pixels in the title row`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
