// GradScaler (dynamic loss scaling for fp16, torch.amp.GradScaler's rules) and trainStep's scaled loop, on the CPU:
// the arithmetic is device-independent, and power-of-two scaling makes a clean scaled step bit-identical to the plain
// one. The fp16 end of it (CUDA autocast) is in test/torch/cuda_amp.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed, memory, noGrad, randn, tensor, type Tensor } from '../../src/torch/index.js';
import { Conv2d, GroupNorm, Linear, ReLU, Sequential } from '../../src/nn/index.js';
import { GradScaler, SGD } from '../../src/optim/index.js';
import { trainStep } from '../../src/engine/train_step.js';
import type { Strategy, StepInput } from '../../src/distill/strategy.js';

/** conv -> GN -> ReLU -> conv, loss = mean((net(x) - 0.5)^2): every backward op that a detector's head has. */
function convStrategy(seed: number): Strategy & { trainable: Sequential } {
  manualSeed(seed);
  const trainable = new Sequential(
    new Conv2d(3, 8, 3, { padding: 1 }),
    new GroupNorm(4, 8),
    new ReLU(),
    new Conv2d(8, 2, 3, { padding: 1 }),
  );
  return {
    name: 'conv',
    trainable,
    step(input: StepInput) {
      const y = trainable.forward(input.images);
      return { losses: { loss: y.sub(0.5).square().mean() }, logs: {} };
    },
    dispose() {},
  };
}

const bits = (t: Tensor): number[] => Array.from(new Uint32Array(t.toTypedArray<'float32'>().slice().buffer));

test('a scaled step that does not overflow moves the weights exactly as the unscaled step (bit for bit)', () => {
  manualSeed(3);
  const x = randn([2, 3, 8, 8]);
  const input = { images: x, targets: [], metas: [] };
  const plain = convStrategy(7);
  const scaled = convStrategy(7);
  const optPlain = new SGD(plain.trainable.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  const optScaled = new SGD(scaled.trainable.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  const scaler = new GradScaler();
  for (let i = 0; i < 3; i++) {
    const a = trainStep(plain, optPlain, input);
    const b = trainStep(scaled, optScaled, input, null, undefined, undefined, scaler);
    assert.equal(b.loss, a.loss, `step ${i}: the logged loss is the unscaled one`);
    assert.equal(b.skipped, false);
    assert.equal(b.logs.loss_scale, 65536);
    assert.equal(b.logs.skipped_step, 0);
  }
  const pa = plain.trainable.parameters();
  const pb = scaled.trainable.parameters();
  for (let i = 0; i < pa.length; i++) assert.deepEqual(bits(pb[i]!), bits(pa[i]!), `parameter ${i}`);
  assert.deepEqual(scaler.stateDict(), { scale: 65536, growthTracker: 3 });
  optPlain.disposeState();
  optScaled.disposeState();
  plain.trainable.dispose();
  scaled.trainable.dispose();
  x.dispose();
});

test('an overflowed gradient skips the step (no weight moves), halves the scale, and the next step runs', () => {
  // loss = w · x with x = 1e34: the gradient x times the scale 65536 overflows float32 (max 3.4e38); at 32768 not
  const trainable = new Linear(2, 1, false);
  noGrad(() => trainable.weight.copy_(tensor(Float32Array.from([1, 2]), [1, 2])));
  const s: Strategy = {
    name: 'big',
    trainable,
    step: (input: StepInput) => ({ losses: { loss: trainable.weight.mul(input.images).sum() }, logs: {} }),
    dispose() {},
  };
  const x = tensor(Float32Array.from([1e34, 1e34]), [1, 2]);
  const opt = new SGD([trainable.weight], { lr: 1e-34 });
  const scaler = new GradScaler();
  const live = memory().numTensors;
  const r1 = trainStep(s, opt, { images: x, targets: [], metas: [] }, 1, undefined, undefined, scaler);
  assert.equal(r1.skipped, true);
  assert.equal(r1.logs.skipped_step, 1);
  assert.equal(r1.logs.loss_scale, 65536);
  assert.equal(r1.logs.grad_norm, undefined, 'no clipping on a skipped step');
  assert.deepEqual(Array.from(trainable.weight.toTypedArray<'float32'>()), [1, 2]);
  assert.equal(trainable.weight.grad, null, 'the overflowed gradient is cleared');
  assert.deepEqual(scaler.stateDict(), { scale: 32768, growthTracker: 0 });
  assert.equal(memory().numTensors, live, 'a skipped step leaves no tensor behind');
  const r2 = trainStep(s, opt, { images: x, targets: [], metas: [] }, null, undefined, undefined, scaler);
  assert.equal(r2.skipped, false);
  // w -= lr · x: 1 - 1e-34 · 1e34 = 0, 2 - 1 = 1
  const w = Array.from(trainable.weight.toTypedArray<'float32'>());
  assert.ok(Math.abs(w[0]!) < 1e-6 && Math.abs(w[1]! - 1) < 1e-6, `weights ${w}`);
  assert.deepEqual(scaler.stateDict(), { scale: 32768, growthTracker: 1 });
  opt.disposeState();
  trainable.dispose();
  x.dispose();
});

test('the scale grows by growthFactor after growthInterval clean steps, backs off on overflow, never to infinity', () => {
  const s = new GradScaler({ initScale: 8, growthInterval: 3 });
  s.update(true);
  s.update(true);
  assert.deepEqual(s.stateDict(), { scale: 8, growthTracker: 2 });
  s.update(true);
  assert.deepEqual(s.stateDict(), { scale: 16, growthTracker: 0 });
  s.update(true);
  s.update(false);
  assert.deepEqual(s.stateDict(), { scale: 8, growthTracker: 0 });
  const top = new GradScaler({ initScale: 2 ** 127, growthInterval: 1 });
  top.update(true);
  assert.equal(top.scale, 2 ** 127, 'float32 has no 2^128: the scale stays');
});

test('unscale divides gradients in place and reports a NaN or inf in any of them; parameters without one are skipped', () => {
  const a = tensor(Float32Array.from([2, 4]), [2], { requiresGrad: true });
  const b = tensor(Float32Array.from([1]), [1], { requiresGrad: true });
  const c = tensor(Float32Array.from([1]), [1], { requiresGrad: true }); // no gradient
  a.grad = tensor(Float32Array.from([8, -16]), [2]);
  b.grad = tensor(Float32Array.from([4]), [1]);
  const s = new GradScaler({ initScale: 4 });
  assert.equal(s.unscale([a, b, c]), true);
  assert.deepEqual(Array.from(a.grad.toTypedArray<'float32'>()), [2, -4]);
  assert.deepEqual(Array.from(b.grad.toTypedArray<'float32'>()), [1]);
  b.grad = tensor(Float32Array.from([NaN]), [1]);
  assert.equal(s.unscale([a, b]), false);
  b.grad = tensor(Float32Array.from([-Infinity]), [1]);
  assert.equal(s.unscale([b]), false);
  assert.equal(s.unscale([c]), true, 'no gradients: nothing overflowed');
  for (const t of [a, b, c]) t.dispose();
});

test('state round trip, and clear errors on bad options and bad state', () => {
  const s = new GradScaler();
  s.loadStateDict({ scale: 1024, growthTracker: 17 });
  const t = new GradScaler();
  t.loadStateDict(JSON.parse(JSON.stringify(s.stateDict())));
  assert.deepEqual(t.stateDict(), { scale: 1024, growthTracker: 17 });
  assert.throws(() => new GradScaler({ initScale: 0 }), /initScale must be a positive number/);
  assert.throws(() => new GradScaler({ growthFactor: 1 }), /growthFactor must be > 1/);
  assert.throws(() => new GradScaler({ backoffFactor: 1 }), /backoffFactor must be in \(0, 1\)/);
  assert.throws(() => new GradScaler({ growthInterval: 0.5 }), /growthInterval must be a positive integer/);
  assert.throws(() => t.loadStateDict({ scale: -1, growthTracker: 0 }), /scale must be a positive number \(got -1\)/);
  assert.throws(() => t.loadStateDict({ scale: 2, growthTracker: -1 }), /growthTracker must be a non-negative integer/);
});
