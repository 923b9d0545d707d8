// The one training step (DESIGN.md §3: "the one step: sum, backward, step, log"), run by the trainer's data loop,
// the benchmarks and the tests alike: strategy.step (forward, assignment, named loss terms) inside a memory scope,
// the sum of the terms in the strategy's order, backward, the finiteness check of every logged number (before any
// weight moves), gradient clipping when the config asks, SGD step, zero grad; timed per phase. In fp16 a gradient
// scaler (torch.amp.GradScaler's loop) scales the loss before backward, unscales before clipping, and skips the step
// when a gradient overflowed.
import { tidy, type Tensor } from '../torch/index.js';
import { SGD, clipGradNorm, type GradScaler } from '../optim/index.js';
import type { Module } from '../nn/index.js';
import { stepLogs, sumLosses, type Strategy, type StepInput } from '../distill/strategy.js';
import type { Config } from '../config/schema.js';

/** What benchmarks that time trainStep record (the `step` field of their JSON): the trainer runs this same function. */
export const TRAIN_STEP = "engine/train_step.ts trainStep (the trainer's step)";

/** The trainer's optimizer: SGD with the config's lr, momentum and weight decay over `model`'s trainable parameters. */
export function buildOptimizer(config: Config, model: Module): SGD {
  const params = model.parameters().filter((p) => p.requiresGrad);
  const o = config.optimizer;
  return new SGD(params, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay });
}

/** Where a step is in a run (epoch and batch 0-based, iter = iterations done before it), for the divergence error. */
export interface StepPosition {
  epoch: number;
  batch: number;
  iter: number;
}

export interface TrainStepResult {
  /** the value of the loss that was backpropagated (the sum of the strategy's terms) */
  loss: number;
  /** the value of every loss term and the strategy's numbers, in its log order, plus grad_norm when clipping */
  logs: Record<string, number>;
  /** wall time (ms): strategy.step (forward, assignment, losses) + sum + logs, backward, clipping + optimizer step, and all */
  ms: { step: number; backward: number; optimizer: number; total: number };
  /** true when the gradient scaler found an overflowed gradient and no weight moved (fp16 only) */
  skipped: boolean;
}

/** Throws a clear error when a logged number (a loss term, a statistic) is NaN or infinite. */
export function checkFinite(logs: Record<string, number>, at?: StepPosition): void {
  for (const [k, v] of Object.entries(logs)) {
    if (!Number.isFinite(v)) {
      const where = at ? ` at iteration ${at.iter} (epoch ${at.epoch + 1}, batch ${at.batch + 1})` : '';
      throw new Error(`training diverged: ${k} = ${v}${where}; lower optimizer.lr or enable optimizer.gradClip`);
    }
  }
}

/** Data parallelism's part of a step (engine/ddp.ts DataParallel): gradients averaged over ranks. */
export interface GradientSync {
  /** Averages the gradients of `params` over ranks; false (nothing reduced) when any rank's losses were not finite. */
  allReduceGradients(params: readonly Tensor[], localOk: boolean): boolean;
}

/**
 * One iteration on `input`; `gradClip` (max gradient norm, null: none) as the config's optimizer.gradClip. A
 * non-finite logged number throws (checkFinite, naming `at` when given) after backward and before the optimizer
 * moves any weight; the gradients of that step are cleared first. Under data parallelism (`sync`) the gradients are
 * averaged over ranks after the backward, and a non-finite number on any rank stops every rank at the same step.
 * With a `scaler` (fp16) the scaled loss is backpropagated; an overflowed gradient skips the step (the scaler backs
 * off; logs.loss_scale says the scale the step ran with) instead of failing: the losses themselves stay checked.
 */
export function trainStep(
  strategy: Strategy,
  optimizer: SGD,
  input: StepInput,
  gradClip: number | null = null,
  at?: StepPosition,
  sync?: GradientSync,
  scaler?: GradScaler,
): TrainStepResult {
  const t0 = performance.now();
  let t1 = t0;
  let loss = NaN;
  const logs = tidy(() => {
    const r = strategy.step(input);
    const total = sumLosses(r.losses);
    const logs = stepLogs(r);
    loss = total.item();
    t1 = performance.now();
    (scaler === undefined ? total : scaler.scaleLoss(total)).backward();
    return logs;
  });
  const t2 = performance.now();
  let diverged: unknown = null;
  try {
    checkFinite(logs, at);
  } catch (e) {
    diverged = e;
  }
  const params = optimizer.paramGroups.flatMap((g) => g.params);
  if (sync !== undefined && !sync.allReduceGradients(params, diverged === null) && diverged === null) {
    const where = at ? ` at iteration ${at.iter} (epoch ${at.epoch + 1}, batch ${at.batch + 1})` : '';
    diverged = new Error(`training diverged on another rank${where}; lower optimizer.lr or enable optimizer.gradClip`);
  }
  if (diverged !== null) {
    optimizer.zeroGrad();
    throw diverged;
  }
  let skipped = false;
  if (scaler !== undefined) {
    logs.loss_scale = scaler.scale;
    // every rank holds the same averaged gradients here, so every rank skips alike
    skipped = !scaler.unscale(params);
    scaler.update(!skipped);
    // averaged per epoch in metrics.csv: the share of steps an overflow skipped
    logs.skipped_step = skipped ? 1 : 0;
  }
  if (!skipped) {
    if (gradClip !== null) logs.grad_norm = clipGradNorm(params, gradClip);
    optimizer.step();
  }
  optimizer.zeroGrad();
  const t3 = performance.now();
  return { loss, logs, ms: { step: t1 - t0, backward: t2 - t1, optimizer: t3 - t2, total: t3 - t0 }, skipped };
}
