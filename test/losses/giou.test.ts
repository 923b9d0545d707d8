import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignedGiou, giouLoss, iouBceLoss } from '../../src/losses/index.js';
import { manualSeed, rand, randn, tensor, tidy } from '../../src/torch/index.js';
import { assertClose, gradcheck } from '../helpers.js';

const f64 = (v: number[], shape: number[]) => tensor(v, shape, { dtype: 'float64' });

// Hand values, boxes x1 y1 x2 y2:
//  [0,0,2,2] vs [1,1,3,3]: overlap 1, union 7, enclosure 9 -> GIoU 1/7 - 2/9 = -5/63, loss 68/63
//  [0,0,1,1] vs [2,2,3,3]: disjoint, union 2, enclosure 9 -> GIoU -7/9, loss 16/9
//  [1,2,4,6] vs itself: GIoU 1, loss 0
//  [0,0,4,4] vs [1,1,3,3]: IoU 4/16, enclosure = union -> GIoU 1/4, loss 3/4
//  [1,1,1,1] vs [1,1,1,1]: zero areas; U and E clamp to eps -> IoU 0, (eps - eps)/eps = 0 -> loss 1
const PRED = [0, 0, 2, 2, 0, 0, 1, 1, 1, 2, 4, 6, 0, 0, 4, 4, 1, 1, 1, 1];
const TARGET = [1, 1, 3, 3, 2, 2, 3, 3, 1, 2, 4, 6, 1, 1, 3, 3, 1, 1, 1, 1];
const LOSS = [68 / 63, 16 / 9, 0, 3 / 4, 1];

test('GIoU loss equals hand-computed values, including zero-area boxes', () => {
  const pred = f64(PRED, [5, 4]);
  const target = f64(TARGET, [5, 4]);
  assertClose(
    alignedGiou(pred, target).toArray(),
    LOSS.map((l) => 1 - l),
    1e-12,
  );
  assertClose(giouLoss(pred, target, { reduction: 'none' }).toArray(), LOSS, 1e-12);
  assertClose([giouLoss(pred, target, { reduction: 'sum' }).item()], [LOSS.reduce((a, b) => a + b)], 1e-12);
  assertClose([giouLoss(pred, target).item()], [LOSS.reduce((a, b) => a + b) / 5], 1e-12);
  // symmetric
  assertClose(giouLoss(target, pred, { reduction: 'none' }).toArray(), LOSS, 1e-12);
});

test('GIoU weights: (n) and (n,4) (averaged), avgFactor; all-zero weights give a graph-connected zero', () => {
  const pred = f64(PRED, [5, 4]);
  const target = f64(TARGET, [5, 4]);
  const w = f64([1, 0.5, 2, 0, 1], [5]);
  const weighted = LOSS[0]! + 0.5 * LOSS[1]! + 0 + 0 + LOSS[4]!;
  assertClose([giouLoss(pred, target, { weight: w, reduction: 'sum' }).item()], [weighted], 1e-12);
  assertClose([giouLoss(pred, target, { weight: w, avgFactor: 2.5 }).item()], [weighted / 2.5], 1e-12);
  const w4 = f64([1, 1, 1, 1, 0, 1, 0, 1, 2, 2, 2, 2, 0, 0, 0, 0, 4, 0, 0, 0], [5, 4]);
  assertClose([giouLoss(pred, target, { weight: w4, reduction: 'sum' }).item()], [weighted], 1e-12);
  const leaf = pred.detach().requiresGrad_(true);
  const zero = giouLoss(leaf, target, { weight: f64([0, 0, 0, 0, 0], [5]), avgFactor: 0 });
  assert.equal(zero.item(), 0);
  assert.ok(zero.requiresGrad);
  tidy(() => zero.backward());
  const g = leaf.grad!;
  assert.deepEqual(g.toArray(), Array(20).fill(0));
  g.dispose();
  assert.throws(() => giouLoss(pred, target, { weight: f64([1, 1], [2]) }), {
    message: 'giouLoss: weight must be (n) or (n, 4) for 5 boxes, got [2]',
  });
  assert.throws(() => giouLoss(pred, f64([0, 0, 1, 1], [1, 4])), {
    message: 'giouLoss: expected two (n, 4) box tensors, got [5, 4] and [1, 4]',
  });
});

test('GIoU loss gradients match finite differences (float64) for overlapping and disjoint boxes', () => {
  manualSeed(21);
  const xy = rand([6, 2], { dtype: 'float64' }).mul(10);
  const wh = rand([6, 2], { dtype: 'float64' }).mul(5).add(1);
  const pred = tidy(() =>
    xy.repeat([1, 2]).add(tensor([0, 0, 1, 1], [1, 4], { dtype: 'float64' }).mul(wh.repeat([1, 2]))),
  );
  const target = tidy(() =>
    pred.add(randn([6, 4], { dtype: 'float64' }).mul(1.5)).add(tensor([0, 0, 3, 3], [1, 4], { dtype: 'float64' })),
  );
  const w = f64([1, 2, 0.5, 1, 1, 3], [6]);
  gradcheck(([p, t]) => giouLoss(p!, t!, { weight: w, reduction: 'sum' }), [pred, target]);
  gradcheck(([p]) => giouLoss(p!, target, { avgFactor: 2 }), [pred]);
});

test('IoU-branch BCE: hand values, weights, avgFactor, gradients', () => {
  // z = 0: BCE = ln 2 for any target; z = 2, t = 0.8: 0.8 ln(1 + e^-2) + 0.2 ln(1 + e^2) = 0.5269280110429726
  const z = f64([0, 2], [2]);
  const t = f64([0.3, 0.8], [2]);
  assertClose(iouBceLoss(z, t, { reduction: 'none' }).toArray(), [Math.LN2, 0.5269280110429726], 1e-12);
  assertClose([iouBceLoss(z, t, { avgFactor: 4 }).item()], [(Math.LN2 + 0.5269280110429726) / 4], 1e-12);
  assertClose([iouBceLoss(z, t, { weight: f64([2, 0], [2]), reduction: 'sum' }).item()], [2 * Math.LN2], 1e-12);
  assert.throws(() => iouBceLoss(z, f64([1], [1])), {
    message: 'iouBceLoss: logits [2] and target [1] must have the same shape',
  });
  manualSeed(22);
  const target = rand([7], { dtype: 'float64' });
  gradcheck(([a, b]) => iouBceLoss(a!, b!, { reduction: 'sum' }), [randn([7], { dtype: 'float64' }).mul(2), target]);
});
