// A training strategy decides who assigns labels and which losses the student gets (DESIGN.md §1, §3). It returns
// its named loss terms and a few numbers to log; the one training step (src/engine/train_step.ts trainStep, which
// the trainer and the benchmarks both run) sums the terms, backpropagates, clips, steps the optimizer and logs.
import type { Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import type { SampleTargets } from '../data/batch.js';
import type { ImageMeta } from '../data/transforms.js';
import type { Assignment } from '../assign/assignment.js';

export interface StepInput {
  /** (B, 3, H, W) normalised, padded batch */
  images: Tensor;
  targets: readonly SampleTargets[];
  metas: readonly ImageMeta[];
}

export interface StepResult {
  /**
   * The named loss terms (scalars with gradient, e.g. loss_cls, loss_bbox, loss_iou, loss_kd_cls). The loss that is
   * backpropagated is their sum in this record's insertion order: ((t0 + t1) + t2) + … (see sumLosses).
   */
  losses: Record<string, Tensor>;
  /** the other numbers to log: positives, timings (ms), switch statistics */
  logs: Record<string, number>;
  /**
   * The order of the logged keys, loss terms and numbers together (metrics.csv columns follow it). Default: the
   * loss terms, then the numbers. Keys it does not name follow in that default order.
   */
  logOrder?: readonly string[];
  /** the assignment the losses were computed on, when the strategy assigns (it lives in the caller's memory scope) */
  assignment?: Assignment;
}

export interface Strategy {
  readonly name: string;
  /** what the optimizer trains and the checkpoints save (for CoLAD, both networks) */
  readonly trainable: Module;
  /** forward, assignment and loss terms of one batch; called inside the step's memory scope */
  step(input: StepInput): StepResult;
  /** frees what the strategy owns besides `trainable` (teachers, caches) */
  dispose(): void;
}

/** The loss to backpropagate: the terms summed left to right in insertion order. */
export function sumLosses(losses: Record<string, Tensor>): Tensor {
  const terms = Object.values(losses);
  if (terms.length === 0) throw new Error('strategy step returned no loss term');
  let total = terms[0] as Tensor;
  for (let i = 1; i < terms.length; i++) total = total.add(terms[i] as Tensor);
  return total;
}

/** What a step logs: every loss term's value (`.item()`) and the strategy's numbers, in the step's log order. */
export function stepLogs(r: StepResult): Record<string, number> {
  const out: Record<string, number> = {};
  const put = (k: string): void => {
    if (Object.hasOwn(out, k)) return;
    if (Object.hasOwn(r.losses, k)) out[k] = (r.losses[k] as Tensor).item();
    else if (Object.hasOwn(r.logs, k)) out[k] = r.logs[k] as number;
  };
  for (const k of r.logOrder ?? []) put(k);
  for (const k of Object.keys(r.losses)) put(k);
  for (const k of Object.keys(r.logs)) put(k);
  return out;
}
