import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, dispose, memory, type Tensor } from '../../src/torch/index.js';
import { clipGradNorm } from '../../src/optim/index.js';

function withGrads(grads: (number[] | null)[]): Tensor[] {
  return grads.map((g) => {
    const p = tensor(new Array<number>(g?.length ?? 1).fill(0), undefined, { dtype: 'float64', requiresGrad: true });
    if (g !== null) {
      const t = tensor(Float64Array.from(g));
      p.grad = t;
      t.dispose();
    }
    return p;
  });
}

function grads(ps: Tensor[]): (number[] | null)[] {
  return ps.map((p) => {
    const g = p.grad;
    if (g === null) return null;
    const v = g.toArray();
    g.dispose();
    return v;
  });
}

test('L2: total of [3, 4] and [12] is 13; scaled by maxNorm / (13 + 1e-6) when above maxNorm', () => {
  const ps = withGrads([[3, 4], [12], null]);
  const before = memory().numTensors;
  assert.equal(clipGradNorm(ps, 1.3), 13);
  assert.equal(memory().numTensors, before);
  const c = 1.3 / (13 + 1e-6);
  assert.deepEqual(grads(ps), [[3 * c, 4 * c], [12 * c], null]);
  dispose(ps);
});

test('no clipping at or under maxNorm', () => {
  const ps = withGrads([[3, 4], [12]]);
  assert.equal(clipGradNorm(ps, 26), 13);
  assert.deepEqual(grads(ps), [[3, 4], [12]]);
  // maxNorm = total: coef = 13 / (13 + 1e-6) < 1, so torch scales (barely); so do we.
  assert.equal(clipGradNorm(ps, 13), 13);
  const c = 13 / (13 + 1e-6);
  assert.deepEqual(grads(ps), [[3 * c, 4 * c], [12 * c]]);
  dispose(ps);
});

test('L1 and infinity norms', () => {
  const ps = withGrads([[3, -4], [-12]]);
  assert.equal(clipGradNorm(ps, 100, 1), 19);
  assert.equal(clipGradNorm(ps, 100, Infinity), 12);
  assert.equal(clipGradNorm(ps, 6, Infinity), 12);
  const c = 6 / (12 + 1e-6);
  assert.deepEqual(grads(ps), [[3 * c, -4 * c], [-12 * c]]);
  dispose(ps);
});

test('no gradients: total 0; bad arguments refused', () => {
  const ps = withGrads([null, null]);
  assert.equal(clipGradNorm(ps, 1), 0);
  assert.throws(() => clipGradNorm(ps, 1, 0), { message: 'clipGradNorm: normType must be > 0 or Infinity, got 0' });
  assert.throws(() => clipGradNorm(ps, -1), { message: 'clipGradNorm: maxNorm must be >= 0, got -1' });
  dispose(ps);
});
