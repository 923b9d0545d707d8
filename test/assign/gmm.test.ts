import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitGmm2, predictGmm2 } from '../../src/assign/index.js';
import { assertClose } from '../helpers.js';
import { readFixture } from '../read_fixture.js';

interface SkFit {
  x: number[];
  error: string | null;
  weights: number[];
  means: number[];
  variances: number[];
  n_iter: number;
  converged: boolean;
  lower_bound: number;
  predict: number[];
  score_samples: number[];
}
const fx = readFixture<{ cases: Record<string, SkFit>; bulk: SkFit[] }>('assign/fixtures/gmm_sklearn.json');

/** Fits many sets in one padded matrix, as PAA does. */
function fitRows(sets: number[][], stride = 45) {
  const x = new Float64Array(sets.length * stride);
  const counts = Int32Array.from(sets, (s) => s.length);
  sets.forEach((s, g) => x.set(s, g * stride));
  const fit = fitGmm2(x, counts, stride);
  const pred = predictGmm2(fit, x, counts, stride);
  return { fit, pred, stride };
}

/**
 * sklearn rounds x² to float32 (mmdetection hands it float32 costs) in its variance and log-density formulas, an
 * error of up to 2^-24·x² that the precision 1/σ² amplifies: where a component collapses to reg_covar (σ² = 1e-6)
 * that is ~1e-1 nats for x ≈ 2. Densities and the lower bound are therefore compared within 2^-24·x²/σ²_min
 * (plus 1e-6 relative), variances within 1e-7 absolute.
 */
function compare(
  name: string,
  sk: SkFit,
  fit: ReturnType<typeof fitGmm2>,
  pred: ReturnType<typeof predictGmm2>,
  g: number,
  stride: number,
): void {
  const n = sk.x.length;
  assert.equal(fit.failed[g], 0, `${name}: failed`);
  assert.equal(fit.nIter[g], sk.n_iter, `${name}: n_iter`);
  assert.equal(fit.converged[g], sk.converged ? 1 : 0, `${name}: converged`);
  assertClose(fit.weights.subarray(2 * g, 2 * g + 2), sk.weights, 1e-6, `${name}: weights`);
  assertClose(fit.means.subarray(2 * g, 2 * g + 2), sk.means, 1e-6, `${name}: means`);
  const v = fit.variances.subarray(2 * g, 2 * g + 2);
  const vmin = Math.min(...sk.variances);
  const noise = (x: number): number => (2 ** -24 * x * x) / vmin + 1e-9;
  const worst = Math.max(...sk.x.map(noise));
  for (let k = 0; k < 2; k++) {
    const e = sk.variances[k]!;
    assert.ok(Math.abs(v[k]! - e) <= 1e-7 + 1e-5 * e, `${name}: variance ${k} ${v[k]} vs ${e}`);
  }
  assert.ok(
    Math.abs(fit.lowerBound[g]! - sk.lower_bound) <= worst + 1e-6 * Math.abs(sk.lower_bound),
    `${name}: lower bound ${fit.lowerBound[g]} vs ${sk.lower_bound}`,
  );
  assert.deepEqual(Array.from(pred.labels.subarray(g * stride, g * stride + n)), sk.predict, `${name}: predict`);
  const s = pred.scores.subarray(g * stride, g * stride + n);
  for (let i = 0; i < n; i++) {
    const e = sk.score_samples[i]!;
    assert.ok(
      Math.abs(s[i]! - e) <= noise(sk.x[i]!) + 1e-6 * Math.abs(e),
      `${name}: score_samples[${i}] ${s[i]} vs ${e}`,
    );
  }
}

test('GMM reproduces sklearn on the recorded cases (bimodal, unimodal, 2 samples, equal costs, collapsed, large spread, ties)', () => {
  const names = Object.keys(fx.cases).filter((k) => fx.cases[k]!.error === null);
  assert.deepEqual(names, [
    'bimodal_45',
    'unimodal_30',
    'two_samples',
    'equal_costs',
    'collapsed_component',
    'large_spread',
    'ties_and_gap',
  ]);
  const { fit, pred, stride } = fitRows(names.map((k) => fx.cases[k]!.x));
  names.forEach((k, g) => compare(k, fx.cases[k]!, fit, pred, g, stride));
  // The collapsed component really is collapsed onto the outlier, at the variance floor.
  const c = names.indexOf('collapsed_component');
  assert.ok(fit.variances[2 * c + 1]! < 1.001e-6 && fit.variances[2 * c + 1]! >= 1e-6);
});

test("GMM matches sklearn's iteration count, labels and densities on 60 recorded PAA-like cost vectors", () => {
  const { fit, pred, stride } = fitRows(fx.bulk.map((b) => b.x));
  fx.bulk.forEach((b, g) => compare(`bulk ${g}`, b, fit, pred, g, stride));
  // The set exercises the convergence rule well beyond a fixed iteration count.
  const iters = new Set(fx.bulk.map((b) => b.n_iter));
  assert.ok(iters.size >= 10, `only ${iters.size} distinct n_iter values`);
});

test('GMM where sklearn raises: equal costs (float32 cancellation) and one sample fit without error', () => {
  const eq = fx.cases['equal_costs_sklearn_raises']!;
  assert.match(eq.error ?? '', /ill-defined empirical covariance/);
  const one = fx.cases['one_sample']!;
  assert.match(one.error ?? '', /minimum of 2 is required/);
  const { fit, pred, stride } = fitRows([eq.x, one.x]);
  const c = eq.x[0]!;
  // Two identical components at the common value: predict -> component 0 everywhere, all densities equal.
  assert.equal(fit.failed[0], 0);
  assertClose(fit.means.subarray(0, 2), [c, c], 1e-12);
  assertClose(fit.variances.subarray(0, 2), [1e-6, 1e-6], 1e-9);
  assertClose(fit.weights.subarray(0, 2), [0.5, 0.5], 1e-12);
  assert.deepEqual(Array.from(pred.labels.subarray(0, eq.x.length)), [0, 0, 0, 0, 0]);
  const s = pred.scores.subarray(0, eq.x.length);
  assert.ok(s.every((v) => v === s[0]));
  // N(c | c, 1e-6) = 1/sqrt(2π·1e-6).
  assertClose([s[0]!], [-0.5 * Math.log(2 * Math.PI * 1e-6)], 1e-6);
  assert.equal(fit.failed[1], 0);
  assertClose(fit.means.subarray(2, 4), [1, 1], 1e-12);
  assert.equal(pred.labels[stride], 0);
});

test('GMM rows with a non-finite sample or no sample are marked failed without throwing; layout errors', () => {
  const x = new Float64Array(3 * 4);
  x.set([0.1, NaN, 0.3], 0);
  x.set([0.2, 0.4, 1.5, 1.6], 4);
  const counts = Int32Array.from([3, 4, 0]);
  const fit = fitGmm2(x, counts, 4);
  assert.deepEqual(Array.from(fit.failed), [1, 0, 1]);
  assert.ok(Number.isNaN(fit.means[0]!));
  assert.equal(fit.converged[1], 1);
  const pred = predictGmm2(fit, x, counts, 4);
  assert.deepEqual(Array.from(pred.labels), [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0]);
  assert.ok(Number.isNaN(pred.scores[0]!));
  assert.throws(() => fitGmm2(x, Int32Array.from([5]), 4), /counts\[0\] = 5 is outside 0..4/);
  assert.throws(() => fitGmm2(new Float64Array(3), Int32Array.from([1, 1]), 2), /samples have 3 entries, need 2·2/);
  // maxIter caps the loop and reports non-convergence, as sklearn's converged_ = False.
  const capped = fitGmm2(x.subarray(4, 8), Int32Array.from([4]), 4, { maxIter: 1 });
  assert.deepEqual([capped.nIter[0], capped.converged[0]], [1, 0]);
});
