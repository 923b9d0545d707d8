// trainStep / buildOptimizer on a one-layer "detector" whose loss and gradient are known by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memory, noGrad, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import { Linear } from '../../src/nn/index.js';
import { SGD } from '../../src/optim/index.js';
import { parseConfig } from '../../src/config/schema.js';
import { buildOptimizer, trainStep } from '../../src/engine/train_step.js';
import { TeacherStrategy } from '../../src/distill/lad.js';
import { stepLogs, sumLosses, type Strategy, type StepInput } from '../../src/distill/strategy.js';
import { modelSection } from '../distill/fixture.js';
import { FixedAssigner, TinyNet, tinyAnchors, tinyInput } from '../distill/tiny.js';

const config = (optimizer: Record<string, unknown>) =>
  parseConfig({ name: 't', data: { root: 'unused' }, model: modelSection, optimizer });

/** loss = w · x over the (1, 2) weight of a bias-free Linear, so d loss / d w = x. */
function linearStrategy(w: [number, number]): Strategy & { trainable: Linear } {
  const trainable = new Linear(2, 1, false);
  noGrad(() => trainable.weight.copy_(tensor(Float32Array.from(w), [1, 2])));
  return {
    name: 'linear',
    trainable,
    step(input: StepInput) {
      return { losses: { loss: trainable.weight.mul(input.images).sum() }, logs: {} };
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
  assert.ok(
    Math.abs((w[0] as number) - (1 - 0.5 * 1.5)) < 1e-5 && Math.abs((w[1] as number) - (2 - 0.5 * 2)) < 1e-5,
    `weights ${w}`,
  );
  opt.disposeState();
  s.trainable.dispose();
  x.dispose();
});

test("buildOptimizer: the config's hyper-parameters over the trainable parameters only", () => {
  const net = new Linear(2, 3);
  net.bias!.requiresGrad = false;
  const opt = buildOptimizer(config({ lr: 0.02, momentum: 0.8, weightDecay: 0.001 }), net);
  assert.equal(opt.paramGroups.length, 1);
  const g = opt.paramGroups[0]!;
  assert.deepEqual(
    [g.params.length, g.params[0]!.shape, g.lr, g.momentum, g.weightDecay],
    [1, [3, 2], 0.02, 0.8, 0.001],
  );
  net.dispose();
});

/** SGD that records the gradients it steps with. */
class RecordingSGD extends SGD {
  grads: Float32Array[] = [];
  override step(): void {
    this.grads = this.paramGroups.flatMap((g) => g.params).map((p) => gradOf(p));
    super.step();
  }
}

function gradOf(p: Tensor): Float32Array {
  const g = p.grad;
  if (g === null) throw new Error('no gradient');
  const v = g.toTypedArray<'float32'>();
  g.dispose();
  return v;
}

/** SoLAD on the tiny world of test/distill/tiny.ts: six loss terms. */
function tinySolad() {
  const outputs = (cls: number, reg: number, iou: number) => ({
    cls: [
      [cls, 0.5],
      [-1, 0],
      [0.25, 2],
      [0, -0.5],
    ],
    reg: [
      [reg, 0, 0.1, 0],
      [0, 0.3, 0, 0],
      [0, 0, 0, 0.2],
      [-0.4, 0, 0, 0],
    ],
    iou: [iou, 0, 1, -1],
  });
  const student = new TinyNet(outputs(1, 5, 0.5));
  const teacher = new TinyNet(outputs(-1, 0, 0));
  const anchors = tinyAnchors();
  const kd = { gamma: 0.5, minIou: 0.3, clsWeight: 2, iouWeight: 10, bboxWeight: 1.3 };
  const strategy = new TeacherStrategy(
    'solad',
    student.asDetector(),
    teacher.asDetector(),
    new FixedAssigner(),
    anchors,
    {},
    kd,
  );
  return { strategy, student, dispose: () => [student, teacher, anchors].forEach((x) => x.dispose()) };
}

test("trainStep backpropagates the sum of the strategy's terms in their order, and logs each term", () => {
  const { strategy, student, dispose } = tinySolad();
  const input = tinyInput();
  // by hand: the terms, their sum in insertion order, and the gradient of that sum
  const { terms, logs, grads } = tidy(() => {
    const r = strategy.step(input);
    const terms = Object.entries(r.losses).map(([k, t]) => [k, t.item()] as const);
    sumLosses(r.losses).backward();
    return { terms, logs: stepLogs(r), grads: student.parameters().map(gradOf) };
  });
  for (const p of student.parameters()) p.grad = null;
  assert.equal(terms.length, 6);
  const opt = new RecordingSGD(student.parameters(), { lr: 0.01 });
  const r = trainStep(strategy, opt, input);
  // the loss: ((t0 + t1) + t2) + … in float32, as the strategies summed their terms before
  assert.equal(
    r.loss,
    terms.slice(1).reduce((s, [, v]) => Math.fround(s + v), terms[0]![1]),
  );
  for (const [k, v] of terms) assert.equal(r.logs[k], v, k);
  assert.deepEqual(Object.keys(r.logs), Object.keys(logs), 'the log keys in the strategy order');
  // the optimizer stepped with exactly the gradient of the sum
  assert.equal(opt.grads.length, grads.length);
  opt.grads.forEach((g, i) => assert.deepEqual(g, grads[i], `parameter ${i}`));
  assert.ok(grads.every((g) => g.some((x) => x !== 0)));
  opt.disposeState();
  input.images.dispose();
  dispose();
});

test('a non-finite term stops the step before the optimizer moves: the error names the term and where', () => {
  const s = linearStrategy([1, 2]);
  const bad: Strategy = {
    ...s,
    step: (input) => ({
      losses: { loss_a: s.step(input).losses.loss!, loss_b: tensor(Float32Array.from([NaN]), []) },
      logs: {},
    }),
  };
  const x = tensor(Float32Array.from([3, 4]), [1, 2]);
  const opt = buildOptimizer(config({ lr: 0.5, momentum: 0, weightDecay: 0 }), s.trainable);
  assert.throws(
    () => trainStep(bad, opt, { images: x, targets: [], metas: [] }, null, { epoch: 1, batch: 3, iter: 7 }),
    {
      message:
        'training diverged: loss_b = NaN at iteration 7 (epoch 2, batch 4); lower optimizer.lr or enable optimizer.gradClip',
    },
  );
  assert.deepEqual(weight(s), [1, 2], 'no weight moved');
  assert.equal(s.trainable.weight.grad, null, 'the step left no gradient behind');
  assert.throws(() => trainStep(bad, opt, { images: x, targets: [], metas: [] }), {
    message: /^training diverged: loss_b = NaN; /,
  });
  opt.disposeState();
  s.trainable.dispose();
  x.dispose();
});
