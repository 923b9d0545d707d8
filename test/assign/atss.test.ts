import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AtssAssigner, atssAssign, disposeAssignment } from '../../src/assign/index.js';
import { AnchorGenerator } from '../../src/det/index.js';
import { loadConfig, parseConfig } from '../../src/config/schema.js';
import { buildAssigner } from '../../src/build/model.js';
import { precheckStrategy } from '../../src/build/strategy.js';
import { memory, ones, tensor, tidy } from '../../src/torch/index.js';
import { assertClose } from '../helpers.js';
import { readFixture } from '../read_fixture.js';

const boxes = (...b: number[][]): ReturnType<typeof tensor> => tensor(b.flat(), [b.length, 4]);
const allValid = (n: number): ReturnType<typeof ones> => ones([n], { dtype: 'bool' });

/** The threshold ATSS sets from a GT's candidate IoUs: mean + unbiased standard deviation. */
function meanPlusStd(v: readonly number[]): number {
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  const variance = v.reduce((s, x) => s + (x - mean) ** 2, 0) / (v.length - 1);
  return mean + Math.sqrt(variance);
}

// Two levels: three 10 px anchors in a row, then two 20 px anchors. GT (2,0,14,10) has its centre at (8,5).
const twoLevels = [
  [0, 0, 10, 10], // a0: centre (5,5), distance 3, IoU 80/140
  [10, 0, 20, 10], // a1: centre (15,5), distance 7, IoU 40/180
  [20, 0, 30, 10], // a2: centre (25,5), distance 17, IoU 0
  [0, 0, 20, 20], // a3: centre (10,10), distance 5.39, IoU 120/400
  [20, 0, 40, 20], // a4: centre (30,10), distance 22.6, IoU 0
];
const twoLevelStarts = [0, 3, 5];
const gtA = [2, 0, 14, 10];

test("ATSS threshold: the mean + unbiased std of the per-level nearest candidates' IoUs; k shrinks to a level's anchors", () => {
  tidy(() => {
    // topk 2: a0, a1 on level 0; a3, a4 on level 1. Only a0 (4/7) reaches the threshold (~0.509).
    const k2 = atssAssign(boxes(...twoLevels), twoLevelStarts, allValid(5), boxes(gtA), { topk: 2 });
    assertClose(k2.thresholds.toArray(), [meanPlusStd([80 / 140, 40 / 180, 120 / 400, 0])], 1e-6);
    assert.deepEqual(k2.assignedGt.toArray(), [1, 0, 0, 0, 0]);
    // topk 3 takes all of level 0 but only the 2 anchors of level 1: five candidates, a lower threshold.
    const k3 = atssAssign(boxes(...twoLevels), twoLevelStarts, allValid(5), boxes(gtA), { topk: 3 });
    assertClose(k3.thresholds.toArray(), [meanPlusStd([80 / 140, 40 / 180, 0, 120 / 400, 0])], 1e-6);
    assert.deepEqual(k3.assignedGt.toArray(), [1, 0, 0, 0, 0]);
    // topk 1 keeps a0 and a3. Of two different IoUs, mean + std (half the gap times sqrt 2 above the mean) is above
    // the larger: no positive at all.
    const k1 = atssAssign(boxes(...twoLevels), twoLevelStarts, allValid(5), boxes(gtA), { topk: 1 });
    assertClose(k1.thresholds.toArray(), [meanPlusStd([80 / 140, 120 / 400])], 1e-6);
    assert.ok(k1.thresholds.item() > 80 / 140);
    assert.deepEqual(k1.assignedGt.toArray(), [0, 0, 0, 0, 0]);
  });
});

test('ATSS invalid anchors: never candidates, not counted on their level, ignored; no GT; a single candidate', () => {
  tidy(() => {
    // a1 invalid: level 0's two nearest valid anchors are a0 and a2.
    const valid = tensor([true, false, true, true, true]);
    const r = atssAssign(boxes(...twoLevels), twoLevelStarts, valid, boxes(gtA), { topk: 2 });
    assertClose(r.thresholds.toArray(), [meanPlusStd([80 / 140, 0, 120 / 400, 0])], 1e-6);
    assert.deepEqual(r.assignedGt.toArray(), [1, -1, 0, 0, 0]);
    // A level without valid anchors adds no candidate; topk above the valid count takes what there is.
    const noLevel1 = tensor([true, true, true, false, false]);
    const r1 = atssAssign(boxes(...twoLevels), twoLevelStarts, noLevel1, boxes(gtA), { topk: 9 });
    assertClose(r1.thresholds.toArray(), [meanPlusStd([80 / 140, 40 / 180, 0])], 1e-6);
    assert.deepEqual(r1.assignedGt.toArray(), [1, 0, 0, -1, -1]);
    // No GT: valid anchors negative, invalid ignored.
    const none = atssAssign(boxes(...twoLevels), twoLevelStarts, valid, tensor(new Float32Array(0), [0, 4]), {
      topk: 2,
    });
    assert.deepEqual(none.assignedGt.toArray(), [0, -1, 0, 0, 0]);
    assert.equal(none.thresholds.numel, 0);
    // One candidate in all has no standard deviation: no positive (upstream's threshold is NaN), even at IoU 1.
    const single = atssAssign(boxes([0, 0, 10, 10]), [0, 1], allValid(1), boxes([0, 0, 10, 10]), { topk: 9 });
    assert.deepEqual(single.assignedGt.toArray(), [0]);
    assert.ok(Number.isNaN(single.thresholds.toArray()[0]));
  });
});

// One level: two 10 px anchors side by side and four far ones (IoU 0) that pull the threshold down.
const row = [
  [0, 0, 10, 10],
  [10, 0, 20, 10],
  [200, 200, 210, 210],
  [220, 200, 230, 210],
  [240, 200, 250, 210],
  [260, 200, 270, 210],
];
const rowStarts = [0, 6];

test('ATSS centre rule: a candidate over the threshold whose centre is within 0.01 of a GT side is negative', () => {
  tidy(() => {
    // GT (4.995,0,15.5,10): a0 (IoU .323) and a1 (IoU .367) both reach the threshold (~.293), but a0's centre x = 5
    // lies only 0.005 inside the GT's left side.
    const near = atssAssign(boxes(...row), rowStarts, allValid(6), boxes([4.995, 0, 15.5, 10]), { topk: 6 });
    const iou0 = (5.005 * 10) / (100 + 105.05 - 50.05);
    const iou1 = 55 / (100 + 105.05 - 55);
    assertClose(near.thresholds.toArray(), [meanPlusStd([iou0, iou1, 0, 0, 0, 0])], 1e-5);
    assert.ok(iou0 >= meanPlusStd([iou0, iou1, 0, 0, 0, 0]));
    assert.deepEqual(near.assignedGt.toArray(), [0, 1, 0, 0, 0, 0]);
    // 0.02 inside: both positive.
    const inside = atssAssign(boxes(...row), rowStarts, allValid(6), boxes([4.98, 0, 15.5, 10]), { topk: 6 });
    assert.deepEqual(inside.assignedGt.toArray(), [1, 1, 0, 0, 0, 0]);
  });
});

test('ATSS between GTs: an anchor positive for two GTs takes the higher IoU, the lower GT index among equals', () => {
  tidy(() => {
    // a0 is positive for g0 (0,0,12,10) at IoU 100/120 and for g1 (1,0,10,10) at IoU 0.9: g1 wins. a1 (IoU .1
    // with g0) stays under g0's threshold.
    const r = atssAssign(boxes(...row), rowStarts, allValid(6), boxes([0, 0, 12, 10], [1, 0, 10, 10]), { topk: 6 });
    assertClose(
      r.thresholds.toArray(),
      [meanPlusStd([100 / 120, 20 / 200, 0, 0, 0, 0]), meanPlusStd([0.9, 0, 0, 0, 0, 0])],
      1e-6,
    );
    assert.deepEqual(r.assignedGt.toArray(), [2, 0, 0, 0, 0, 0]);
    // The order of the GTs does not matter when the IoUs differ.
    const swapped = atssAssign(boxes(...row), rowStarts, allValid(6), boxes([1, 0, 10, 10], [0, 0, 12, 10]), {
      topk: 6,
    });
    assert.deepEqual(swapped.assignedGt.toArray(), [1, 0, 0, 0, 0, 0]);
    // (0,0,12,10) and (0,0,10,12) both meet a0 at exactly 100/120: the first GT listed gets it, in either order.
    const tie = atssAssign(boxes(...row), rowStarts, allValid(6), boxes([0, 0, 12, 10], [0, 0, 10, 12]), { topk: 6 });
    assert.deepEqual(tie.assignedGt.toArray(), [1, 0, 0, 0, 0, 0]);
    const tieSwapped = atssAssign(boxes(...row), rowStarts, allValid(6), boxes([0, 0, 10, 12], [0, 0, 12, 10]), {
      topk: 6,
    });
    assert.deepEqual(tieSwapped.assignedGt.toArray(), [1, 0, 0, 0, 0, 0]);
  });
});

test('AtssAssigner builds a batch-flattened Assignment (labels, ignored invalid anchors) without leaking tensors', () => {
  const before = memory().numTensors;
  const a = tidy(() =>
    new AtssAssigner({ topk: 2 }).assign(
      {
        anchors: boxes(...twoLevels),
        levelStarts: twoLevelStarts,
        validFlags: tensor([true, true, true, true, true, true, false, true, true, true], [2, 5]),
        gtBoxes: [boxes(gtA), boxes(gtA, [21, 1, 39, 19])],
        gtLabels: [tensor(BigInt64Array.from([3n])), tensor(BigInt64Array.from([1n, 2n]))],
        numClasses: 4,
      },
      null,
    ),
  );
  // Image 0: a0 -> gtA. Image 1 (a1 invalid): a0 -> gtA (its GT 0); (21,1,39,19) is a4's box nearly: a4 -> its GT 1.
  assert.deepEqual(a.posInds.toArray(), [0, 5, 9]);
  assert.deepEqual(a.posGtInds.toArray(), [0, 1, 2]);
  assert.deepEqual(a.labels.toArray(), [3, 4, 4, 4, 4, 1, 4, 4, 4, 2]);
  assert.deepEqual(a.labelWeights.toArray(), [1, 1, 1, 1, 1, 1, 0, 1, 1, 1]);
  assert.equal(a.numPos, 3);
  assertClose(Array.from(a.bboxTargets.toArray()).slice(36, 40), [21, 1, 39, 19]);
  disposeAssignment(a);
  assert.equal(memory().numTensors, before);
  assert.throws(
    () => atssAssign(boxes(...twoLevels), twoLevelStarts, allValid(5), boxes(gtA), { topk: 0 }),
    /atss: topk must be a positive integer/,
  );
});

interface AtssFixture {
  topk: number;
  strides: number[];
  octave_base_scale: number;
  batch_pad_shape: [number, number];
  level_starts: number[];
  anchors: number[][];
  images: {
    pad_shape: [number, number];
    valid: boolean[];
    gt_boxes: number[][];
    gt_labels: number[];
    assigned_gt: number[];
    thresholds: number[];
    num_pos: number;
  }[];
}

test('ATSS matches the recorded torch reference (test/assign/fixtures/make_atss_fixture.py) on a 128 px batch, 5 levels', () => {
  const fx = readFixture<AtssFixture>('assign/fixtures/atss_torch.json');
  const before = memory().numTensors;
  tidy(() => {
    // The recorded anchors and valid flags are ladet's own grid for these settings.
    const gen = new AnchorGenerator({
      strides: fx.strides,
      ratios: [1],
      octaveBaseScale: fx.octave_base_scale,
      scalesPerOctave: 1,
      centerOffset: 0,
    });
    const sizes = gen.featmapSizes(fx.batch_pad_shape);
    const anchors = boxes(...fx.anchors);
    assert.deepEqual(gen.levelStarts(sizes), fx.level_starts);
    assert.ok(gen.gridAnchors(sizes).equal(anchors));
    const validFlags = gen.validFlags(
      sizes,
      fx.images.map((im) => im.pad_shape),
    );
    assert.deepEqual(
      Array.from(validFlags.toArray(), Boolean),
      fx.images.flatMap((im) => im.valid),
    );

    fx.images.forEach((im, i) => {
      const r = atssAssign(anchors, fx.level_starts, validFlags.select(0, i), boxes(...im.gt_boxes), { topk: fx.topk });
      assert.deepEqual(r.assignedGt.toArray(), im.assigned_gt, `image ${i}`);
      assertClose(r.thresholds.toArray(), im.thresholds, 1e-6, `image ${i} thresholds`);
    });

    const a = new AtssAssigner({ topk: fx.topk }).assign(
      {
        anchors,
        levelStarts: fx.level_starts,
        validFlags,
        gtBoxes: fx.images.map((im) => boxes(...im.gt_boxes)),
        gtLabels: fx.images.map((im) => tensor(BigInt64Array.from(im.gt_labels, BigInt))),
        numClasses: 10,
      },
      null,
    );
    const n = fx.anchors.length;
    const expectedPos: number[] = [];
    const expectedGt: number[] = [];
    let gtOffset = 0;
    fx.images.forEach((im, i) => {
      im.assigned_gt.forEach((g, j) => {
        if (g > 0) {
          expectedPos.push(i * n + j);
          expectedGt.push(gtOffset + g - 1);
        }
      });
      gtOffset += im.gt_boxes.length;
    });
    assert.equal(
      a.numPos,
      fx.images.reduce((s, im) => s + im.num_pos, 0),
    );
    assert.deepEqual(a.posInds.toArray(), expectedPos);
    assert.deepEqual(a.posGtInds.toArray(), expectedGt);
    assert.deepEqual(
      Array.from(a.labelWeights.toArray()),
      fx.images.flatMap((im) => im.valid.map(Number)),
    );
    disposeAssignment(a);
  });
  assert.equal(memory().numTensors, before);
});

const minimal = { name: 'x', data: { root: 'd' }, model: { backbone: { depth: 18 } } };

test('assigner.type atss: topk defaults to 9, buildAssigner makes it; existing assigners resolve to the same keys as before', () => {
  const c = parseConfig({ ...minimal, assigner: { type: 'atss' } });
  assert.deepEqual(c.assigner, { type: 'atss', topk: 9 });
  assert.ok(buildAssigner(c) instanceof AtssAssigner);
  assert.deepEqual(parseConfig(minimal).assigner, { type: 'paa', topk: 9, preAssignIou: 0.1 });
  assert.deepEqual(parseConfig({ ...minimal, assigner: { type: 'maxiou' } }).assigner, {
    type: 'maxiou',
    posIouThr: 0.5,
    negIouThr: 0.4,
  });
  assert.throws(
    () => parseConfig({ ...minimal, assigner: { type: 'atss', topk: 0 } }, 'a.yaml'),
    /a\.yaml: assigner\.topk/,
  );
  assert.throws(
    () => parseConfig({ ...minimal, assigner: { type: 'atss', posIouThr: 0.5 } }, 'a.yaml'),
    /a\.yaml: unknown key assigner\.posIouThr/,
  );
  const preset = loadConfig('configs/atss_r18_fashion_mini.yaml');
  const paa = loadConfig('configs/paa_r18_fashion_mini.yaml');
  assert.deepEqual({ ...preset, name: paa.name, assigner: paa.assigner }, paa);
});

test('lad, solad and colad refuse a geometry-only assigner (atss, maxiou) at config validation; self and kd take it', () => {
  const teacher = { config: 'configs/paa_r18_fashion_mini.yaml', weights: 'nowhere.safetensors' };
  for (const type of ['atss', 'maxiou']) {
    for (const strategy of ['lad', 'solad', 'colad']) {
      const raw = {
        ...minimal,
        assigner: { type },
        distill: { strategy, ...(strategy === 'colad' ? {} : { teacher }) },
      };
      const message = new RegExp(
        `^UsageError: a\\.yaml: assigner\\.type: '${type}' reads only geometry \\(anchors and GT boxes\\), so a teacher would assign exactly ` +
          `what the student assigns itself; distill\\.strategy '${strategy}' needs an assigner that reads network outputs \\(assigner\\.type: paa\\)$`,
      );
      assert.throws(() => parseConfig(raw, 'a.yaml'), message);
      // A config put together in code without parseConfig meets the same words before anything is made.
      const built = {
        ...parseConfig({ ...minimal, distill: raw.distill }),
        assigner: parseConfig({ ...minimal, assigner: { type } }).assigner,
      };
      assert.throws(
        () => precheckStrategy(built),
        /reads only geometry .* a teacher would assign exactly what the student assigns itself/,
      );
    }
    assert.equal(parseConfig({ ...minimal, assigner: { type }, distill: { strategy: 'self' } }).assigner.type, type);
    assert.equal(
      parseConfig({ ...minimal, assigner: { type }, distill: { strategy: 'kd', teacher } }).distill.strategy,
      'kd',
    );
  }
});

test('ladet train refuses lad with atss before writing anything', () => {
  const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const runs = join(mkdtempSync(join(tmpdir(), 'ladet-atss-')), 'runs');
  const r = spawnSync(
    process.execPath,
    [main, 'train', 'configs/atss_r18_fashion_mini.yaml', 'distill.strategy=lad', `runsDir=${runs}`],
    { encoding: 'utf8' },
  );
  assert.notEqual(r.status, 0);
  assert.match(
    r.stderr,
    /configs\/atss_r18_fashion_mini\.yaml: assigner\.type: 'atss' reads only geometry .* distill\.strategy 'lad'/,
  );
  assert.equal(existsSync(runs), false);
});
