// CoLAD's switching rules (algorithms.md §5.6, §6, §10): which of two networks' candidate costs feed the shared
// re-assignment (PAA's). Pure functions on the typed arrays of a CostAssigner (src/assign/assignment.ts: candidate
// groups, costs, decision samples), so they can be checked on hand-made tables.
//
// Dispersion criteria (rho, larger = the network separates good from bad candidates better):
//   stdmean  rho = std / mean of the costs (unbiased std, n − 1), as the released code. 0 when n < 2, and 0 when
//            |mean| < 1e-12 (all costs ≈ 0; PAA costs are >= 0, so std ≈ 0 too; the released code divides by ~0).
//   fisher   the 2-component 1-D GMM of the costs, fitted exactly as PAA fits it (gmm.ts: means at min / max,
//            variances 1, weights 1/2), gives rho = (mu+ − mu−)² / (var+ + var−), "+" = component 0 (initialised
//            at the lowest cost: PAA's foreground component), "−" = component 1. A degenerate fit gives rho 0:
//            fewer than 2 samples, a non-finite sample (failed fit), or every sample predicted in one component
//            (nothing separated). Variances are >= reg_covar (1e-6), so the ratio is always finite.
//
// Rules:
//   local    (released code) per (image, GT, FPN level) group with n candidates: n >= 2 -> net 2's costs when
//            rho2 >= rho1 (ties to net 2), else net 1's; n = 1 -> net 2's iff its cost is strictly lower; n = 0 ->
//            no decision. A non-finite rho counts as -inf, a non-finite cost as +inf (never preferred).
//   network  (paper) every iteration one network assigns for both: the batch-level rho of network k is the mean,
//            over the GTs of the batch (all images) that have at least 2 samples, of the per-GT rho computed on the
//            samples PAA would give that GT's GMM with network k alone (the min(n, topk) lowest of k's own costs on
//            each level, concatenated). Net 2 assigns iff rho2 >= rho1 (ties, and batches with no such GT, to net 2).
import { fitGmm2, predictGmm2, type GmmOptions } from '../assign/gmm.js';
import type { CandidateGroups, GtSampleRows } from '../assign/assignment.js';
import { reduceAvgFactors } from '../losses/avg_factor.js';

export type ColadSwitch = 'local' | 'network';
export type ColadCriterion = 'stdmean' | 'fisher';

/** Below this |mean| the std/mean ratio is taken as 0. */
export const MEAN_EPS = 1e-12;

/** std/mean of values[0..n) with the unbiased std; 0 for n < 2 or |mean| < MEAN_EPS. */
export function stdMeanRho(values: ArrayLike<number>, n = values.length): number {
  if (n < 2) return 0;
  let s = 0;
  for (let i = 0; i < n; i++) s += values[i] as number;
  const mean = s / n;
  if (!(Math.abs(mean) >= MEAN_EPS)) return Number.isNaN(mean) ? NaN : 0;
  let q = 0;
  for (let i = 0; i < n; i++) {
    const d = (values[i] as number) - mean;
    q += d * d;
  }
  return Math.sqrt(q / (n - 1)) / mean;
}

/**
 * Fisher rho of many sample sets at once: rows of a padded (G, stride) matrix x with counts. Rows with fewer than
 * 2 samples, failed fits and fits that predict one component for every sample give 0.
 */
export function fisherRhos(
  x: ArrayLike<number>,
  counts: ArrayLike<number>,
  stride: number,
  gmm: GmmOptions = {},
): Float64Array {
  const fitCounts = Array.from(counts, (n) => (n >= 2 ? n : 0));
  const fit = fitGmm2(x, fitCounts, stride, gmm);
  const pred = predictGmm2(fit, x, fitCounts, stride);
  const rho = new Float64Array(fit.count);
  for (let g = 0; g < fit.count; g++) {
    const n = fitCounts[g] as number;
    if (n < 2 || fit.failed[g]) continue;
    let inFirst = 0;
    for (let i = 0; i < n; i++) if (pred.labels[g * stride + i] === 0) inFirst++;
    if (inFirst === 0 || inFirst === n) continue;
    const d = (fit.means[2 * g] as number) - (fit.means[2 * g + 1] as number);
    rho[g] = (d * d) / ((fit.variances[2 * g] as number) + (fit.variances[2 * g + 1] as number));
  }
  return rho;
}

/** Fisher rho of one sample set (sorted or not). */
export function fisherRho(values: ArrayLike<number>, gmm: GmmOptions = {}): number {
  if (values.length < 2) return 0;
  const x = Float64Array.from(values).sort();
  return fisherRhos(x, [x.length], x.length, gmm)[0] as number;
}

/** rho of each row of a padded matrix under a criterion. */
function rowRhos(
  x: Float64Array,
  counts: ArrayLike<number>,
  stride: number,
  criterion: ColadCriterion,
  gmm: GmmOptions,
): Float64Array {
  if (criterion === 'fisher') return fisherRhos(x, counts, stride, gmm);
  const out = new Float64Array(counts.length);
  for (let g = 0; g < counts.length; g++)
    out[g] = stdMeanRho(x.subarray(g * stride, g * stride + (counts[g] as number)));
  return out;
}

const finiteOrLow = (v: number): number => (Number.isFinite(v) ? v : -Infinity);
const finiteOrHigh = (v: number): number => (Number.isFinite(v) ? v : Infinity);

/** Summary of one batch's switch, for logging. */
export interface SwitchStats {
  /** decisions taken (local: (image, GT, level) groups with >= 1 candidate; network: 1) */
  decisions: number;
  /** of which network 2 supplied the costs */
  byNet2: number;
  /** network rule: the batch-level rho of each network (NaN under the local rule) */
  rho1: number;
  rho2: number;
  /** network rule: GTs that entered the batch-level rho */
  rhoGts: number;
}

export interface SwitchResult {
  /** per image, per (GT, level) group: 0 = net 1's costs, 1 = net 2's (the `choice` of pickGroupCosts) */
  choice: Uint8Array[];
  stats: SwitchStats;
}

/** The released rule: a choice per (image, GT, level) group (see the file head). */
export function localSwitch(
  groups: readonly CandidateGroups[],
  costs1: readonly ArrayLike<number>[],
  costs2: readonly ArrayLike<number>[],
  criterion: ColadCriterion = 'stdmean',
  gmm: GmmOptions = {},
): SwitchResult {
  if (costs1.length !== groups.length || costs2.length !== groups.length) {
    throw new Error(`localSwitch: ${groups.length} images, ${costs1.length} and ${costs2.length} cost arrays`);
  }
  // Every group with >= 2 candidates becomes one row per network (costs sorted ascending, as PAA feeds its GMM).
  let rows = 0;
  let stride = 1;
  groups.forEach((g, i) => {
    const nGroups = g.numGt * g.numLevels;
    if (costs1[i]!.length !== g.order.length || costs2[i]!.length !== g.order.length) {
      throw new Error(
        `localSwitch: image ${i} has ${g.order.length} candidates but ${costs1[i]!.length} and ${costs2[i]!.length} costs`,
      );
    }
    for (let k = 0; k < nGroups; k++) {
      const n = (g.starts[k + 1] as number) - (g.starts[k] as number);
      if (n >= 2) {
        rows++;
        stride = Math.max(stride, n);
      }
    }
  });
  const x1 = new Float64Array(rows * stride);
  const x2 = new Float64Array(rows * stride);
  const counts = new Int32Array(rows);
  let r = 0;
  groups.forEach((g, i) => {
    const nGroups = g.numGt * g.numLevels;
    for (let k = 0; k < nGroups; k++) {
      const s = g.starts[k] as number;
      const n = (g.starts[k + 1] as number) - s;
      if (n < 2) continue;
      for (let q = 0; q < n; q++) {
        const j = g.order[s + q] as number;
        x1[r * stride + q] = costs1[i]![j] as number;
        x2[r * stride + q] = costs2[i]![j] as number;
      }
      x1.subarray(r * stride, r * stride + n).sort();
      x2.subarray(r * stride, r * stride + n).sort();
      counts[r++] = n;
    }
  });
  const rho1 = rowRhos(x1, counts, stride, criterion, gmm);
  const rho2 = rowRhos(x2, counts, stride, criterion, gmm);
  let decisions = 0;
  let byNet2 = 0;
  r = 0;
  const choice = groups.map((g, i) => {
    const nGroups = g.numGt * g.numLevels;
    const c = new Uint8Array(nGroups);
    for (let k = 0; k < nGroups; k++) {
      const s = g.starts[k] as number;
      const n = (g.starts[k + 1] as number) - s;
      if (n === 0) continue;
      let two: boolean;
      if (n === 1) {
        const j = g.order[s] as number;
        two = finiteOrHigh(costs2[i]![j] as number) < finiteOrHigh(costs1[i]![j] as number);
      } else {
        two = finiteOrLow(rho2[r] as number) >= finiteOrLow(rho1[r] as number);
        r++;
      }
      c[k] = two ? 1 : 0;
      decisions++;
      if (two) byNet2++;
    }
    return c;
  });
  return { choice, stats: { decisions, byNet2, rho1: NaN, rho2: NaN, rhoGts: 0 } };
}

/**
 * Batch-level rho of one network (see the file head): the mean over GTs with >= 2 samples of the per-GT rho of the
 * samples the assigner's decision would read for that network alone (CostAssigner.decisionSamples; PAA: each GT's
 * GMM input, the min(n, topk) lowest of its costs on each level). NaN when no GT has 2 samples.
 */
export function networkRho(
  rows: GtSampleRows,
  criterion: ColadCriterion = 'stdmean',
  gmm: GmmOptions = {},
): { rho: number; gts: number; sum: number } {
  const rho = rowRhos(rows.x, rows.counts, rows.stride, criterion, gmm);
  let sum = 0;
  let gts = 0;
  rows.counts.forEach((n, g) => {
    if (n < 2) return;
    sum += rho[g] as number;
    gts++;
  });
  return { rho: gts > 0 ? sum / gts : NaN, gts, sum };
}

/** The paper's rule: one network's costs for every group of the batch (see the file head); rows as networkRho's. */
export function networkSwitch(
  groups: readonly CandidateGroups[],
  rows1: GtSampleRows,
  rows2: GtSampleRows,
  criterion: ColadCriterion = 'stdmean',
  gmm: GmmOptions = {},
): SwitchResult {
  const a = networkRho(rows1, criterion, gmm);
  const b = networkRho(rows2, criterion, gmm);
  // under data parallelism the mean over the GTs of every rank's batch (sums and counts averaged over ranks), so
  // all ranks take the same network, the one a single process would take; the identity in one process
  const [sum1, gts1, sum2, gts2] = reduceAvgFactors([a.sum, a.gts, b.sum, b.gts]) as [number, number, number, number];
  const rho1 = gts1 > 0 ? sum1 / gts1 : NaN;
  const rho2 = gts2 > 0 ? sum2 / gts2 : NaN;
  const two = finiteOrLow(rho2) >= finiteOrLow(rho1);
  const choice = groups.map((g) => new Uint8Array(g.numGt * g.numLevels).fill(two ? 1 : 0));
  return { choice, stats: { decisions: 1, byNet2: two ? 1 : 0, rho1, rho2, rhoGts: a.gts } };
}

/**
 * Released-code style cost statistics over the (GT, level) groups of a batch: mean of the group means (groups with
 * >= 1 candidate) and mean of the group stds (unbiased; groups with >= 2). NaN when there is no such group.
 */
export function groupCostStats(
  groups: readonly CandidateGroups[],
  costs: readonly ArrayLike<number>[],
): { mean: number; std: number } {
  let sumMean = 0;
  let nMean = 0;
  let sumStd = 0;
  let nStd = 0;
  groups.forEach((g, i) => {
    const c = costs[i]!;
    for (let k = 0; k < g.numGt * g.numLevels; k++) {
      const s = g.starts[k] as number;
      const n = (g.starts[k + 1] as number) - s;
      if (n === 0) continue;
      let m = 0;
      for (let q = 0; q < n; q++) m += c[g.order[s + q] as number] as number;
      m /= n;
      sumMean += m;
      nMean++;
      if (n < 2) continue;
      let v = 0;
      for (let q = 0; q < n; q++) {
        const d = (c[g.order[s + q] as number] as number) - m;
        v += d * d;
      }
      sumStd += Math.sqrt(v / (n - 1));
      nStd++;
    }
  });
  return { mean: nMean ? sumMean / nMean : NaN, std: nStd ? sumStd / nStd : NaN };
}
