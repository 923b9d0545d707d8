// Two-component 1-D Gaussian mixture fitted by EM the way scikit-learn's GaussianMixture does it for PAA
// (n_components=2, covariance 'diag', weights_init [.5, .5], means_init [min, max], precisions_init [1, 1],
// tol 1e-3, reg_covar 1e-6, max_iter 100), for many sample sets at once.
//
// sklearn's loop, which this reproduces step for step: start from the given weights / means / variances (its k-means
// initialisation runs but all three are overwritten, so the fit is deterministic); then for it = 1..max_iter:
// E-step with the current parameters, giving the mean log-likelihood L_it of the samples and the responsibilities;
// M-step (n_k = Σ r_ik + 10·eps, w_k = n_k / Σ n, μ_k = Σ r_ik x_i / n_k, σ²_k = Σ r_ik (x_i - μ_k)² / n_k + reg_covar);
// stop when |L_it - L_(it-1)| < tol (L_0 = -inf). The kept parameters are those of the last M-step, n_iter = it.
// predict = argmax_k [log w_k + log N(x | μ_k, σ²_k)] (ties -> component 0); score_samples = log Σ_k of the same.
//
// Deliberate differences (robustness, see algorithms.md §10):
// - float64 throughout and the centred variance formula. sklearn computes Σ r x²/n_k - 2μ Σ r x/n_k + μ² with x²
//   rounded to float32 (mmdetection passes float32 costs), which cancels catastrophically when a component collapses
//   onto (nearly) equal costs: the variance can come out <= 0 and sklearn raises "ill-defined empirical covariance"
//   (the occasional PAA training crash, mmdetection issue #4152). Here σ² >= reg_covar by construction, and a floor
//   (default reg_covar) is applied explicitly as well.
// - no exception, ever: a set whose samples cannot be separated (all equal) simply ends with two identical
//   components, so predict gives component 0 everywhere and all scores are equal (PAA then keeps the first, lowest-
//   cost sample as the only positive). A set that is empty or holds a non-finite sample is marked `failed` (no
//   parameters) instead of throwing. One sample is fitted (sklearn refuses n < 2; PAA never asks).
//
// Layout: the sets are rows of a padded (G, stride) matrix with per-row counts (the mask). Each row runs its own EM
// until its own convergence, which is what a lock-step batched EM with a per-row "converged" mask computes, without
// spending work on finished rows. Plain loops over Float64Arrays: a set has at most ~45 samples, so per-op dispatch
// of tensor kernels would cost far more than the arithmetic (measured in benchmarks/assign.ts).

export interface GmmOptions {
  /** convergence threshold on the change of the mean log-likelihood (sklearn tol) */
  tol?: number;
  /** added to every variance in the M-step (sklearn reg_covar) */
  regCovar?: number;
  maxIter?: number;
  /** lower bound on the variances after the M-step; defaults to regCovar */
  varianceFloor?: number;
}

export interface Gmm2Fit {
  /** number of sets (rows) */
  count: number;
  /** (G, 2) mixture weights; NaN on failed rows */
  weights: Float64Array;
  /** (G, 2) component means */
  means: Float64Array;
  /** (G, 2) component variances */
  variances: Float64Array;
  /** (G) EM iterations run (sklearn n_iter_) */
  nIter: Int32Array;
  /** (G) 1 if the tolerance was reached within maxIter (sklearn converged_) */
  converged: Uint8Array;
  /** (G) mean log-likelihood at the last E-step (sklearn lower_bound_) */
  lowerBound: Float64Array;
  /** (G) 1 if the row could not be fitted (no samples or a non-finite sample) */
  failed: Uint8Array;
}

export interface Gmm2Prediction {
  /** (G, stride) component of each sample (0 or 1); 0 on padding and failed rows */
  labels: Uint8Array;
  /** (G, stride) log mixture density of each sample; NaN on padding and failed rows */
  scores: Float64Array;
}

const LOG_2PI = Math.log(2 * Math.PI);
/** 10 · float64 machine epsilon, which sklearn adds to each component's responsibility sum */
const NK_EPS = 10 * Number.EPSILON;

function checkLayout(x: ArrayLike<number>, counts: ArrayLike<number>, stride: number): void {
  if (!Number.isInteger(stride) || stride < 0)
    throw new RangeError(`gmm: stride must be a non-negative integer, got ${stride}`);
  if (x.length < counts.length * stride) {
    throw new RangeError(`gmm: samples have ${x.length} entries, need ${counts.length}·${stride}`);
  }
  for (let g = 0; g < counts.length; g++) {
    const n = counts[g] as number;
    if (!(n >= 0 && n <= stride)) throw new RangeError(`gmm: counts[${g}] = ${n} is outside 0..${stride}`);
  }
}

/**
 * Fits one 2-component GMM per row. x: (G, stride) row-major samples, row g using its first counts[g] entries.
 */
export function fitGmm2(
  x: ArrayLike<number>,
  counts: ArrayLike<number>,
  stride: number,
  opts: GmmOptions = {},
): Gmm2Fit {
  checkLayout(x, counts, stride);
  const tol = opts.tol ?? 1e-3;
  const reg = opts.regCovar ?? 1e-6;
  const maxIter = opts.maxIter ?? 100;
  const floor = opts.varianceFloor ?? reg;
  const count = counts.length;
  const fit: Gmm2Fit = {
    count,
    weights: new Float64Array(2 * count),
    means: new Float64Array(2 * count),
    variances: new Float64Array(2 * count),
    nIter: new Int32Array(count),
    converged: new Uint8Array(count),
    lowerBound: new Float64Array(count),
    failed: new Uint8Array(count),
  };
  const r0 = new Float64Array(stride);
  const r1 = new Float64Array(stride);
  for (let g = 0; g < count; g++) {
    const n = counts[g] as number;
    const off = g * stride;
    let lo = Infinity;
    let hi = -Infinity;
    let finite = n > 0;
    for (let i = 0; i < n; i++) {
      const v = x[off + i] as number;
      if (!Number.isFinite(v)) finite = false;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!finite) {
      fit.failed[g] = 1;
      fit.weights.fill(NaN, 2 * g, 2 * g + 2);
      fit.means.fill(NaN, 2 * g, 2 * g + 2);
      fit.variances.fill(NaN, 2 * g, 2 * g + 2);
      fit.lowerBound[g] = NaN;
      continue;
    }
    let w0 = 0.5;
    let w1 = 0.5;
    let m0 = lo;
    let m1 = hi;
    let v0 = 1;
    let v1 = 1;
    let prev = -Infinity;
    let L = -Infinity;
    let it = 0;
    let converged = 0;
    while (it < maxIter) {
      it++;
      // E-step with the current parameters.
      const c0 = Math.log(w0) - 0.5 * (LOG_2PI + Math.log(v0));
      const c1 = Math.log(w1) - 0.5 * (LOG_2PI + Math.log(v1));
      const h0 = 0.5 / v0;
      const h1 = 0.5 / v1;
      let sumL = 0;
      for (let i = 0; i < n; i++) {
        const xi = x[off + i] as number;
        const d0 = xi - m0;
        const d1 = xi - m1;
        const l0 = c0 - h0 * d0 * d0;
        const l1 = c1 - h1 * d1 * d1;
        const lse = l0 > l1 ? l0 + Math.log1p(Math.exp(l1 - l0)) : l1 + Math.log1p(Math.exp(l0 - l1));
        sumL += lse;
        r0[i] = Math.exp(l0 - lse);
        r1[i] = Math.exp(l1 - lse);
      }
      L = sumL / n;
      // M-step.
      let s0 = 0;
      let s1 = 0;
      let sx0 = 0;
      let sx1 = 0;
      for (let i = 0; i < n; i++) {
        const xi = x[off + i] as number;
        s0 += r0[i] as number;
        s1 += r1[i] as number;
        sx0 += (r0[i] as number) * xi;
        sx1 += (r1[i] as number) * xi;
      }
      const nk0 = s0 + NK_EPS;
      const nk1 = s1 + NK_EPS;
      m0 = sx0 / nk0;
      m1 = sx1 / nk1;
      let q0 = 0;
      let q1 = 0;
      for (let i = 0; i < n; i++) {
        const xi = x[off + i] as number;
        q0 += (r0[i] as number) * (xi - m0) * (xi - m0);
        q1 += (r1[i] as number) * (xi - m1) * (xi - m1);
      }
      v0 = Math.max(q0 / nk0 + reg, floor);
      v1 = Math.max(q1 / nk1 + reg, floor);
      w0 = nk0 / (nk0 + nk1);
      w1 = nk1 / (nk0 + nk1);
      const change = L - prev;
      prev = L;
      if (Math.abs(change) < tol) {
        converged = 1;
        break;
      }
    }
    fit.weights[2 * g] = w0;
    fit.weights[2 * g + 1] = w1;
    fit.means[2 * g] = m0;
    fit.means[2 * g + 1] = m1;
    fit.variances[2 * g] = v0;
    fit.variances[2 * g + 1] = v1;
    fit.nIter[g] = it;
    fit.converged[g] = converged;
    fit.lowerBound[g] = L;
  }
  return fit;
}

/** sklearn predict and score_samples of each row's own samples under its fitted mixture. */
export function predictGmm2(
  fit: Gmm2Fit,
  x: ArrayLike<number>,
  counts: ArrayLike<number>,
  stride: number,
): Gmm2Prediction {
  checkLayout(x, counts, stride);
  if (counts.length !== fit.count)
    throw new RangeError(`gmm: ${counts.length} rows to predict, the fit has ${fit.count}`);
  const labels = new Uint8Array(fit.count * stride);
  const scores = new Float64Array(fit.count * stride).fill(NaN);
  for (let g = 0; g < fit.count; g++) {
    if (fit.failed[g]) continue;
    const n = counts[g] as number;
    const off = g * stride;
    const v0 = fit.variances[2 * g] as number;
    const v1 = fit.variances[2 * g + 1] as number;
    const m0 = fit.means[2 * g] as number;
    const m1 = fit.means[2 * g + 1] as number;
    const c0 = Math.log(fit.weights[2 * g] as number) - 0.5 * (LOG_2PI + Math.log(v0));
    const c1 = Math.log(fit.weights[2 * g + 1] as number) - 0.5 * (LOG_2PI + Math.log(v1));
    for (let i = 0; i < n; i++) {
      const xi = x[off + i] as number;
      const l0 = c0 - (0.5 / v0) * (xi - m0) * (xi - m0);
      const l1 = c1 - (0.5 / v1) * (xi - m1) * (xi - m1);
      labels[off + i] = l1 > l0 ? 1 : 0;
      scores[off + i] = l0 > l1 ? l0 + Math.log1p(Math.exp(l1 - l0)) : l1 + Math.log1p(Math.exp(l0 - l1));
    }
  }
  return { labels, scores };
}
