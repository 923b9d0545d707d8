import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  probFocalLoss,
  probFocalLossPerAnchor,
  sigmoidFocalLoss,
  sigmoidFocalLossPerAnchor,
} from '../../src/losses/index.js';
import { manualSeed, randn, rand, tensor, tidy, memory } from '../../src/torch/index.js';
import { assertClose, gradcheck } from '../helpers.js';

const LN2 = Math.LN2;
const long = (v: number[]) => tensor(v, [v.length], { dtype: 'int64' });

// Hand values (alpha 0.25, gamma 2), p = sigmoid(z):
//  z = 0,  t = 1: BCE ln 2, pt 0.5, 0.25 * 0.25 * ln 2                        = 0.04332169878499658
//  z = 0,  t = 0: BCE ln 2, pt 0.5, 0.75 * 0.25 * ln 2                        = 0.12996509635498973
//  z = 2,  t = 0: BCE ln(1 + e^2) = 2.1269280110429727, pt = p = 0.8807970779778823,
//                 0.75 * 0.77580349... * 2.12692801...                         = 1.2375586345660565
//  z = -3, t = 1: BCE ln(1 + e^3) = 3.048587351573742, pt = 1 - p = 0.9525741268224333,
//                 0.25 * 0.90739746... * 3.04858735...                         = 0.6915701102563155
const A = 0.04332169878499658;
const B = 0.12996509635498973;
const C = 1.2375586345660565;
const D = 0.6915701102563155;

test('sigmoid focal loss equals hand-computed values; background rows are all-negative', () => {
  const logits = tensor([0, 2, -3, 0, 0, 2], [3, 2], { dtype: 'float64' });
  // row 0: class 0 positive; row 1: class 1 positive; row 2: background (label C = 2)
  const labels = long([0, 1, 2]);
  const l = sigmoidFocalLoss(logits, labels, { reduction: 'none' });
  assert.deepEqual(l.shape, [3, 2]);
  // row 0: (z=0,t=1) (z=2,t=0); row 1: (z=-3,t=0) (z=0,t=1); row 2: (z=0,t=0) (z=2,t=0)
  const zm3t0 = 0.75 * 0.04742587317756678 ** 2 * 0.04858735157374196; // BCE = ln(1 + e^-3)
  assertClose(l.toArray(), [A, C, zm3t0, A, B, C], 1e-12);
  const neg = sigmoidFocalLoss(tensor([-3], [1, 1], { dtype: 'float64' }), long([0]), { reduction: 'sum' });
  assertClose([neg.item()], [D], 1e-12);
  assertClose([sigmoidFocalLoss(logits, labels, { reduction: 'sum' }).item()], [A + C + zm3t0 + A + B + C], 1e-12);
  assertClose([sigmoidFocalLoss(logits, labels).item()], [(A + C + zm3t0 + A + B + C) / 6], 1e-12);
  assertClose(sigmoidFocalLossPerAnchor(logits, labels).toArray(), [A + C, zm3t0 + A, B + C], 1e-12);
});

test('weights (per anchor or per element), avgFactor and other alpha/gamma', () => {
  const logits = tensor([0, 2, -3, 0, 0, 2], [3, 2], { dtype: 'float64' });
  const labels = long([0, 1, 2]);
  const w = tensor([1, 0, 2], [3], { dtype: 'float64' });
  assertClose([sigmoidFocalLoss(logits, labels, { weight: w, reduction: 'sum' }).item()], [A + C + 2 * (B + C)], 1e-12);
  assertClose(
    [sigmoidFocalLoss(logits, labels, { weight: w, avgFactor: 4 }).item()],
    [(A + C + 2 * (B + C)) / 4],
    1e-12,
  );
  const we = tensor([1, 0, 0, 1, 0, 0], [3, 2], { dtype: 'float64' });
  assertClose(sigmoidFocalLoss(logits, labels, { weight: we, reduction: 'none' }).toArray(), [A, 0, 0, A, 0, 0], 1e-12);
  // gamma 0, alpha 0.5: half the plain BCE
  assertClose(
    sigmoidFocalLoss(tensor([0], [1, 1]), long([0]), { gamma: 0, alpha: 0.5, reduction: 'sum' }).toArray(),
    [LN2 / 2],
    1e-6,
  );
  assert.throws(() => sigmoidFocalLoss(logits, labels, { reduction: 'sum', avgFactor: 2 }), {
    message: "sigmoidFocalLoss: avgFactor can only be used with reduction 'mean' (got 'sum')",
  });
});

test('bad labels are rejected with the offending value', () => {
  const logits = tensor([0, 0, 0, 0], [2, 2]);
  assert.throws(() => sigmoidFocalLoss(logits, long([0, 3])), {
    message: 'sigmoidFocalLoss: labels must lie in [0, 2] (2 = background), got 3',
  });
  assert.throws(() => sigmoidFocalLoss(logits, long([-1, 0])), {
    message: 'sigmoidFocalLoss: labels must lie in [0, 2] (2 = background), got -1',
  });
  assert.throws(() => sigmoidFocalLoss(logits, tensor([0, 1])), {
    message: 'sigmoidFocalLoss: labels must be a 1-d int64/int32 tensor (got float32 [2])',
  });
  assert.throws(() => sigmoidFocalLoss(logits, long([0])), {
    message: 'sigmoidFocalLoss: expected scores (N, C) and labels (N), got [2, 2] and [1]',
  });
  // no anchors at all: an empty sum
  assert.equal(sigmoidFocalLoss(tensor([], [0, 3]), long([]), { reduction: 'sum' }).item(), 0);
});

test('focal loss gradients match finite differences (float64), through the modulating factor too', () => {
  manualSeed(11);
  const logits = randn([6, 4], { dtype: 'float64' }).mul(2);
  const labels = long([0, 3, 4, 1, 4, 2]);
  const w = tensor([1, 0.5, 2, 1, 0, 1], [6], { dtype: 'float64' });
  gradcheck(([z]) => sigmoidFocalLoss(z!, labels, { weight: w, reduction: 'sum' }), [logits]);
  gradcheck(([z]) => sigmoidFocalLoss(z!, labels, { gamma: 1.5, alpha: 0.4, avgFactor: 3 }), [logits]);
});

test('probability focal loss: hand values, the -100 log clamp, per-anchor sums, gradients', () => {
  const probs = tensor([0.5, 0.5, 0, 1], [2, 2], { dtype: 'float64' });
  // row 0: (p=.5,t=1) A, (p=.5,t=0) B; row 1 label 0: (p=0,t=1): log clamped -> BCE 100, pt 1 -> 0.25 * 100;
  // (p=1, t=0): BCE 100, pt 1 -> 0.75 * 100
  const labels = long([0, 0]);
  assertClose(probFocalLoss(probs, labels, { reduction: 'none' }).toArray(), [A, B, 25, 75], 1e-12);
  assertClose(probFocalLossPerAnchor(probs, long([2, 2])).toArray(), [2 * B, 0 + 75], 1e-12);
  manualSeed(12);
  const p = rand([5, 3], { dtype: 'float64' }).mul(0.9).add(0.05);
  gradcheck(
    ([q]) =>
      probFocalLoss(q!, long([0, 3, 2, 1, 3]), {
        reduction: 'sum',
        weight: tensor([1, 2, 0.5, 1, 1], [5], { dtype: 'float64' }),
      }),
    [p],
  );
});

test('the losses leave no tensors behind', () => {
  const logits = randn([50, 8]).requiresGrad_(true);
  const labels = long(Array.from({ length: 50 }, (_, i) => i % 9));
  const before = memory().numTensors;
  const l = sigmoidFocalLoss(logits, labels, { weight: tensor(Array(50).fill(1)), reduction: 'sum' });
  const pa = sigmoidFocalLossPerAnchor(logits, labels);
  assert.equal(memory().numTensors, before + 3); // the two results + the weight tensor literal
  tidy(() => l.backward());
  l.dispose();
  pa.dispose();
  logits.dispose();
});
