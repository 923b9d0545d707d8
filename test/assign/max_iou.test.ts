import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MaxIoUAssigner,
  PAA_PRE_ASSIGN,
  RETINA_ASSIGN,
  disposeAssignment,
  maxIouAssign,
} from '../../src/assign/index.js';
import { memory, ones, tensor, tidy } from '../../src/torch/index.js';
import { assertClose } from '../helpers.js';

const boxes = (...b: number[][]): ReturnType<typeof tensor> => tensor(b.flat(), [b.length, 4]);

// a0 (0,0,10,10) is g0's exact box and g1's best anchor (IoU .2); a3 overlaps g0 by .16; a4 by .45.
const anchors = [
  [0, 0, 10, 10],
  [20, 0, 30, 10],
  [100, 100, 110, 110],
  [0, 0, 4, 4],
  [0, 0, 10, 4.5],
];
const gts = [
  [0, 0, 10, 10],
  [0, 5, 10, 25],
];

test('PAA pre-assignment (0.1 / 0.1): candidates of the best GT, low-quality pass in GT order (later GT wins)', () => {
  tidy(() => {
    const r = maxIouAssign(boxes(...anchors), ones([5], { dtype: 'bool' }), boxes(...gts), PAA_PRE_ASSIGN);
    // a0's best GT is g0 (IoU 1), but g1 re-claims its own best anchor after g0 did: a0 -> g1.
    assert.deepEqual(r.assignedGt.toArray(), [2, 0, 0, 1, 1]);
    assertClose(r.maxOverlaps.toArray(), [1, 0, 0, 0.16, 0.45], 1e-6);
    // Without the low-quality pass a0 stays with its arg-max GT.
    const plain = maxIouAssign(boxes(...anchors), ones([5], { dtype: 'bool' }), boxes(...gts), {
      ...PAA_PRE_ASSIGN,
      matchLowQuality: false,
    });
    assert.deepEqual(plain.assignedGt.toArray(), [1, 0, 0, 1, 1]);
    // Swapping the GT order swaps the winner: now g0 (the old g1) claims a0 first and the exact box takes it back.
    const swapped = maxIouAssign(
      boxes(...anchors),
      ones([5], { dtype: 'bool' }),
      boxes(gts[1]!, gts[0]!),
      PAA_PRE_ASSIGN,
    );
    assert.deepEqual(swapped.assignedGt.toArray(), [2, 0, 0, 2, 2]);
  });
});

test("RetinaNet assignment (0.5 / 0.4): ignore band, ties at a GT's best IoU, min_pos_iou, invalid anchors", () => {
  tidy(() => {
    const r = maxIouAssign(boxes(...anchors), ones([5], { dtype: 'bool' }), boxes(...gts), RETINA_ASSIGN);
    // a3 (.16) negative, a4 (.45) ignored, a0 low-quality match of g1.
    assert.deepEqual(r.assignedGt.toArray(), [2, 0, 0, 0, -1]);
    // A 30x10 GT meets two anchors at IoU 1/3 each: both get it (gt_max_assign_all), or only the first.
    const tieAnchors = boxes([200, 200, 210, 210], [220, 200, 230, 210], [0, 0, 1, 1]);
    const tieGt = boxes([200, 200, 230, 210]);
    const valid = ones([3], { dtype: 'bool' });
    assert.deepEqual(maxIouAssign(tieAnchors, valid, tieGt, RETINA_ASSIGN).assignedGt.toArray(), [1, 1, 0]);
    assert.deepEqual(
      maxIouAssign(tieAnchors, valid, tieGt, { ...RETINA_ASSIGN, gtMaxAssignAll: false }).assignedGt.toArray(),
      [1, 0, 0],
    );
    // min_pos_iou 0 lets a GT that overlaps nothing grab every anchor at its (zero) best IoU, as upstream.
    const far = boxes([500, 500, 510, 510]);
    assert.deepEqual(maxIouAssign(tieAnchors, valid, far, RETINA_ASSIGN).assignedGt.toArray(), [1, 1, 1]);
    assert.deepEqual(
      maxIouAssign(tieAnchors, valid, far, { ...RETINA_ASSIGN, minPosIou: 0.1 }).assignedGt.toArray(),
      [0, 0, 0],
    );
    // An invalid anchor is ignored and does not count toward the GT's best IoU.
    const inv = maxIouAssign(
      boxes([0, 0, 10, 10], [0, 5, 10, 15]),
      tensor([false, true]),
      boxes([0, 0, 10, 10]),
      RETINA_ASSIGN,
    );
    assert.deepEqual(inv.assignedGt.toArray(), [-1, 1]);
    assertClose(inv.maxOverlaps.toArray(), [-1, 50 / 150], 1e-6);
    // No GT: valid anchors negative, invalid ignored.
    const none = maxIouAssign(
      boxes([0, 0, 1, 1], [1, 1, 2, 2]),
      tensor([true, false]),
      tensor(new Float32Array(0), [0, 4]),
      RETINA_ASSIGN,
    );
    assert.deepEqual(none.assignedGt.toArray(), [0, -1]);
  });
});

test('MaxIoUAssigner builds a batch-flattened Assignment', () => {
  const before = memory().numTensors;
  const a = tidy(() =>
    new MaxIoUAssigner(RETINA_ASSIGN).assign(
      {
        anchors: boxes(...anchors),
        levelStarts: [0, 3, 5],
        validFlags: tensor([true, true, true, true, true, true, true, true, false, true], [2, 5]),
        gtBoxes: [boxes(...gts), boxes([100, 100, 110, 110], [0, 0, 10, 5])],
        gtLabels: [tensor(BigInt64Array.from([3n, 1n])), tensor(BigInt64Array.from([2n, 0n]))],
        numClasses: 4,
      },
      null,
    ),
  );
  // Image 0: a0 -> g1 (class 1), a4 ignored. Image 1: a2 -> its g0 (class 2), a4 (0,0,10,4.5) has IoU .9 with its
  // g1 (class 0); a3 is invalid; a0 has IoU .5 with g1 -> positive.
  assert.deepEqual(a.posInds.toArray(), [0, 5, 7, 9]);
  assert.deepEqual(a.posGtInds.toArray(), [1, 3, 2, 3]);
  assert.equal(a.numPos, 4);
  assert.deepEqual(a.labels.toArray(), [1, 4, 4, 4, 4, 0, 4, 2, 4, 0]);
  assert.deepEqual(a.labelWeights.toArray(), [1, 1, 1, 1, 0, 1, 1, 1, 0, 1]);
  assert.deepEqual(a.bboxTargets.shape, [10, 4]);
  assert.deepEqual(a.bboxTargets.toArray().slice(0, 8), [0, 5, 10, 25, 0, 0, 0, 0]);
  assert.deepEqual(a.bboxTargets.toArray().slice(28, 32), [100, 100, 110, 110]);
  assert.deepEqual([a.numImages, a.anchorsPerImage, a.numClasses], [2, 5, 4]);
  disposeAssignment(a);
  assert.equal(memory().numTensors, before);
});

test('assigner input errors name the field', () => {
  tidy(() => {
    const base = {
      anchors: boxes(...anchors),
      levelStarts: [0, 5],
      validFlags: ones([1, 5], { dtype: 'bool' }),
      gtBoxes: [boxes(...gts)],
      gtLabels: [tensor(BigInt64Array.from([0n, 1n]))],
      numClasses: 2,
    };
    const asg = new MaxIoUAssigner();
    assert.throws(
      () => asg.assign({ ...base, validFlags: ones([2, 5], { dtype: 'bool' }) }, null),
      /validFlags must be \(1, 5\), got \[2, 5\]/,
    );
    assert.throws(
      () => asg.assign({ ...base, gtLabels: [tensor(BigInt64Array.from([0n, 2n]))] }, null),
      /gtLabels\[0\] has class 2 outside 0..1/,
    );
    assert.throws(
      () => asg.assign({ ...base, levelStarts: [0, 4] }, null),
      /levelStarts ends at 4, anchors has 5 rows/,
    );
    assert.throws(
      () => asg.assign({ ...base, gtLabels: [tensor(BigInt64Array.from([0n]))] }, null),
      /gtLabels\[0\] has 1 entries, gtBoxes\[0\] 2/,
    );
  });
});
