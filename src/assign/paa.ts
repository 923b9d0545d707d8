// PAA label assignment (mmdetection PAAHead: get_pos_loss + paa_reassign + gmm_separation_scheme), split so LAD and
// CoLAD can reuse the pieces:
//   preAssignCandidates  max-IoU pre-assignment (0.1 / 0.1, low-quality matches) -> candidates per image
//   candidateCosts       the PAA cost of each candidate from any network's outputs (noGrad)
//   groupCandidates      (assignment.ts) candidates per (GT, FPN level): the unit of the per-level top-k and of
//                        CoLAD's switch
//   reassign             per GT: per-level top-k lowest costs, GMM, separation scheme (c) -> positives
//   PaaAssigner          all of it as an Assigner (PAA: student outputs; LAD: pass the teacher's outputs), and its
//                        steps as a CostAssigner (CoLAD mixes two networks' costs between them)
// The GMM runs once for all GTs of all images of the batch (see gmm.ts).
import { Tensor, binaryCrossEntropy, cat, noGrad, onesLike, tensor, tidy, zerosLike } from '../torch/index.js';
import { DeltaXYWHCoder } from '../det/box_coder.js';
import { alignedGiou } from '../det/iou.js';
import { z } from 'zod';
import {
  assignmentFromPositives,
  checkTargets,
  defineAssigner,
  groupCandidates,
  type AssignTargets,
  type Assignment,
  type CandidateGroups,
  type CandidateSet,
  type CostAssigner,
  type GtSampleRows,
  type HeadPredictions,
  type ImageCandidates,
} from './assignment.js';
import { fitGmm2, predictGmm2, type GmmOptions } from './gmm.js';
import { PAA_PRE_ASSIGN, maxIouAssign, type MaxIoUConfig } from './max_iou.js';

export interface PaaCostOptions {
  /** focal loss alpha and gamma (mmdetection FocalLoss defaults) */
  alpha?: number;
  gamma?: number;
  /** weight of the focal term (FocalLoss loss_weight) */
  clsWeight?: number;
  /** weight of the 1 - GIoU term (GIoULoss loss_weight) */
  giouWeight?: number;
  coder?: DeltaXYWHCoder;
}

export interface PaaOptions extends PaaCostOptions {
  /** lowest-cost candidates kept per GT and level */
  topk?: number;
  preAssign?: MaxIoUConfig;
  gmm?: GmmOptions;
}

/**
 * Max-IoU pre-assignment of every image. Returns the candidates (on the CPU) and the batch's label weights
 * (B·A) float32 (1 on valid, non-ignored anchors) on the anchors' device.
 */
export function preAssignCandidates(
  targets: AssignTargets,
  cfg: MaxIoUConfig = PAA_PRE_ASSIGN,
): { candidates: ImageCandidates[]; labelWeights: Tensor } {
  return noGrad(() => {
    const candidates: ImageCandidates[] = [];
    const labelWeights = tidy(() => {
      const weights: Tensor[] = [];
      const assignedAll: Tensor[] = [];
      targets.gtBoxes.forEach((gt, i) => {
        const { assignedGt } = maxIouAssign(targets.anchors, targets.validFlags.select(0, i), gt, cfg);
        assignedAll.push(assignedGt);
        weights.push(assignedGt.ge(0).to('float32'));
      });
      // One device->host copy for the whole batch.
      const a = targets.anchors.dim(0);
      const assigned = cat(assignedAll).to('int32').toTypedArray<'int32'>();
      targets.gtBoxes.forEach((gt, i) => {
        const row = assigned.subarray(i * a, (i + 1) * a);
        let p = 0;
        for (let j = 0; j < a; j++) if ((row[j] as number) > 0) p++;
        const anchorInds = new Int32Array(p);
        const gtInds = new Int32Array(p);
        p = 0;
        for (let j = 0; j < a; j++) {
          const v = row[j] as number;
          if (v > 0) {
            anchorInds[p] = j;
            gtInds[p++] = v - 1;
          }
        }
        candidates.push({ anchorInds, gtInds, numGt: gt.dim(0) });
      });
      return cat(weights);
    });
    return { candidates, labelWeights };
  });
}

/**
 * PAA cost of each candidate, computed without gradient from one network's outputs:
 * cost = clsWeight · Σ_c focal(z_c, onehot(label)_c) (α-balanced, summed over ALL classes) + giouWeight · (1 − GIoU)
 * of the decoded box (not clipped) and its GT. For heads that output probabilities (preds.clsKind 'probs': COP,
 * IOP) the focal term is the probability-space focal loss, as ccdet's get_pos_loss with ProbFocalLoss.
 * Returns one Float32Array (P_i) per image.
 */
export function candidateCosts(
  targets: AssignTargets,
  candidates: readonly ImageCandidates[],
  preds: HeadPredictions,
  opts: PaaCostOptions = {},
): Float32Array[] {
  const alpha = opts.alpha ?? 0.25;
  const gamma = opts.gamma ?? 2;
  const clsWeight = opts.clsWeight ?? 1;
  const giouWeight = opts.giouWeight ?? 1.3;
  const coder = opts.coder ?? new DeltaXYWHCoder();
  const device = preds.clsLogits.device;
  const probs = (preds.clsKind ?? 'logits') === 'probs';
  const anchorsOf = (idx: Tensor): Tensor => targets.anchors.toDevice(device).indexSelect(0, idx);
  const deltasOf = (i: number, idx: Tensor): Tensor => preds.regDeltas.select(0, i).indexSelect(0, idx).to('float32');
  const gtOf = (i: number, gi: Tensor): Tensor => targets.gtBoxes[i]!.toDevice(device).to('float32').indexSelect(0, gi);
  const flat = noGrad(() =>
    tidy(() => {
      const parts = candidates.map((c, i) => {
        if (c.anchorInds.length === 0) return tensor(new Float32Array(0), [0], { device });
        const idx = tensor(
          BigInt64Array.from(c.anchorInds, (v) => BigInt(v)),
          [c.anchorInds.length],
          { device },
        );
        const gi = tensor(
          BigInt64Array.from(c.gtInds, (v) => BigInt(v)),
          [c.gtInds.length],
          { device },
        );
        const z = preds.clsLogits.select(0, i).indexSelect(0, idx).to('float32');
        const boxes = coder.decode(anchorsOf(idx), deltasOf(i, idx));
        const gtBoxes = gtOf(i, gi);
        const labels = targets.gtLabels[i]!.toDevice(device).to('int64').indexSelect(0, gi).unsqueeze(1);
        let negTerm: Tensor;
        let posTerm: Tensor;
        if (probs) {
          // Probability-space focal loss (ccdet ProbFocalLoss): BCE(p, t) with logs clamped at -100, as PyTorch's.
          negTerm = z
            .pow(gamma)
            .mul(binaryCrossEntropy(z, zerosLike(z), null, 'none'))
            .mul(1 - alpha);
          const pl = z.gather(1, labels).squeeze(1);
          posTerm = pl
            .rsub(1)
            .pow(gamma)
            .mul(binaryCrossEntropy(pl, onesLike(pl), null, 'none'))
            .mul(alpha);
        } else {
          // Negative-class term on every class: (1-α) p^γ · BCE(z, 0), with BCE(z, 0) = softplus(z).
          const p = z.sigmoid();
          negTerm = p
            .pow(gamma)
            .mul(z.softplus())
            .mul(1 - alpha);
          // The GT class swaps its negative term for α (1-p)^γ · BCE(z, 1), BCE(z, 1) = softplus(-z).
          const zl = z.gather(1, labels).squeeze(1);
          const pl = zl.sigmoid();
          posTerm = pl.rsub(1).pow(gamma).mul(zl.neg().softplus()).mul(alpha);
        }
        const focal = negTerm.sum(1).sub(negTerm.gather(1, labels).squeeze(1)).add(posTerm);
        const giou = alignedGiou(boxes, gtBoxes);
        return focal.mul(clsWeight).add(giou.rsub(1).mul(giouWeight));
      });
      return cat(parts);
    }),
  );
  const all = flat.toTypedArray<'float32'>();
  flat.dispose();
  const out: Float32Array[] = [];
  let off = 0;
  for (const c of candidates) {
    out.push(all.slice(off, off + c.anchorInds.length));
    off += c.anchorInds.length;
  }
  return out;
}

/** What happened to each GT in the re-assignment, for logging and tests. */
export enum GtOutcome {
  /** positives chosen by the GMM */
  Positive = 0,
  /** fewer than 2 samples: no positive (mmdetection skips the GT) */
  TooFewSamples = 1,
  /** the GMM put no sample in the low-cost component: no positive */
  NoForeground = 2,
  /** a cost was not finite: no positive (ccdet's try/except skip) */
  FitFailed = 3,
}

export interface ImageReassign {
  /** (P) 1 for candidates that stay positive */
  positive: Uint8Array;
  /** (numGt) GtOutcome of each GT */
  outcome: Uint8Array;
  /** (numGt) GMM iterations of each GT (0 when not fitted) */
  nIter: Int32Array;
  /** (numGt) number of positives of each GT */
  numPos: Int32Array;
}

export interface ReassignResult {
  images: ImageReassign[];
  /** positives in the batch */
  numPos: number;
}

/** Builds the GMM input rows of PAA (see GtSampleRows) from candidate costs. */
export function gtSampleRows(
  candidates: readonly ImageCandidates[],
  groups: readonly CandidateGroups[],
  costs: readonly ArrayLike<number>[],
  topk: number,
): GtSampleRows {
  if (groups.length !== candidates.length || costs.length !== candidates.length) {
    throw new Error(`reassign: ${candidates.length} images, ${groups.length} groupings, ${costs.length} cost arrays`);
  }
  const numLevels = groups[0]?.numLevels ?? 0;
  const stride = Math.max(2, topk * numLevels);
  let totalGt = 0;
  candidates.forEach((c, i) => {
    if (costs[i]!.length !== c.anchorInds.length) {
      throw new Error(`reassign: image ${i} has ${c.anchorInds.length} candidates but ${costs[i]!.length} costs`);
    }
    totalGt += c.numGt;
  });
  // Gather every GT's samples into one padded (G, stride) matrix: sorted costs and the candidate behind each.
  const x = new Float64Array(totalGt * stride);
  const who = new Int32Array(totalGt * stride);
  const counts = new Int32Array(totalGt);
  const bufCost = new Float64Array(topk);
  const bufPos = new Int32Array(topk);
  const rowCost = new Float64Array(stride);
  const rowPos = new Int32Array(stride);
  const rowIdx = new Int32Array(stride);
  let row = 0;
  candidates.forEach((c, i) => {
    const grp = groups[i]!;
    const cost = costs[i]!;
    for (let g = 0; g < c.numGt; g++, row++) {
      let n = 0;
      for (let l = 0; l < grp.numLevels; l++) {
        const s = grp.starts[g * grp.numLevels + l] as number;
        const e = grp.starts[g * grp.numLevels + l + 1] as number;
        // Keep the k lowest (cost, position) pairs by insertion into a sorted buffer.
        let k = 0;
        for (let q = s; q < e; q++) {
          const j = grp.order[q] as number;
          const v = cost[j] as number;
          if (k === topk && !before(v, j, bufCost[k - 1] as number, bufPos[k - 1] as number)) continue;
          let t = k < topk ? k++ : k - 1;
          while (t > 0 && before(v, j, bufCost[t - 1] as number, bufPos[t - 1] as number)) {
            bufCost[t] = bufCost[t - 1] as number;
            bufPos[t] = bufPos[t - 1] as number;
            t--;
          }
          bufCost[t] = v;
          bufPos[t] = j;
        }
        for (let t = 0; t < k; t++) {
          rowCost[n] = bufCost[t] as number;
          rowPos[n++] = bufPos[t] as number;
        }
      }
      counts[row] = n;
      // Sort the row's samples by cost (stable in position).
      for (let t = 0; t < n; t++) rowIdx[t] = t;
      const idx = rowIdx.subarray(0, n);
      idx.sort((a, b) =>
        before(rowCost[a] as number, rowPos[a] as number, rowCost[b] as number, rowPos[b] as number) ? -1 : 1,
      );
      for (let t = 0; t < n; t++) {
        x[row * stride + t] = rowCost[idx[t] as number] as number;
        who[row * stride + t] = rowPos[idx[t] as number] as number;
      }
    }
  });
  return { stride, x, who, counts };
}

/**
 * PAA re-assignment given candidate costs (from any source: own outputs, a teacher's, a per-group mix).
 * For each GT: the min(n, topk) lowest-cost candidates of each level, concatenated and sorted by cost; fewer than
 * 2 -> no positive; else a 2-component GMM (sklearn's EM, see gmm.ts), and positives by scheme (c): among samples
 * predicted in component 0 (initialised at the lowest cost), the first ones up to and including the one with the
 * highest mixture log-density. Ties in cost keep the lower anchor index first. When the GMM collapses (all of a GT's
 * samples equal up to COLLAPSED_REL_TOL of their scale) the GT gets one positive, its lowest-cost sample.
 */
export function reassign(
  candidates: readonly ImageCandidates[],
  groups: readonly CandidateGroups[],
  costs: readonly ArrayLike<number>[],
  opts: { topk?: number; gmm?: GmmOptions } = {},
): ReassignResult {
  const { stride, x, who, counts } = gtSampleRows(candidates, groups, costs, opts.topk ?? 9);
  let row = 0;
  // Only rows with >= 2 samples are fitted (the others get no positive, as upstream).
  const fitCounts = counts.map((n) => (n >= 2 ? n : 0));
  const fit = fitGmm2(x, fitCounts, stride, opts.gmm);
  const pred = predictGmm2(fit, x, fitCounts, stride);
  let numPos = 0;
  const images = candidates.map((c) => {
    const res: ImageReassign = {
      positive: new Uint8Array(c.anchorInds.length),
      outcome: new Uint8Array(c.numGt),
      nIter: new Int32Array(c.numGt),
      numPos: new Int32Array(c.numGt),
    };
    for (let g = 0; g < c.numGt; g++, row++) {
      const n = counts[row] as number;
      if (n < 2) {
        res.outcome[g] = GtOutcome.TooFewSamples;
        continue;
      }
      res.nIter[g] = fit.nIter[row] as number;
      if (fit.failed[row]) {
        res.outcome[g] = GtOutcome.FitFailed;
        continue;
      }
      const off = row * stride;
      if (collapsedRow(x, off, n)) {
        // The GMM has collapsed (all costs equal up to float32 noise): the lowest-cost sample is the one positive.
        res.positive[who[off] as number] = 1;
        res.numPos[g] = 1;
        numPos += 1;
        continue;
      }
      // Scheme (c): the fg sample with the highest score (first on ties) closes the positive prefix of fg samples.
      let best = -Infinity;
      let peak = -1;
      for (let t = 0; t < n; t++) {
        if (pred.labels[off + t] !== 0) continue;
        const s = pred.scores[off + t] as number;
        if (peak < 0 || s > best) {
          best = s;
          peak = t;
        }
      }
      if (peak < 0) {
        res.outcome[g] = GtOutcome.NoForeground;
        continue;
      }
      let k = 0;
      for (let t = 0; t <= peak; t++) {
        if (pred.labels[off + t] !== 0) continue;
        res.positive[who[off + t] as number] = 1;
        k++;
      }
      res.numPos[g] = k;
      numPos += k;
    }
    return res;
  });
  return { images, numPos };
}

/**
 * Relative spread below which a GT's samples count as equal costs (the collapsed-GMM rule): 2^-18 ≈ 3.8e-6, i.e. 64
 * float32 unit roundoffs (2^-24) of the cost scale max|x|. Why this size:
 * - the costs are float32 sums (focal over all C classes + the GIoU term, see candidateCosts), each carrying a
 *   rounding error of several to tens of unit roundoffs of its magnitude; two costs closer than that are equal at
 *   the precision they were computed in (e.g. 13.799243927001953 and 13.799245834350586 are two float32 steps apart);
 * - at such spreads (below 4e-4 for costs up to 100) the EM cannot separate them either: both components converge
 *   to the same mean with variance ≈ reg_covar (1e-6, std 1e-3 ≫ spread), and predict's labels are then decided by
 *   rounding in the weights (0.4999999999998 vs 0.5000000000002), so a GT could get no positive at all where exactly
 *   equal costs get one. sklearn itself raises "ill-defined empirical covariance" on such rows (x² in float32).
 * Well-separated costs (spreads of 1e-3 and more of the scale, e.g. 0.10 / 0.11 / 0.12) are far above it and keep
 * sklearn's answer.
 */
export const COLLAPSED_REL_TOL = 2 ** -18;

/** Whether the n sorted costs x[off..off+n) are equal up to COLLAPSED_REL_TOL of their scale. */
function collapsedRow(x: ArrayLike<number>, off: number, n: number): boolean {
  const lo = x[off] as number;
  const hi = x[off + n - 1] as number;
  return hi - lo <= COLLAPSED_REL_TOL * Math.max(Math.abs(lo), Math.abs(hi));
}

/** (cost a, position a) sorts before (cost b, position b). */
function before(ca: number, pa: number, cb: number, pb: number): boolean {
  return ca < cb || (ca === cb && pa < pb);
}

/** Positives of one image as image-local anchor and GT indices. */
export function positivesOf(c: ImageCandidates, r: ImageReassign): { anchorInds: Int32Array; gtInds: Int32Array } {
  const n = r.positive.reduce((s, v) => s + v, 0);
  const anchorInds = new Int32Array(n);
  const gtInds = new Int32Array(n);
  let k = 0;
  for (let j = 0; j < r.positive.length; j++) {
    if (!r.positive[j]) continue;
    anchorInds[k] = c.anchorInds[j] as number;
    gtInds[k++] = c.gtInds[j] as number;
  }
  return { anchorInds, gtInds };
}

/** `assigner: { type: paa, topk, preAssignIou }`: its cost reads a network's outputs (its own, or a teacher's). */
export const paaAssigner = defineAssigner({
  options: z
    .object({
      type: z.literal('paa'),
      topk: z.number().int().positive().default(9),
      preAssignIou: z.number().gt(0).lt(1).default(0.1),
    })
    .strict(),
  readsOutputs: true,
  create: (o, ctx) =>
    new PaaAssigner({
      topk: o.topk,
      preAssign: { posIouThr: o.preAssignIou, negIouThr: o.preAssignIou, minPosIou: 0 },
      giouWeight: ctx.giouWeight,
      clsWeight: ctx.clsWeight,
    }),
});

/**
 * PAA as an Assigner: pre-assignment, costs from `preds` (the network's own outputs for PAA, the teacher's for LAD),
 * re-assignment. Candidates that are not kept become background with label weight 1 (negatives). As a CostAssigner
 * it exposes those steps, so CoLAD can mix two networks' costs per (GT, level) group before the re-assignment.
 */
export class PaaAssigner implements CostAssigner {
  /** statistics of the last call, for logging */
  lastResult: ReassignResult | null = null;

  constructor(readonly opts: PaaOptions = {}) {}

  assign(targets: AssignTargets, preds: HeadPredictions | null): Assignment {
    if (preds === null)
      throw new Error('PaaAssigner.assign: PAA needs head predictions (clsLogits, regDeltas) for its cost');
    checkTargets(targets, preds);
    const set = this.#candidates(targets);
    try {
      return this.assignFromCosts(targets, set, candidateCosts(targets, set.images, preds, this.opts));
    } catch (e) {
      set.labelWeights.dispose();
      throw e;
    }
  }

  /** max-IoU pre-assignment (preAssign, default PAA_PRE_ASSIGN) and the (GT, level) groups */
  candidates(targets: AssignTargets): CandidateSet {
    checkTargets(targets, null);
    return this.#candidates(targets);
  }

  #candidates(targets: AssignTargets): CandidateSet {
    const { candidates, labelWeights } = preAssignCandidates(targets, this.opts.preAssign ?? PAA_PRE_ASSIGN);
    return { images: candidates, groups: candidates.map((c) => groupCandidates(c, targets.levelStarts)), labelWeights };
  }

  /** candidateCosts with this assigner's cost weights */
  costs(targets: AssignTargets, candidates: CandidateSet, preds: HeadPredictions): Float32Array[] {
    checkTargets(targets, preds);
    return candidateCosts(targets, candidates.images, preds, this.opts);
  }

  /** each GT's GMM input (gtSampleRows with this assigner's topk) */
  decisionSamples(candidates: CandidateSet, costs: readonly ArrayLike<number>[]): GtSampleRows {
    return gtSampleRows(candidates.images, candidates.groups, costs, this.opts.topk ?? 9);
  }

  /** the re-assignment (per-level top-k, GMM, scheme (c)) on the given costs */
  assignFromCosts(targets: AssignTargets, candidates: CandidateSet, costs: readonly ArrayLike<number>[]): Assignment {
    const result = reassign(candidates.images, candidates.groups, costs, {
      topk: this.opts.topk ?? 9,
      gmm: this.opts.gmm ?? {},
    });
    this.lastResult = result;
    const positives = candidates.images.map((c, i) => positivesOf(c, result.images[i]!));
    return noGrad(() => assignmentFromPositives(targets, positives, candidates.labelWeights));
  }
}
