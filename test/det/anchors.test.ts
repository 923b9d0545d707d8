import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnchorGenerator, PAA_ANCHORS, levelOfAnchors } from '../../src/det/index.js';
import { assertClose } from '../helpers.js';

test('PAA anchors for 1333x800 padded to 1344x800: level sizes, counts and total 22400', () => {
  const gen = new AnchorGenerator(PAA_ANCHORS);
  const sizes = gen.featmapSizes([800, 1344]);
  assert.deepEqual(sizes, [
    [100, 168],
    [50, 84],
    [25, 42],
    [13, 21],
    [7, 11],
  ]);
  assert.deepEqual(gen.countsPerLevel(sizes), [16800, 4200, 1050, 273, 77]);
  assert.deepEqual(gen.levelStarts(sizes), [0, 16800, 21000, 22050, 22323, 22400]);
  const anchors = gen.gridAnchors(sizes);
  assert.deepEqual(anchors.shape, [22400, 4]);
  assert.equal(anchors.dtype, 'float32');
  const a = anchors.toTypedArray<'float32'>();
  const row = (i: number): number[] => Array.from(a.subarray(4 * i, 4 * i + 4));
  // Side 8·stride, centred on the cell's top-left corner; row-major (y, x).
  assert.deepEqual(row(0), [-32, -32, 32, 32]);
  assert.deepEqual(row(1), [-24, -32, 40, 32]);
  assert.deepEqual(row(168), [-32, -24, 32, 40]);
  assert.deepEqual(row(16800), [-64, -64, 64, 64]);
  assert.deepEqual(row(16800 + 84 * 2 + 3), [3 * 16 - 64, 2 * 16 - 64, 3 * 16 + 64, 2 * 16 + 64]);
  // Last anchor: P7 cell (y 6, x 10), stride 128, side 1024.
  assert.deepEqual(row(22399), [1280 - 512, 768 - 512, 1280 + 512, 768 + 512]);
  anchors.dispose();
  const lv = levelOfAnchors(gen.levelStarts(sizes));
  assert.deepEqual([lv[0], lv[16799], lv[16800], lv[22322], lv[22323], lv[22399]], [0, 0, 1, 3, 4, 4]);
});

test('several ratios and octave scales: RetinaNet base anchors, ratio-major then scale', () => {
  const gen = new AnchorGenerator({ strides: [8, 16], ratios: [0.5, 1, 2], octaveBaseScale: 4, scalesPerOctave: 3 });
  assert.equal(gen.numBaseAnchors, 9);
  assertClose(gen.scales, [4, 4 * 2 ** (1 / 3), 4 * 2 ** (2 / 3)], 1e-12);
  const base = gen.baseAnchors(0);
  // ratio 0.5 (h/w), scale 4 at stride 8: w = 32/sqrt(.5) = 45.2548, h = 32·sqrt(.5) = 22.6274.
  assertClose(base.subarray(0, 4), [-22.627417, -11.313708, 22.627417, 11.313708], 1e-6);
  // ratio 1, scale 4·2^(1/3): square of side 32·2^(1/3) = 40.3175.
  const s = 16 * 2 ** (1 / 3);
  assertClose(base.subarray(16, 20), [-s, -s, s, s], 1e-12);
  // ratio 2, largest scale: w = 32·2^(2/3)/sqrt(2), h = 32·2^(2/3)·sqrt(2).
  const w = (32 * 2 ** (2 / 3)) / Math.SQRT2;
  const h = 32 * 2 ** (2 / 3) * Math.SQRT2;
  assertClose(base.subarray(32, 36), [-w / 2, -h / 2, w / 2, h / 2], 1e-12);
  // Locations outermost, base anchors innermost.
  const grid = gen.gridAnchorsArray([
    [2, 3],
    [1, 2],
  ]);
  assert.equal(grid.length, (6 + 2) * 9 * 4);
  assertClose(grid.subarray(9 * 4, 9 * 4 + 4), [8 - 22.627417, -11.313708, 8 + 22.627417, 11.313708], 1e-5);
  assert.throws(
    () => new AnchorGenerator({ strides: [8], ratios: [1], scales: [1], octaveBaseScale: 4 }),
    /either scales or octaveBaseScale/,
  );
});

test('center offset 0.5 centres anchors on the cell centre', () => {
  const gen = new AnchorGenerator({ strides: [16], ratios: [1], scales: [2], centerOffset: 0.5 });
  const a = gen.gridAnchorsArray([[1, 2]]);
  assert.deepEqual(Array.from(a), [-8, -8, 24, 24, 8, -8, 40, 24]);
});

test("valid flags follow each image's own padded shape inside the padded batch", () => {
  const gen = new AnchorGenerator(PAA_ANCHORS);
  const sizes = gen.featmapSizes([800, 1344]);
  const flags = gen.validFlags(sizes, [
    [800, 1344],
    [640, 1024],
  ]);
  assert.deepEqual(flags.shape, [2, 22400]);
  assert.equal(flags.dtype, 'bool');
  const f = flags.toTypedArray<'bool'>();
  const first = f.subarray(0, 22400);
  const second = f.subarray(22400);
  assert.equal(
    first.reduce((s, v) => s + v, 0),
    22400,
  );
  // 640x1024: P3 80x128, P4 40x64, P5 20x32, P6 10x16, P7 5x8.
  assert.equal(
    second.reduce((s, v) => s + v, 0),
    80 * 128 + 40 * 64 + 20 * 32 + 10 * 16 + 5 * 8,
  );
  assert.equal(second[127], 1); // P3 (0, 127)
  assert.equal(second[128], 0); // P3 (0, 128)
  assert.equal(second[79 * 168], 1); // P3 (79, 0)
  assert.equal(second[80 * 168], 0); // P3 (80, 0)
  // P6 (level start 22050), grid 13x21: ceil(640/64) = 10 rows, ceil(1024/64) = 16 cols valid.
  assert.equal(second[22050 + 9 * 21 + 15], 1);
  assert.equal(second[22050 + 9 * 21 + 16], 0);
  assert.equal(second[22050 + 10 * 21], 0);
  // A non-multiple pad shape rounds up: 100 px at stride 32 covers 4 cells.
  const small = gen.validFlagsArray(gen.featmapSizes([128, 128]), [100, 128]);
  assert.equal(
    small.subarray(256 + 64, 256 + 64 + 16).reduce((s, v) => s + v, 0),
    16,
  );
  flags.dispose();
  assert.throws(() => gen.countsPerLevel([[1, 1]]), /got 1 feature-map sizes for 5 levels/);
});
