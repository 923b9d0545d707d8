// autocast (src/torch/autocast.ts): libtorch's CPU autocast reaches ops called through the addon's boxed dispatcher
// call, scopes nest and restore the previous state (also on throw), the weight cache is dropped when the outermost
// scope ends, gradients come back float32, and the precision helpers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  autocast,
  autocastDtype,
  conv2d,
  cudaAvailable,
  cpuHasNativeBf16,
  isAutocastEnabled,
  linear,
  noGrad,
  ones,
  randn,
  resolvePrecision,
  tidy,
} from '../../src/torch/index.js';
import { GroupNorm } from '../../src/nn/index.js';

test('a conv2d on float32 inputs returns bfloat16 inside autocast (the AutocastCPU key reaches boxed calls)', () => {
  tidy(() => {
    const x = randn([2, 4, 8, 8]);
    const w = randn([6, 4, 3, 3]);
    const b = randn([6]);
    assert.equal(conv2d(x, w, b).dtype, 'float32');
    const y = autocast('bfloat16', () => conv2d(x, w, b, { padding: 1 }));
    assert.equal(y.dtype, 'bfloat16');
    // libtorch's lower-precision list: linear and matmul too; elementwise ops keep their inputs' dtype
    autocast('bfloat16', () => {
      assert.equal(linear(randn([3, 4]), randn([5, 4])).dtype, 'bfloat16');
      assert.equal(randn([3, 4]).matmul(randn([4, 2])).dtype, 'bfloat16');
      assert.equal(x.relu().dtype, 'float32');
    });
    // the values are fp32's to bf16 precision
    const ref = conv2d(x, w, b, { padding: 1 });
    const err = y.float().sub(ref).abs().max().item() / ref.abs().max().item();
    assert.ok(err < 0.02, `relative error ${err}`);
  });
});

test('autocast scopes nest and restore the previous state, also when fn throws; null turns autocast off', () => {
  assert.equal(isAutocastEnabled(), false);
  assert.equal(autocastDtype(), null);
  autocast('bfloat16', () => {
    assert.equal(isAutocastEnabled(), true);
    assert.equal(autocastDtype('cpu'), 'bfloat16');
    autocast(null, () => {
      assert.equal(isAutocastEnabled(), false);
      tidy(() => assert.equal(conv2d(randn([1, 1, 4, 4]), randn([1, 1, 3, 3])).dtype, 'float32'));
    });
    assert.equal(isAutocastEnabled(), true);
    assert.throws(
      () =>
        autocast(null, () => {
          throw new Error('boom');
        }),
      /boom/,
    );
    assert.equal(isAutocastEnabled(), true, 'restored after a throw in a nested scope');
  });
  assert.throws(
    () =>
      autocast('bfloat16', () => {
        throw new Error('outer boom');
      }),
    /outer boom/,
  );
  assert.equal(isAutocastEnabled(), false, 'restored after a throw in the outermost scope');
  // a libtorch error inside the scope is a JS Error, and the state is restored
  assert.throws(() => autocast('bfloat16', () => tidy(() => conv2d(randn([1, 2, 4, 4]), randn([1, 3, 3, 3])))), Error);
  assert.equal(isAutocastEnabled(), false);
});

test('autocast refuses what libtorch 1.13 cannot do, with the state untouched', () => {
  assert.throws(() => autocast('float16', () => 1), /bfloat16 only/);
  assert.throws(() => autocast('int8' as never, () => 1), TypeError);
  assert.throws(() => autocast('bfloat16', async () => 1), /synchronous/);
  if (!cudaAvailable()) assert.throws(() => autocast('bfloat16', () => 1, 'cuda'), /CUDA|cuda/);
  assert.equal(isAutocastEnabled(), false);
});

test('the cached bf16 copy of a weight is dropped when the outermost scope ends', () => {
  tidy(() => {
    const x = ones([1, 1, 3, 3]);
    const w = ones([1, 1, 3, 3]).requiresGrad_(); // a leaf that requires grad: what autocast caches
    const first = autocast('bfloat16', () => conv2d(x, w).item());
    noGrad(() => w.mul_(2)); // the optimizer's in-place update, between two steps
    const second = autocast('bfloat16', () => conv2d(x, w).item());
    assert.equal(first, 9);
    assert.equal(second, 18, 'a stale cached copy would give 9');
  });
});

test('gradients through an autocast forward are float32 and land in float32 parameters', () => {
  tidy(() => {
    const w = randn([4, 3, 3, 3]).requiresGrad_();
    const gn = new GroupNorm(2, 4);
    const x = randn([2, 3, 6, 6]);
    const y = autocast('bfloat16', () => gn.forward(conv2d(x, w, null, { padding: 1 })).relu());
    assert.equal(y.dtype, 'bfloat16');
    y.float().square().sum().backward();
    for (const p of [w, gn.weight!, gn.bias!]) {
      const g = p.grad!;
      assert.equal(p.dtype, 'float32');
      assert.equal(g.dtype, 'float32');
      assert.ok(g.abs().sum().item() > 0);
    }
    gn.dispose();
  });
});

test('GroupNorm under autocast: a bf16 input is normalised in float32 and comes back bf16, close to fp32', () => {
  tidy(() => {
    const gn = new GroupNorm(4, 16);
    noGrad(() => {
      gn.weight!.copy_(randn([16]).mul(0.1).add(1));
      gn.bias!.copy_(randn([16]).mul(0.1));
    });
    const x = randn([2, 16, 10, 10]).mul(3).add(1);
    const ref = gn.forward(x);
    const xb = x.to('bfloat16');
    const y = autocast('bfloat16', () => gn.forward(xb));
    assert.equal(y.dtype, 'bfloat16');
    const err = y.float().sub(ref).abs().max().item();
    assert.ok(err < 0.05, `max error ${err}`); // bf16 input and output rounding (2^-8 relative), nothing more
    // without affine parameters too
    const plain = new GroupNorm(4, 16, 1e-5, false);
    assert.equal(autocast('bfloat16', () => plain.forward(xb)).dtype, 'bfloat16');
    gn.dispose();
  });
});

test('cpuHasNativeBf16 follows LADET_CPU_BF16, and resolvePrecision follows it', () => {
  const saved = process.env.LADET_CPU_BF16;
  try {
    process.env.LADET_CPU_BF16 = '1';
    assert.equal(cpuHasNativeBf16(), true);
    assert.equal(resolvePrecision('auto', 'cpu'), 'bf16');
    process.env.LADET_CPU_BF16 = '0';
    assert.equal(cpuHasNativeBf16(), false);
    assert.equal(resolvePrecision('auto', 'cpu'), 'fp32');
    assert.equal(resolvePrecision('bf16', 'cpu'), 'bf16', 'an explicit setting is kept');
    assert.equal(resolvePrecision('fp32', 'cuda'), 'fp32');
    process.env.LADET_CPU_BF16 = 'yes';
    assert.throws(() => cpuHasNativeBf16(), /LADET_CPU_BF16/);
    delete process.env.LADET_CPU_BF16;
    assert.equal(typeof cpuHasNativeBf16(), 'boolean'); // /proc/cpuinfo's answer
    if (!cudaAvailable()) assert.equal(resolvePrecision('auto', 'cuda:0'), 'fp32');
    assert.throws(() => resolvePrecision('half' as never, 'cpu'), TypeError);
  } finally {
    if (saved === undefined) delete process.env.LADET_CPU_BF16;
    else process.env.LADET_CPU_BF16 = saved;
  }
});
