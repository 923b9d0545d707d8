import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildBatch, loadSample, type SampleSpec } from '../../src/data/batch.js';
import { Rng } from '../../src/data/rng.js';
import {
  flipBoxes,
  IMAGENET_MEAN,
  IMAGENET_STD,
  mapBoxesBack,
  normalizeTables,
  padTo,
  rescaleSize,
  resizeBoxes,
  sampleScale,
  trainPipeline,
  transformBoxes,
  writeNormalizedChw,
  type ImageMeta,
  type PipelineConfig,
} from '../../src/data/transforms.js';
import { tempDir, whiteRect, writeImage } from './fixtures.js';

test('keep-ratio resize sizes follow mmcv.rescale_size', () => {
  // factor = min(1333 / long, 800 / short); size = int(side * factor + 0.5)
  assert.deepEqual(rescaleSize(640, 480, [1333, 800]), { width: 1067, height: 800, sx: 1067 / 640, sy: 800 / 480 });
  assert.deepEqual(rescaleSize(480, 640, [1333, 800]), { width: 800, height: 1067, sx: 800 / 480, sy: 1067 / 640 });
  // very wide: the long edge limits; 500 * 1333 / 2000 = 333.25 -> 333
  assert.deepEqual(rescaleSize(2000, 500, [1333, 800]), { width: 1333, height: 333, sx: 1333 / 2000, sy: 333 / 500 });
  // the order of the scale's numbers does not matter
  assert.deepEqual(rescaleSize(640, 480, [800, 1333]), rescaleSize(640, 480, [1333, 800]));
  // 160x160 canvases at (192, 160): the short edge limits, no change
  assert.deepEqual(rescaleSize(160, 160, [192, 160]), { width: 160, height: 160, sx: 1, sy: 1 });
  // downscaling, with the +0.5 rounding: 375 * (800 / 1000) = 300, 333 * 0.8 = 266.4 -> 266
  assert.deepEqual(rescaleSize(1000, 333, [1333, 800]), { width: 1333, height: 444, sx: 1333 / 1000, sy: 444 / 333 });
});

test('padding rounds each side up to the divisor', () => {
  assert.deepEqual(padTo([800, 1067], 32), [800, 1088]);
  assert.deepEqual(padTo([333, 1333], 32), [352, 1344]);
  assert.deepEqual(padTo([160, 160], 32), [160, 160]);
  assert.deepEqual(padTo([7, 9], 1), [7, 9]);
});

test('multi-scale sampling stays in the range and reaches both ends; value mode picks listed scales', () => {
  const range = trainPipeline([[1333, 640], [1333, 800]]);
  const rng = new Rng(1);
  const shorts = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const [l, s] = sampleScale(range, rng);
    assert.equal(l, 1333);
    assert.ok(s >= 640 && s <= 800, `short edge ${s}`);
    shorts.add(s);
  }
  assert.ok(shorts.has(640) && shorts.has(800), 'both ends are drawn');
  assert.ok(shorts.size > 140, `${shorts.size} distinct short edges`);
  const value = trainPipeline([[1333, 640], [1333, 800]], 'value');
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) seen.add(sampleScale(value, rng).join('x'));
  assert.deepEqual([...seen].sort(), ['1333x640', '1333x800']);
});

test('boxes are scaled and clipped, and flipped about the image width', () => {
  assert.deepEqual([...resizeBoxes([10, 20, 30, 40, 50, 0, 70, 44], 2, 0.5, 120, 20)], [20, 10, 60, 20, 100, 0, 120, 20]);
  assert.deepEqual([...flipBoxes([10, 20, 30, 40, 0, 0, 100, 5], 100)], [70, 20, 90, 40, 0, 0, 100, 5]);
});

test('resize, flip and map back round-trip to the original coordinates within 1e-4', () => {
  const rng = new Rng(7);
  const pipeline = trainPipeline([[1333, 640], [1333, 800]]);
  for (const [w, h] of [[640, 480], [427, 640], [1920, 1080], [160, 160], [333, 500]] as const) {
    for (let trial = 0; trial < 20; trial++) {
      const boxes: number[] = [];
      for (let k = 0; k < 5; k++) {
        const x1 = rng.uniform(0, w - 2);
        const y1 = rng.uniform(0, h - 2);
        boxes.push(x1, y1, rng.uniform(x1 + 1, w), rng.uniform(y1 + 1, h));
      }
      const size = rescaleSize(w, h, sampleScale(pipeline, rng));
      const flip = rng.chance(0.5);
      const t = transformBoxes(Float32Array.from(boxes), size.sx, size.sy, size.width, size.height, flip);
      // the one-step transform equals the two separate ones (up to float32 rounding)
      let two = resizeBoxes(Float32Array.from(boxes), size.sx, size.sy, size.width, size.height);
      if (flip) two = flipBoxes(two, size.width);
      for (let i = 0; i < t.length; i++) assert.ok(Math.abs((t[i] as number) - (two[i] as number)) <= 2.5e-4);
      const meta: ImageMeta = {
        imageId: 1,
        file: 'x',
        oriShape: [h, w],
        imgShape: [size.height, size.width],
        padShape: padTo([size.height, size.width], 32),
        scaleFactor: [size.sx, size.sy, size.sx, size.sy],
        flip,
      };
      const back = mapBoxesBack(t, meta);
      // targets are float32 from the start (COCO boxes become Float32Array), so compare with those values
      const original = Float32Array.from(boxes);
      for (let i = 0; i < boxes.length; i++) {
        assert.ok(Math.abs((back[i] as number) - (original[i] as number)) <= 1e-4, `${w}x${h} flip=${flip}: ${back[i]} vs ${original[i]}`);
      }
    }
  }
});

test('mapping back clips to the original image', () => {
  const meta: ImageMeta = { imageId: 1, file: 'x', oriShape: [50, 100], imgShape: [100, 200], padShape: [128, 224], scaleFactor: [2, 2, 2, 2], flip: false };
  assert.deepEqual([...mapBoxesBack([-10, 20, 210, 120], meta)], [0, 10, 100, 50]);
  assert.deepEqual([...mapBoxesBack([-10, 20, 210, 120], meta, false)], [-5, 10, 105, 60]);
});

test('normalisation writes CHW planes, mirrors when flipped, and leaves the padding at zero', () => {
  // a 2x2 image into a 3x4 block
  const src = Uint8Array.from([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110]);
  const mean = [10, 20, 30];
  const std = [2, 4, 5];
  const tables = normalizeTables(mean, std);
  const v = (x: number, c: number): number => (x - (mean[c] as number)) / (std[c] as number);
  for (const flip of [false, true]) {
    const dst = new Float32Array(2 * 3 * 3 * 4); // two images' worth; write into the second
    writeNormalizedChw(src, 2, 2, flip, tables, dst, 3 * 3 * 4, 3, 4);
    const out = dst.subarray(36);
    for (let c = 0; c < 3; c++) {
      const plane = [...out.subarray(c * 12, c * 12 + 12)];
      const p = (x: number, y: number): number => src[(y * 2 + x) * 3 + c] as number;
      const row0 = flip ? [v(p(1, 0), c), v(p(0, 0), c)] : [v(p(0, 0), c), v(p(1, 0), c)];
      const row1 = flip ? [v(p(1, 1), c), v(p(0, 1), c)] : [v(p(0, 1), c), v(p(1, 1), c)];
      const expected = [...row0, 0, 0, ...row1, 0, 0, 0, 0, 0, 0].map((x) => Math.fround(x));
      assert.deepEqual(plane, expected, `channel ${c} flip=${flip}`);
    }
    assert.ok(dst.subarray(0, 36).every((x) => x === 0), 'the first image slot is untouched');
  }
});

test('pixels and boxes stay together through resize, flip and pad', async () => {
  const dir = tempDir();
  const file = join(dir, 'rect.png');
  await writeImage(file, 60, 40, whiteRect(10, 8, 30, 20));
  const pipeline: PipelineConfig = { scales: [[150, 100]], multiscaleMode: 'value', flipProb: 1, mean: IMAGENET_MEAN, std: IMAGENET_STD, sizeDivisor: 32 };
  const spec: SampleSpec = { index: 0, imageId: 5, file, width: 60, height: 40, boxes: Float32Array.from([10, 8, 30, 20]), labels: Int32Array.from([3]), seed: 1 };
  // factor min(150/60, 100/40) = 2.5 -> 150x100; flipped: x1 = 150 - 75 = 75, x2 = 150 - 25 = 125
  const sample = await loadSample(spec, { pipeline });
  assert.deepEqual(sample.meta, { imageId: 5, file, oriShape: [40, 60], imgShape: [100, 150], padShape: [128, 160], scaleFactor: [2.5, 2.5, 2.5, 2.5], flip: true });
  assert.deepEqual([...sample.targets.boxes], [75, 20, 125, 50]);
  assert.deepEqual([...sample.targets.labels], [3]);
  const batch = await buildBatch([spec], { pipeline });
  assert.deepEqual(batch.shape, [1, 3, 128, 160]);
  // the bright pixels of the red plane (white: (255 - mean) / std > 0, black < 0) span the box
  const [, , H, W] = batch.shape;
  let x1 = W;
  let y1 = H;
  let x2 = 0;
  let y2 = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if ((batch.data[y * W + x] as number) <= 0) continue;
      x1 = Math.min(x1, x);
      y1 = Math.min(y1, y);
      x2 = Math.max(x2, x + 1);
      y2 = Math.max(y2, y + 1);
    }
  }
  assert.deepEqual([x1, y1, x2, y2], [75, 20, 125, 50]);
  // padding (right of x = 150, below y = 100) is exactly zero in every plane
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if (x >= 150 || y >= 100) assert.equal(batch.data[c * H * W + y * W + x], 0);
      }
    }
  }
});

test('an image whose size differs from the annotation file is refused, resized or not', async () => {
  const dir = tempDir();
  const file = join(dir, 'rect.png');
  await writeImage(file, 60, 40, whiteRect(10, 8, 30, 20));
  const spec: SampleSpec = { index: 0, imageId: 5, file, width: 64, height: 40, boxes: new Float32Array(0), labels: new Int32Array(0), seed: 1 };
  for (const scale of [[64, 40], [128, 80]] as const) {
    const pipeline: PipelineConfig = { scales: [scale], multiscaleMode: 'value', flipProb: 0, mean: IMAGENET_MEAN, std: IMAGENET_STD, sizeDivisor: 1 };
    await assert.rejects(loadSample(spec, { pipeline }), { message: 'image is 60x40 but the annotation file says 64x40' });
  }
});
