// One training iteration outside the trainer's data loop, for benchmarks and tests that drive a strategy on a
// synthetic batch: the config's SGD over the trainable parameters, and the step itself as trainer.ts runs it
// (strategy.step inside a memory scope, backward, gradient clipping when the config asks, SGD step, zero grad),
// timed per phase.
import { tidy } from '../torch/index.js';
import { SGD, clipGradNorm } from '../optim/index.js';
import type { Module } from '../nn/index.js';
import type { Strategy, StepInput } from '../distill/strategy.js';
import type { Config } from '../config/schema.js';

/** The trainer's optimizer: SGD with the config's lr, momentum and weight decay over `model`'s trainable parameters. */
export function buildOptimizer(config: Config, model: Module): SGD {
  const params = model.parameters().filter((p) => p.requiresGrad);
  const o = config.optimizer;
  return new SGD(params, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay });
}

export interface TrainStepResult {
  /** the strategy's logs (losses, positives, its own timings), plus grad_norm when clipping */
  logs: Record<string, number>;
  /** wall time (ms): strategy.step (forward, assignment, losses), backward, clipping + optimizer step, and all */
  ms: { step: number; backward: number; optimizer: number; total: number };
}

/** One iteration on `input`; `gradClip` (max gradient norm, null: none) as the config's optimizer.gradClip. */
export function trainStep(strategy: Strategy, optimizer: SGD, input: StepInput, gradClip: number | null = null): TrainStepResult {
  const t0 = performance.now();
  let t1 = t0;
  const logs = tidy(() => {
    const r = strategy.step(input);
    t1 = performance.now();
    r.total.backward();
    return r.logs;
  });
  const t2 = performance.now();
  if (gradClip !== null) logs.grad_norm = clipGradNorm(optimizer.paramGroups.flatMap((g) => g.params), gradClip);
  optimizer.step();
  optimizer.zeroGrad();
  const t3 = performance.now();
  return { logs, ms: { step: t1 - t0, backward: t2 - t1, optimizer: t3 - t2, total: t3 - t0 } };
}
