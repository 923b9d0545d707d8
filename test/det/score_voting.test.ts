import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scoreVoting, scoreVotingArrays } from '../../src/det/index.js';
import { tensor, tidy } from '../../src/torch/index.js';
import { assertClose } from '../helpers.js';

const voteWeight = (iou: number, s: number): number => Math.exp(-((1 - iou) ** 2) / 0.025) * s;

test('score voting: weighted mean of same-class candidates with IoU > 0.01 and score > thr; regrouped by class', () => {
  // Candidates (N=5, C=2 per-class scores).
  const cand = [
    0,
    0,
    10,
    10, //   c0 .9          (the detection itself)
    1,
    1,
    11,
    11, //   c0 .5          IoU 81/119
    50,
    50,
    60,
    60, // c0 .8          IoU 0: not a voter
    0,
    0,
    10,
    12, //   c0 .04, c1 .7  c0 score below 0.05: not a voter for class 0
    9.95,
    9.95,
    20,
    20, // c0 .3      IoU .0025/200 < 0.01: not a voter
  ];
  const scores = [0.9, 0, 0.5, 0, 0.8, 0, 0.04, 0.7, 0.3, 0];
  const dets = {
    boxes: Float32Array.from([0, 0, 10, 12, 0, 0, 10, 10]),
    scores: Float32Array.from([0.7, 0.9]),
    labels: Int32Array.from([1, 0]),
  };
  const out = scoreVotingArrays(dets, cand, scores, 2);
  // Class 0 first (regrouped), then class 1.
  assert.deepEqual(Array.from(out.labels), [0, 1]);
  assertClose(out.scores, [0.9, 0.7], 1e-7);
  const w0 = voteWeight(1, 0.9);
  const w1 = voteWeight(81 / 119, 0.5);
  const expect = [0, 0, 10, 10].map((v, k) => (w0 * v + w1 * [1, 1, 11, 11][k]!) / (w0 + w1));
  assertClose(out.boxes.subarray(0, 4), expect, 1e-6);
  // Class 1's only candidate is the detection itself -> unchanged.
  assertClose(out.boxes.subarray(4, 8), [0, 0, 10, 12], 1e-6);
});

test('score voting with no detections returns empty (upstream crashes), and a det without voters keeps its box', () => {
  const empty = scoreVotingArrays(
    { boxes: new Float32Array(0), scores: new Float32Array(0), labels: new Int32Array(0) },
    [0, 0, 1, 1],
    [0.9],
    1,
  );
  assert.equal(empty.scores.length, 0);
  assert.equal(empty.boxes.length, 0);
  const lone = scoreVotingArrays(
    { boxes: Float32Array.from([0, 0, 5, 5]), scores: Float32Array.from([0.3]), labels: Int32Array.from([0]) },
    [100, 100, 110, 110],
    [0.9],
    1,
  );
  assert.deepEqual(Array.from(lone.boxes), [0, 0, 5, 5]);
  tidy(() => {
    const r = scoreVoting(
      {
        boxes: tensor(new Float32Array(0), [0, 4]),
        scores: tensor(new Float32Array(0), [0]),
        labels: tensor(new BigInt64Array(0), [0]),
      },
      tensor(new Float32Array(0), [0, 4]),
      tensor(new Float32Array(0), [0, 80]),
    );
    assert.deepEqual(r.boxes.shape, [0, 4]);
    assert.deepEqual(r.labels.shape, [0]);
  });
  assert.throws(
    () =>
      scoreVotingArrays(
        { boxes: Float32Array.from([0, 0, 1, 1]), scores: Float32Array.from([1]), labels: Int32Array.from([3]) },
        [0, 0, 1, 1],
        [1, 1],
        2,
      ),
    /1 detections have a class outside 0..1/,
  );
});
