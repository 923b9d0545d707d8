import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Tensor,
  binaryCrossEntropyWithLogits,
  conv2d,
  groupNorm,
  manualSeed,
  noGrad,
  randn,
  rand,
  tensor,
  isGradEnabled,
} from '../../src/torch/index.js';
import { assertClose, gradcheck } from '../helpers.js';

const f64 = { dtype: 'float64' as const };

test('backward gives hand-computed gradients; grad accumulates and can be cleared', () => {
  const x = tensor([1, 2, 3], [3], f64).requiresGrad_();
  const y = x.mul(x).sum(); // d/dx = 2x
  y.backward();
  assertClose(x.grad!.toArray(), [2, 4, 6]);
  x.mul(3).sum().backward();
  assertClose(x.grad!.toArray(), [5, 7, 9]);
  x.grad = null;
  assert.equal(x.grad, null);
  // explicit upstream gradient for a non-scalar output
  x.mul(2).backward(tensor([1, 0, -1], [3], f64));
  assertClose(x.grad!.toArray(), [2, 0, -2]);
  assert.ok(x.isLeaf);
  assert.ok(!x.mul(2).isLeaf);
  assert.equal(x.detach().requiresGrad, false);
});

test('noGrad stops recording and restores the mode, also on throw', () => {
  const x = tensor([1], [1], f64).requiresGrad_();
  const y = noGrad(() => x.mul(2));
  assert.equal(y.requiresGrad, false);
  assert.throws(
    () =>
      noGrad(() => {
        throw new Error('boom');
      }),
    /boom/,
  );
  assert.equal(isGradEnabled(), true);
  assert.equal(x.mul(2).requiresGrad, true);
});

test('conv2d gradients (input, weight, bias; stride, padding, groups) match finite differences', () => {
  manualSeed(1);
  const x = randn([1, 4, 5, 5], f64);
  const w = randn([6, 2, 3, 3], f64);
  const b = randn([6], f64);
  const probe = randn([1, 6, 3, 3], f64);
  gradcheck(([xx, ww, bb]) => conv2d(xx!, ww!, bb!, { stride: 2, padding: 1, groups: 2 }).mul(probe).sum(), [x, w, b]);
});

test('group_norm gradients match finite differences', () => {
  manualSeed(2);
  const x = randn([2, 4, 3, 3], f64);
  const g = randn([4], f64);
  const b = randn([4], f64);
  const probe = randn([2, 4, 3, 3], f64);
  gradcheck(([xx, gg, bb]) => groupNorm(xx!, 2, gg!, bb!).mul(probe).sum(), [x, g, b]);
});

test('binary_cross_entropy_with_logits gradients match finite differences', () => {
  manualSeed(3);
  const z = randn([3, 4], f64).mul(3);
  const t = rand([3, 4], f64);
  const w = rand([3, 4], f64);
  gradcheck(([zz, tt]) => binaryCrossEntropyWithLogits(zz!, tt!, w, 'sum'), [z, t]);
});

test('a composite focal-style loss has finite-difference-exact gradients', () => {
  manualSeed(4);
  const z = randn([5, 3], f64);
  const t = tensor([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0], [5, 3], f64);
  const focal = (zz: Tensor): Tensor => {
    const p = zz.sigmoid();
    const pt = p.mul(t).add(p.rsub(1).mul(t.rsub(1)));
    const alpha = t.mul(0.25).add(t.rsub(1).mul(0.75));
    const bce = binaryCrossEntropyWithLogits(zz, t, null, 'none');
    return bce.mul(alpha).mul(pt.rsub(1).pow(2)).sum().div(3);
  };
  gradcheck(([zz]) => focal(zz!), [z]);
});
