import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchedNms, nms, nmsArrays } from '../../src/det/index.js';
import { tensor, tidy } from '../../src/torch/index.js';
import { readFixture } from '../read_fixture.js';

test('NMS hand case: class-aware, strict threshold, ties by index, score order', () => {
  const boxes = [
    0,
    0,
    10,
    10, // 0: s .9 c0
    1,
    1,
    11,
    11, // 1: s .8 c0, IoU 81/119 = .68 with 0
    1,
    1,
    11,
    11, // 2: s .85 c1
    20,
    20,
    30,
    30, // 3: s .7 c0
    0,
    0,
    10,
    10, // 4: s .9 c0, duplicate of 0 (tie: 0 visited first)
  ];
  const scores = [0.9, 0.8, 0.85, 0.7, 0.9];
  const classes = [0, 0, 1, 0, 0];
  assert.deepEqual(Array.from(nmsArrays(boxes, scores, classes, 0.6)), [0, 2, 3]);
  assert.deepEqual(Array.from(nmsArrays(boxes, scores, null, 0.6)), [0, 3]);
  // IoU .68 is not > .7: box 1 survives; the duplicate (IoU 1) never does.
  assert.deepEqual(Array.from(nmsArrays(boxes, scores, classes, 0.7)), [0, 2, 1, 3]);
  // Exactly at the threshold (IoU 1/3) both are kept: suppression needs IoU > thr.
  assert.deepEqual(Array.from(nmsArrays([0, 0, 2, 1, 1, 0, 3, 1], [0.5, 0.6], null, 1 / 3)), [1, 0]);
  assert.deepEqual(Array.from(nmsArrays([0, 0, 2, 1, 1, 0, 3, 1], [0.5, 0.6], null, 0.3)), [1]);
  // float32 scores take the packed-key sort: negative scores, zero and ties still order by (score desc, index).
  const far = Array.from({ length: 5 }, (_, i) => [10 * i, 0, 10 * i + 5, 5]).flat();
  assert.deepEqual(Array.from(nmsArrays(far, Float32Array.from([-1, 0.5, -1, 0, 0.5]), null, 0.5)), [1, 4, 3, 0, 2]);
  assert.deepEqual(Array.from(nmsArrays(far, [-1, 0.5, -1, 0, 0.5 + 1e-12], null, 0.5)), [4, 1, 3, 0, 2]);
  assert.throws(() => nmsArrays([0, 0, 1], [1], null, 0.5), /boxes has 0.75 rows, scores 1/);
});

test('NMS on no boxes returns an empty int64 tensor', () => {
  tidy(() => {
    const keep = batchedNms(
      tensor(new Float32Array(0), [0, 4]),
      tensor(new Float32Array(0), [0]),
      tensor(new BigInt64Array(0), [0]),
      0.5,
    );
    assert.deepEqual(keep.shape, [0]);
    assert.equal(keep.dtype, 'int64');
  });
});

test('NMS matches torchvision nms / batched_nms on 400 random boxes (recorded)', () => {
  const fx = readFixture<{
    boxes: number[];
    scores: number[];
    classes: number[];
    results: Record<string, { batched: number[]; single: number[] }>;
  }>('det/fixtures/nms_torchvision.json');
  tidy(() => {
    const n = fx.scores.length;
    const boxes = tensor(Float32Array.from(fx.boxes), [n, 4]);
    const scores = tensor(Float32Array.from(fx.scores), [n]);
    const classes = tensor(
      BigInt64Array.from(fx.classes, (c) => BigInt(c)),
      [n],
    );
    for (const [thr, want] of Object.entries(fx.results)) {
      assert.deepEqual(batchedNms(boxes, scores, classes, Number(thr)).toArray(), want.batched, `batched, thr ${thr}`);
      assert.deepEqual(nms(boxes, scores, Number(thr)).toArray(), want.single, `single, thr ${thr}`);
    }
  });
});
