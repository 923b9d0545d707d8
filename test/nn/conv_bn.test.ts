import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchNorm2d, Conv2d, convBn } from '../../src/nn/index.js';
import { noGrad, rand, randn, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import { assertClose } from '../helpers.js';

test('convBn folds a running-statistics BN into the conv: hand values', () => {
  const conv = new Conv2d(1, 2, 1);
  const bn = new BatchNorm2d(2, { eps: 0 });
  conv.loadStateDict({ weight: tensor([2, -1], [2, 1, 1, 1]), bias: tensor([0.5, 0]) });
  bn.loadStateDict({
    weight: tensor([3, 1]),
    bias: tensor([0.5, -1]),
    running_mean: tensor([1, -2]),
    running_var: tensor([4, 0.25]),
    num_batches_tracked: tensor(BigInt64Array.from([0n]), []),
  });
  bn.eval();
  // conv: (2·4 + 0.5, -1·4) = (8.5, -4); BN: (8.5 - 1) / 2 · 3 + 0.5 = 11.75, (-4 + 2) / 0.5 · 1 - 1 = -5
  const y = noGrad(() => convBn(conv, bn, tensor([4], [1, 1, 1, 1])));
  assert.deepEqual(y.toArray(), [11.75, -5]);
  y.dispose();
  conv.dispose();
  bn.dispose();
});

/** Output and gradients (conv weight, BN weight, BN bias) of sum(f(x) · r). */
function outAndGrads(f: () => Tensor, r: Tensor, params: Tensor[]): number[][] {
  for (const p of params) p.grad = null;
  const out = tidy(() => {
    const y = f();
    y.mul(r).sum().backward();
    return Array.from(y.toArray());
  });
  return [
    out,
    ...params.map((p) => {
      const g = p.grad!;
      const v = Array.from(g.toArray());
      g.dispose();
      return v;
    }),
  ];
}

test('convBn with frozen statistics in training mode: same output and gradients as conv then BN', () => {
  const conv = new Conv2d(4, 6, 3, { stride: 2, padding: 1, bias: false });
  const bn = new BatchNorm2d(6, { frozenStats: true });
  noGrad(() => {
    bn.runningMean.copy_(randn([6]));
    bn.runningVar.copy_(rand([6]).add(0.5));
    bn.weight!.copy_(randn([6]));
    bn.bias!.copy_(randn([6]));
  });
  bn.train();
  const x = randn([2, 4, 9, 9]);
  const r = randn([2, 6, 5, 5]);
  const params = [conv.weight, bn.weight!, bn.bias!];
  const stats = [bn.runningMean.toArray(), bn.runningVar.toArray()];
  const folded = outAndGrads(() => convBn(conv, bn, x), r, params);
  const plain = outAndGrads(() => bn.forward(conv.forward(x)), r, params);
  ['output', 'conv.weight grad', 'bn.weight grad', 'bn.bias grad'].forEach((what, i) =>
    assertClose(folded[i]!, plain[i]!, 1e-4, what),
  );
  assert.deepEqual([bn.runningMean.toArray(), bn.runningVar.toArray()], stats, 'running statistics moved');
  assert.equal(bn.numBatchesTracked.item(), 0);
  for (const t of [x, r]) t.dispose();
  conv.dispose();
  bn.dispose();
});

test('convBn with batch statistics (training, stats not frozen) normalises over the batch and updates them', () => {
  const conv = new Conv2d(3, 2, 1);
  const bn = new BatchNorm2d(2);
  bn.train();
  const x = randn([4, 3, 5, 5]).mul(3).add(1);
  const y = noGrad(() => convBn(conv, bn, x));
  // per channel: mean 0 and (biased) variance 1 over N, H, W, since the BN affine starts at (1, 0)
  const mean = tidy(() => y.mean([0, 2, 3]).toArray());
  const variance = tidy(() => y.pow(2).mean([0, 2, 3]).toArray());
  assertClose(mean, [0, 0], 1e-5, 'channel means');
  assertClose(variance, [1, 1], 1e-3, 'channel variances');
  assert.equal(bn.numBatchesTracked.item(), 1);
  assert.ok(bn.runningMean.abs().sum().item() > 0, 'running mean not updated');
  for (const t of [x, y]) t.dispose();
  conv.dispose();
  bn.dispose();
});
