import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IOU_THRESHOLDS, RECALL_THRESHOLDS, AREA_RANGES, linspace } from '../../src/eval/index.js';

test('thresholds are bit-equal to numpy.linspace', () => {
  // Values printed by numpy 1.24: np.linspace(.5, .95, 10) and np.linspace(0, 1, 101).
  assert.deepEqual([...IOU_THRESHOLDS], [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95]);
  assert.equal(RECALL_THRESHOLDS.length, 101);
  assert.equal(RECALL_THRESHOLDS[35], 0.35000000000000003);
  assert.equal(RECALL_THRESHOLDS[57], 0.5700000000000001);
  assert.equal(RECALL_THRESHOLDS[94], 0.9400000000000001);
  assert.equal(RECALL_THRESHOLDS[7], 0.07);
  assert.equal(RECALL_THRESHOLDS[100], 1);
  assert.deepEqual([...linspace(2, 3, 2)], [2, 3]);
});

test('area ranges are all / small / medium / large on 32^2 and 96^2', () => {
  assert.deepEqual(AREA_RANGES, [
    [0, 1e10],
    [0, 1024],
    [1024, 9216],
    [9216, 1e10],
  ]);
});
