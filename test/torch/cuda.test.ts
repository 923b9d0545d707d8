import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cudaAvailable, ones, tensor, conv2d, randn } from '../../src/torch/index.js';

const skip = cudaAvailable() ? false : 'no CUDA device (or a CPU-only libtorch)';

test('tensors move to CUDA and back, and ops and autograd run there', { skip }, () => {
  const x = tensor([1, 2, 3], [3], { device: 'cuda' });
  assert.match(x.device, /^cuda/);
  assert.deepEqual(x.mul(2).toArray(), [2, 4, 6]);
  const w = randn([2, 1, 3, 3], { device: 'cuda', requiresGrad: true });
  const y = conv2d(ones([1, 1, 5, 5], { device: 'cuda' }), w).sum();
  y.backward();
  const g = w.grad!;
  assert.match(g.device, /^cuda/);
  assert.deepEqual(g.toDevice('cpu').toArray(), new Array(18).fill(9));
});

test(
  'asking for CUDA without a device is a clear error',
  { skip: cudaAvailable() ? 'a CUDA device is present' : false },
  () => {
    assert.throws(() => ones([1], { device: 'cuda' }), /CUDA/i);
  },
);
