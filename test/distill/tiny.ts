// A world small enough to compute every loss term by hand: one 32x32 image, one pyramid level of stride 16 with one
// 16x16 anchor per cell (4 anchors), 2 classes, and "detectors" whose head outputs are their parameters, set per anchor.
//
//   anchors  a0 [0, 0, 16, 16]   a1 [16, 0, 32, 16]   a2 [0, 16, 16, 32]   a3 [16, 16, 32, 32]
//   GTs      g0 [0, 0, 16, 16] class 0 (= a0)          g1 [16, 16, 32, 24] class 1 (the top half of a3)
//
// A fixed assigner makes a0 -> g0 and a3 -> g1 the positives (a1, a2 background), whatever the outputs.
import { Module } from '../../src/nn/index.js';
import { type Tensor, ones, tensor } from '../../src/torch/index.js';
import { AnchorGenerator } from '../../src/det/anchors.js';
import { AnchorCache } from '../../src/assign/targets.js';
import {
  assignmentFromPositives,
  groupCandidates,
  type Assigner,
  type AssignTargets,
  type Assignment,
  type CandidateSet,
  type CostAssigner,
  type GtSampleRows,
  type HeadPredictions,
} from '../../src/assign/assignment.js';
import type { HeadOutputs } from '../../src/models/heads/outputs.js';
import type { Detector } from '../../src/models/detector.js';
import type { StepInput } from '../../src/distill/strategy.js';
import { meta } from './fixture.js';

export const A = 4;
export const C = 2;
export const ANCHORS = [
  [0, 0, 16, 16],
  [16, 0, 32, 16],
  [0, 16, 16, 32],
  [16, 16, 32, 32],
];
export const GTS = [
  [0, 0, 16, 16],
  [16, 16, 32, 24],
];

/** Per-anchor head outputs: cls (A x C) logits, reg (A x 4) deltas, iou (A) logits (null: no IoU branch). */
export interface TinyOutputs {
  cls: number[][];
  reg: number[][];
  iou: number[] | null;
}

/** A "detector" whose head outputs are its parameters (shape (1, K, 2, 2), cell (y, x) = anchor 2y + x). */
export class TinyNet extends Module {
  readonly numClasses = C;
  readonly strides = [16];
  readonly head = { clsKind: 'logits' as const };
  readonly cls: Tensor;
  readonly reg: Tensor;
  readonly iou: Tensor | null;

  constructor(o: TinyOutputs) {
    super();
    const grid = (rows: number[][]): Tensor => {
      const k = (rows[0] as number[]).length;
      const v = new Float32Array(k * A);
      rows.forEach((r, a) => r.forEach((x, j) => (v[j * A + a] = x)));
      return tensor(v, [1, k, 2, 2]);
    };
    this.cls = this.param('cls', grid(o.cls));
    this.reg = this.param('reg', grid(o.reg));
    this.iou = o.iou === null ? null : this.param('iou', grid(o.iou.map((x) => [x])));
  }

  forward(images: Tensor): HeadOutputs {
    if (images.dim(0) !== 1 || images.dim(2) !== 32 || images.dim(3) !== 32)
      throw new Error('TinyNet: one 32x32 image');
    return {
      cls: [this.cls.mul(1)],
      reg: [this.reg.mul(1)],
      iou: this.iou ? [this.iou.mul(1)] : null,
      clsKind: 'logits',
    };
  }

  asDetector(): Detector {
    return this as unknown as Detector;
  }
}

export function tinyAnchors(): AnchorCache {
  return new AnchorCache(
    new AnchorGenerator({ strides: [16], ratios: [1], octaveBaseScale: 1, scalesPerOctave: 1, centerOffset: 0.5 }),
  );
}

export function tinyInput(): StepInput {
  return {
    images: ones([1, 3, 32, 32]),
    targets: [{ boxes: Float32Array.from(GTS.flat()), labels: Int32Array.from([0, 1]) }],
    metas: [{ ...meta(1), oriShape: [32, 32], imgShape: [32, 32], padShape: [32, 32] }],
  };
}

/** a0 -> g0, a3 -> g1; records the class outputs it was given (to tell whose outputs assigned). */
export class FixedAssigner implements Assigner {
  seenCls: Float32Array | null = null;

  assign(targets: AssignTargets, preds: HeadPredictions | null): Assignment {
    this.seenCls = preds ? preds.clsLogits.toTypedArray<'float32'>() : null;
    return assignmentFromPositives(
      targets,
      [{ anchorInds: Int32Array.from([0, 3]), gtInds: Int32Array.from([0, 1]) }],
      ones([A]),
    );
  }
}

/**
 * A cost assigner that is not PAA: candidates a0 -> g0 and a3 -> g1 (one per (GT, level) group), cost 1 - sigmoid(the
 * GT class's output) of the network given, and the same positives whatever the costs (it records the costs it got).
 */
export class FixedCostAssigner extends FixedAssigner implements CostAssigner {
  decidedOn: number[] | null = null;

  candidates(targets: AssignTargets): CandidateSet {
    const images = [{ anchorInds: Int32Array.from([0, 3]), gtInds: Int32Array.from([0, 1]), numGt: 2 }];
    return { images, groups: images.map((c) => groupCandidates(c, targets.levelStarts)), labelWeights: ones([A]) };
  }

  costs(_targets: AssignTargets, _set: CandidateSet, preds: HeadPredictions): Float32Array[] {
    const cls = preds.clsLogits.toTypedArray<'float32'>();
    return [Float32Array.from([1 - sigmoid(cls[0 * C + 0]!), 1 - sigmoid(cls[3 * C + 1]!)])];
  }

  decisionSamples(set: CandidateSet, costs: readonly ArrayLike<number>[]): GtSampleRows {
    const c = costs[0]!;
    return {
      stride: 2,
      x: Float64Array.from([c[0]!, 0, c[1]!, 0]),
      who: Int32Array.from([0, 0, 1, 0]),
      counts: Int32Array.from([1, 1]),
    };
  }

  assignFromCosts(targets: AssignTargets, set: CandidateSet, costs: readonly ArrayLike<number>[]): Assignment {
    this.decidedOn = Array.from(costs[0]!);
    return assignmentFromPositives(
      targets,
      [{ anchorInds: set.images[0]!.anchorInds, gtInds: set.images[0]!.gtInds }],
      set.labelWeights,
    );
  }
}

// ---- the hand computations (float64) ----

export const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
/** BCE with logits: softplus(z) - y z */
export const bce = (z: number, y: number): number => Math.log1p(Math.exp(z)) - y * z;

/** sigmoid focal loss of one element (alpha 0.25, gamma 2), target 1 or 0 */
export function focal(z: number, positive: boolean): number {
  const p = sigmoid(z);
  return positive ? 0.25 * (1 - p) ** 2 * bce(z, 1) : 0.75 * p ** 2 * bce(z, 0);
}

/** IoU and GIoU of two boxes (x1, y1, x2, y2) */
export function giou(a: number[], b: number[]): { iou: number; giou: number } {
  const [ax1, ay1, ax2, ay2] = a as [number, number, number, number];
  const [bx1, by1, bx2, by2] = b as [number, number, number, number];
  const inter =
    Math.max(0, Math.min(ax2, bx2) - Math.max(ax1, bx1)) * Math.max(0, Math.min(ay2, by2) - Math.max(ay1, by1));
  const union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
  const enclose = (Math.max(ax2, bx2) - Math.min(ax1, bx1)) * (Math.max(ay2, by2) - Math.min(ay1, by1));
  const iou = inter / union;
  return { iou, giou: iou - (enclose - union) / enclose };
}

/** DeltaXYWH decode with PAA's stds (0.1, 0.1, 0.2, 0.2) */
export function decode(anchor: number[], d: number[]): number[] {
  const [x1, y1, x2, y2] = anchor as [number, number, number, number];
  const [dx, dy, dw, dh] = d as [number, number, number, number];
  const w = x2 - x1;
  const h = y2 - y1;
  const cx = (x1 + x2) / 2 + w * dx * 0.1;
  const cy = (y1 + y2) / 2 + h * dy * 0.1;
  const hw = (w * Math.exp(dw * 0.2)) / 2;
  const hh = (h * Math.exp(dh * 0.2)) / 2;
  return [cx - hw, cy - hh, cx + hw, cy + hh];
}

/** focal-weighted Bernoulli KL of one element (algorithms.md §5.2): KL(t || p) · ((t - p)² + 1e-6)^(gamma / 2) */
export function focalKl(zs: number, zt: number, gamma: number): number {
  const p = sigmoid(zs);
  const t = sigmoid(zt);
  const kl = t * Math.log(t / p) + (1 - t) * Math.log((1 - t) / (1 - p));
  return kl * ((t - p) ** 2 + 1e-6) ** (gamma / 2);
}

/** |got - want| within float32 rounding of the computation */
export function close(got: number, want: number, what: string, rel = 2e-6): void {
  if (!(Math.abs(got - want) <= rel * Math.max(1, Math.abs(want))))
    throw new Error(`${what}: got ${got}, want ${want} (diff ${got - want})`);
}
