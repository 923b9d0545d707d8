import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PaaAssigner,
  candidateCosts,
  disposeAssignment,
  gtSampleRows,
  groupCandidates,
  type AssignTargets,
  type ImageCandidates,
} from '../../src/assign/index.js';
import { dispose, manualSeed, rand, randn, tensor, tidy } from '../../src/torch/index.js';
import { assertClose } from '../helpers.js';

// Four anchors of one image (two levels), two GTs; deltas zero so the decoded boxes are the anchors.
function targets(): AssignTargets {
  return {
    anchors: tensor([0, 0, 10, 10, 5, 5, 15, 15, 0, 0, 20, 20, 10, 10, 30, 30], [4, 4]),
    levelStarts: [0, 2, 4],
    validFlags: tensor([true, true, true, true], [1, 4]),
    gtBoxes: [tensor([0, 0, 10, 12, 8, 8, 28, 30], [2, 4])],
    gtLabels: [tensor([2, 0], [2], { dtype: 'int64' })],
    numClasses: 3,
  };
}

/** 1 - GIoU of two x1y1x2y2 boxes, by its definition. */
function oneMinusGiou(a: number[], b: number[]): number {
  const area = (r: number[]): number => (r[2]! - r[0]!) * (r[3]! - r[1]!);
  const iw = Math.max(0, Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!));
  const ih = Math.max(0, Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!));
  const inter = iw * ih;
  const union = area(a) + area(b) - inter;
  const enclose = (Math.max(a[2]!, b[2]!) - Math.min(a[0]!, b[0]!)) * (Math.max(a[3]!, b[3]!) - Math.min(a[1]!, b[1]!));
  return 1 - (inter / union - (enclose - union) / enclose);
}

test('PAA cost of a probability head: probability focal loss summed over classes + 1.3 (1 - GIoU), by hand', () => {
  const t = targets();
  const cand: ImageCandidates = {
    anchorInds: Int32Array.from([0, 1, 2, 3]),
    gtInds: Int32Array.from([0, 0, 1, 1]),
    numGt: 2,
  };
  const probs = [0.9, 0.2, 0.05, 0.3, 0.6, 0.1, 0.01, 0.5, 0.99, 0.4, 0.4, 0.4];
  const preds = {
    clsLogits: tensor(probs, [1, 4, 3]),
    regDeltas: tensor(new Float32Array(16), [1, 4, 4]),
    clsKind: 'probs' as const,
  };
  const got = candidateCosts(t, [cand], preds)[0]!;
  const anchors = [
    [0, 0, 10, 10],
    [5, 5, 15, 15],
    [0, 0, 20, 20],
    [10, 10, 30, 30],
  ];
  const gts = [
    [0, 0, 10, 12],
    [8, 8, 28, 30],
  ];
  const labels = [2, 2, 0, 0];
  const want = anchors.map((a, i) => {
    let focal = 0;
    for (let c = 0; c < 3; c++) {
      const p = probs[3 * i + c]!;
      focal += c === labels[i] ? 0.25 * (1 - p) ** 2 * -Math.log(p) : 0.75 * p ** 2 * -Math.log(1 - p);
    }
    return focal + 1.3 * oneMinusGiou(a, gts[cand.gtInds[i]!]!);
  });
  assertClose(got, want, 1e-5);
  // A logit head and its probability twin (p = sigmoid(z)) cost the same.
  manualSeed(1);
  const z = randn([1, 4, 3]).mul(2);
  const deltas = randn([1, 4, 4]).mul(0.3);
  const fromLogits = candidateCosts(t, [cand], { clsLogits: z, regDeltas: deltas });
  const fromProbs = candidateCosts(t, [cand], { clsLogits: z.sigmoid(), regDeltas: deltas, clsKind: 'probs' });
  assertClose(fromProbs[0]!, fromLogits[0]!, 1e-5);
  dispose([preds.clsLogits, preds.regDeltas, z, deltas, t.anchors, t.validFlags, t.gtBoxes, t.gtLabels]);
});

test('PaaAssigner accepts probability heads: the same positives as the logit twin', () => {
  const t = targets();
  manualSeed(2);
  const z = randn([1, 4, 3]);
  const deltas = rand([1, 4, 4]).mul(0.1);
  const a = new PaaAssigner().assign(t, { clsLogits: z, regDeltas: deltas });
  const b = tidy(() => new PaaAssigner().assign(t, { clsLogits: z.sigmoid(), regDeltas: deltas, clsKind: 'probs' }));
  assert.ok(a.numPos > 0);
  assert.ok(a.posInds.equal(b.posInds) && a.labels.equal(b.labels));
  disposeAssignment(a);
  disposeAssignment(b);
});

test('gtSampleRows: per-level top-k lowest, sorted, padded rows', () => {
  const cand: ImageCandidates = {
    anchorInds: Int32Array.from([0, 1, 2, 5, 6, 7]),
    gtInds: Int32Array.from([0, 0, 0, 0, 1, 0]),
    numGt: 2,
  };
  const groups = groupCandidates(cand, [0, 4, 8]);
  const costs = Float32Array.from([3, 1, 2, 0.5, 9, 4]);
  const r = gtSampleRows([cand], [groups], [costs], 2);
  assert.equal(r.stride, 4);
  assert.deepEqual(Array.from(r.counts), [4, 1]);
  // GT 0: level 0 keeps costs 1, 2 (of 3, 1, 2); level 1 keeps 0.5, 4; sorted
  assert.deepEqual(Array.from(r.x.subarray(0, 4)), [0.5, 1, 2, 4]);
  assert.deepEqual(Array.from(r.who.subarray(0, 4)), [3, 1, 2, 5]);
  assert.deepEqual(Array.from(r.x.subarray(4, 5)), [9]);
});
