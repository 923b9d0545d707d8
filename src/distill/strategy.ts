// A training strategy decides who assigns labels and which losses the student gets (DESIGN.md §1, §3). The
// trainer only calls step() inside a memory scope, backpropagates `total` and steps the optimizer.
import type { Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import type { SampleTargets } from '../data/batch.js';
import type { ImageMeta } from '../data/transforms.js';

export interface StepInput {
  /** (B, 3, H, W) normalised, padded batch */
  images: Tensor;
  targets: readonly SampleTargets[];
  metas: readonly ImageMeta[];
}

export interface StepResult {
  /** scalar to backpropagate */
  total: Tensor;
  /** numbers to log: loss terms, positives, timings (ms) */
  logs: Record<string, number>;
}

export interface Strategy {
  readonly name: string;
  /** what the optimizer trains and the checkpoints save (for CoLAD, both networks) */
  readonly trainable: Module;
  step(input: StepInput): StepResult;
  /** frees what the strategy owns besides `trainable` (teachers, caches) */
  dispose(): void;
}
