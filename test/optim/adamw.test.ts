import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, tidy, memory, dispose, type Tensor } from '../../src/torch/index.js';
import { AdamW } from '../../src/optim/index.js';

function setGrad(p: Tensor, values: number[]): void {
  const g = tensor(values, p.shape, { dtype: p.dtype });
  p.grad = g;
  g.dispose();
}

function close(actual: number, expected: number, tol = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${actual} vs ${expected}`);
}

test('AdamW by hand: decoupled decay, bias correction, eps outside the square root', () => {
  const p = tensor([1], [1], { dtype: 'float64', requiresGrad: true });
  const opt = new AdamW([p], { lr: 0.1, betas: [0.5, 0.75], eps: 0.5, weightDecay: 0.5 });
  setGrad(p, [2]);
  opt.step();
  // p = 1 * (1 - 0.1 * 0.5) = 0.95; m = 0.5 * 2 = 1; v = 0.25 * 4 = 1
  // p -= 0.1 / (1 - 0.5) * m / (sqrt(v) / sqrt(1 - 0.75) + 0.5) = 0.2 * 1 / 2.5 = 0.08
  close(p.item(), 0.87);
  setGrad(p, [-4]);
  opt.step();
  // p = 0.87 * 0.95 = 0.8265; m = 0.5 * 1 + 0.5 * -4 = -1.5; v = 0.75 * 1 + 0.25 * 16 = 4.75
  // bias corrections 1 - 0.5^2 = 0.75 and 1 - 0.75^2 = 0.4375
  close(p.item(), 0.8265 + ((0.1 / 0.75) * 1.5) / (Math.sqrt(4.75) / Math.sqrt(0.4375) + 0.5));
  const sd = opt.stateDict();
  assert.deepEqual((sd.tensors['state.0.exp_avg'] as Tensor).toArray(), [-1.5]);
  assert.deepEqual((sd.tensors['state.0.exp_avg_sq'] as Tensor).toArray(), [4.75]);
  assert.deepEqual(sd.meta.state, { '0': { step: 2 } });
  assert.deepEqual(sd.meta.groups, [
    { lr: 0.1, betas: [0.5, 0.75], eps: 0.5, weightDecay: 0.5, amsgrad: false, maximize: false, params: [0] },
  ]);
  dispose([p, sd.tensors]);
  opt.disposeState();
});

test('AdamW amsgrad keeps the running maximum of the second moment', () => {
  const p = tensor([0], [1], { dtype: 'float64', requiresGrad: true });
  const opt = new AdamW([p], { lr: 1, betas: [0.5, 0.5], eps: 0, weightDecay: 0, amsgrad: true });
  setGrad(p, [2]);
  opt.step();
  // m = 1, v = 2, vmax = 2: p -= (1 / 0.5) * 1 / (sqrt(2) / sqrt(0.5)) = 1
  close(p.item(), -1);
  setGrad(p, [0]);
  opt.step();
  // m = 0.5, v = 1 but vmax stays 2: p -= (1 / 0.75) * 0.5 / (sqrt(2) / sqrt(0.75))
  close(p.item(), -1 - ((1 / 0.75) * 0.5) / (Math.sqrt(2) / Math.sqrt(0.75)));
  const sd = opt.stateDict();
  assert.deepEqual((sd.tensors['state.0.max_exp_avg_sq'] as Tensor).toArray(), [2]);
  assert.deepEqual((sd.tensors['state.0.exp_avg_sq'] as Tensor).toArray(), [1]);
  dispose([p, sd.tensors]);
  opt.disposeState();
});

test('AdamW defaults match torch.optim.AdamW', () => {
  const p = tensor([1], [1], { requiresGrad: true });
  const opt = new AdamW([p]);
  assert.deepEqual(
    { ...opt.paramGroups[0], params: undefined },
    {
      lr: 1e-3,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: 1e-2,
      amsgrad: false,
      maximize: false,
      params: undefined,
    },
  );
  assert.throws(() => new AdamW([p], { betas: [0.9, 1] }), { message: 'AdamW: invalid beta parameter at index 1: 1' });
  assert.throws(() => new AdamW([p], { eps: -1 }), { message: 'AdamW: invalid eps -1' });
  p.dispose();
});

test('AdamW leaks no tensors across steps (amsgrad and maximize included)', () => {
  const p = tensor([1, 2, 3, 4], [2, 2], { requiresGrad: true });
  const q = tensor([1], [1], { requiresGrad: true });
  const opt = new AdamW([{ params: [p] }, { params: [q], amsgrad: true, maximize: true }], { lr: 0.01 });
  const grads = (): void => {
    setGrad(p, [0.1, -0.2, 0.3, -0.4]);
    setGrad(q, [2]);
  };
  tidy(() => {
    grads();
    opt.step();
  });
  const after1 = memory();
  for (let i = 0; i < 5; i++) {
    grads();
    opt.step();
  }
  assert.deepEqual(memory(), after1);
  opt.disposeState();
  assert.equal(memory().numTensors, after1.numTensors - 5);
  dispose([p, q]);
});
