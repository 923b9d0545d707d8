// trainStep / buildOptimizer on a one-layer "detector" whose loss and gradient are known by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memory, noGrad, tensor } from '../../src/torch/index.js';
import { Linear } from '../../src/nn/index.js';
import { parseConfig } from '../../src/config/schema.js';
import { buildOptimizer, trainStep } from '../../src/engine/train_step.js';
import type { Strategy, StepInput } from '../../src/distill/strategy.js';
import { modelSection } from '../distill/fixture.js';

const config = (optimizer: Record<string, unknown>) => parseConfig({ name: 't', data: { root: 'unused' }, model: modelSection, optimizer });

/** loss = w · x over the (1, 2) weight of a bias-free Linear, so d loss / d w = x. */
function linearStrategy(w: [number, number]): Strategy & { trainable: Linear } {
  const trainable = new Linear(2, 1, false);
  noGrad(() => trainable.weight.copy_(tensor(Float32Array.from(w), [1, 2])));
  return {
    name: 'linear',
    trainable,
    step(input: StepInput) {
      const total = trainable.weight.mul(input.images).sum();
      return { total, logs: { loss: total.item() } };
    },
    dispose() {},
  };
}

const weight = (s: { trainable: Linear }): number[] => Array.from(s.trainable.weight.toTypedArray<'float32'>());

test('trainStep: the strategy loss, its gradient and one SGD step, as computed by hand', () => {
  const s = linearStrategy([1, 2]);
  const x = tensor(Float32Array.from([3, 4]), [1, 2]);
  const opt = buildOptimizer(config({ lr: 0.5, momentum: 0, weightDecay: 0 }), s.trainable);
  const input = { images: x, targets: [], metas: [] };
  const r = trainStep(s, opt, input);
  assert.deepEqual(r.logs, { loss: 11 });
  assert.deepEqual(weight(s), [1 - 0.5 * 3, 2 - 0.5 * 4]);
  assert.equal(s.trainable.weight.grad, null, 'gradients are cleared after the step');
  assert.ok(r.ms.step >= 0 && r.ms.backward >= 0 && r.ms.optimizer >= 0);
  assert.ok(Math.abs(r.ms.total - (r.ms.step + r.ms.backward + r.ms.optimizer)) < 1e-6);
  // the step's own tensors (loss, graph) are released: the live count stays flat from step to step
  const live = memory().numTensors;
  trainStep(s, opt, input);
  assert.equal(memory().numTensors, live);
  opt.disposeState();
  s.trainable.dispose();
  x.dispose();
});

test('trainStep with gradClip: the gradient norm is logged and the update scaled to the bound', () => {
  const s = linearStrategy([1, 2]);
  const x = tensor(Float32Array.from([3, 4]), [1, 2]);
  const opt = buildOptimizer(config({ lr: 0.5, momentum: 0, weightDecay: 0, gradClip: 2.5 }), s.trainable);
  const r = trainStep(s, opt, { images: x, targets: [], metas: [] }, 2.5);
  // |(3, 4)| = 5, clipped to 2.5: the gradient is halved to (1.5, 2)
  assert.ok(Math.abs((r.logs.grad_norm as number) - 5) < 1e-5, `grad_norm ${r.logs.grad_norm}`);
  const w = weight(s);
  assert.ok(Math.abs((w[0] as number) - (1 - 0.5 * 1.5)) < 1e-5 && Math.abs((w[1] as number) - (2 - 0.5 * 2)) < 1e-5, `weights ${w}`);
  opt.disposeState();
  s.trainable.dispose();
  x.dispose();
});

test('buildOptimizer: the config\'s hyper-parameters over the trainable parameters only', () => {
  const net = new Linear(2, 3);
  net.bias!.requiresGrad = false;
  const opt = buildOptimizer(config({ lr: 0.02, momentum: 0.8, weightDecay: 0.001 }), net);
  assert.equal(opt.paramGroups.length, 1);
  const g = opt.paramGroups[0]!;
  assert.deepEqual([g.params.length, g.params[0]!.shape, g.lr, g.momentum, g.weightDecay], [1, [3, 2], 0.02, 0.8, 0.001]);
  net.dispose();
});
