// Shared test helpers: closeness checks and central finite differences.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Tensor, noGrad, tensor, tidy } from '../src/torch/index.js';

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-6, msg = ''): void {
  assert.equal(actual.length, expected.length, `${msg} length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    const ok = Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)) || (Number.isNaN(a) && Number.isNaN(e));
    assert.ok(ok, `${msg} [${i}]: ${a} vs expected ${e} (tol ${tol})`);
  }
}

/**
 * Compares autograd's gradient of the scalar f(inputs) w.r.t. each float64 input with central finite differences.
 * Returns the largest relative error seen.
 */
export function gradcheck(f: (xs: Tensor[]) => Tensor, inputs: Tensor[], eps = 1e-6, tol = 1e-5): number {
  for (const x of inputs) assert.equal(x.dtype, 'float64', 'gradcheck needs float64 inputs');
  const leaves = inputs.map((x) => x.detach().requiresGrad_(true));
  tidy(() => f(leaves).backward());
  let worst = 0;
  leaves.forEach((leaf, k) => {
    const g = leaf.grad;
    assert.ok(g !== null, `input ${k} got no gradient`);
    const analytic = g.toArray();
    g.dispose();
    const base = Float64Array.from(inputs[k]!.toArray());
    const shape = inputs[k]!.shape;
    for (let i = 0; i < base.length; i++) {
      const evalAt = (delta: number): number =>
        tidy(() => {
          const v = Float64Array.from(base);
          v[i] = (v[i] as number) + delta;
          const xs = inputs.map((x, j) => (j === k ? tensor(v, shape) : x));
          return noGrad(() => f(xs).item());
        });
      const numeric = (evalAt(eps) - evalAt(-eps)) / (2 * eps);
      const a = analytic[i] as number;
      const err = Math.abs(a - numeric) / Math.max(1, Math.abs(numeric));
      worst = Math.max(worst, err);
      assert.ok(err <= tol, `input ${k} element ${i}: autograd ${a} vs finite difference ${numeric}`);
    }
  });
  for (const l of leaves) l.dispose();
  return worst;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (listen on port 0, close): for a test's rendezvous store. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((res) => s.close(() => res()));
  return port;
}
