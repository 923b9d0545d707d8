import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, tidy, memory, dispose, type Tensor } from '../../src/torch/index.js';
import { SGD } from '../../src/optim/index.js';

/** Sets p.grad to a copy of `values` (or null). */
function setGrad(p: Tensor, values: number[] | null): void {
  if (values === null) {
    p.grad = null;
    return;
  }
  const g = tensor(values, p.shape, { dtype: p.dtype });
  p.grad = g;
  g.dispose();
}

function param(values: number[], dtype: 'float32' | 'float64' = 'float32'): Tensor {
  return tensor(values, [values.length], { dtype, requiresGrad: true });
}

// The numbers below are dyadic, so every step is exact in float32 and compared with strict equality.

test('momentum with weight decay: buffer starts as the first d, no dampening on step 1', () => {
  const p = param([1, -2]);
  const opt = new SGD([p], { lr: 0.5, momentum: 0.5, weightDecay: 0.25 });
  setGrad(p, [2, 4]);
  opt.step();
  // d = g + 0.25 p = [2.25, 3.5]; buf = d; p -= 0.5 buf
  assert.deepEqual(p.toArray(), [-0.125, -3.75]);
  setGrad(p, [-1, 2]);
  opt.step();
  // d = [-1 - 0.03125, 2 - 0.9375] = [-1.03125, 1.0625]; buf = 0.5 [2.25, 3.5] + d = [0.09375, 2.8125]
  assert.deepEqual(p.toArray(), [-0.125 - 0.046875, -3.75 - 1.40625]);
  const sd = opt.stateDict();
  assert.deepEqual((sd.tensors['state.0.momentum_buffer'] as Tensor).toArray(), [0.09375, 2.8125]);
  assert.deepEqual(sd.meta.state, { '0': { step: 2 } });
  dispose([p, sd.tensors]);
  opt.disposeState();
});

test('dampening scales the new gradient from the second step on', () => {
  const p = param([1, -2]);
  const opt = new SGD([p], { lr: 0.5, momentum: 0.5, dampening: 0.5 });
  setGrad(p, [2, 4]);
  opt.step();
  assert.deepEqual(p.toArray(), [0, -4]); // buf = g (undampened)
  setGrad(p, [-1, 2]);
  opt.step();
  // buf = 0.5 [2, 4] + 0.5 [-1, 2] = [0.5, 3]
  assert.deepEqual(p.toArray(), [-0.25, -5.5]);
  p.dispose();
  opt.disposeState();
});

test('nesterov momentum', () => {
  const p = param([1, -2]);
  const opt = new SGD([p], { lr: 0.5, momentum: 0.5, nesterov: true, weightDecay: 0.25 });
  setGrad(p, [2, 4]);
  opt.step();
  // d = [2.25, 3.5]; buf = d; d + 0.5 buf = [3.375, 5.25]
  assert.deepEqual(p.toArray(), [-0.6875, -4.625]);
  setGrad(p, [-1, 2]);
  opt.step();
  // d = [-1.171875, 0.84375]; buf = [-0.046875, 2.59375]; d + 0.5 buf = [-1.1953125, 2.140625]
  assert.deepEqual(p.toArray(), [-0.08984375, -5.6953125]);
  p.dispose();
  opt.disposeState();
});

test('plain SGD, maximize, groups with their own lr, params without grad skipped', () => {
  const a = param([1, 2], 'float64');
  const b = param([3], 'float64');
  const c = param([5], 'float64');
  const opt = new SGD([{ params: [a, b] }, { params: [c], lr: 1, maximize: true }], { lr: 0.25 });
  assert.equal(opt.paramGroups[0]?.lr, 0.25);
  assert.equal(opt.paramGroups[1]?.lr, 1);
  assert.equal(opt.paramGroups[1]?.momentum, 0);
  setGrad(a, [4, -8]);
  setGrad(c, [2]);
  opt.step();
  assert.deepEqual(a.toArray(), [0, 4]);
  assert.deepEqual(b.toArray(), [3]);
  assert.deepEqual(c.toArray(), [7]);
  // b never had a grad: no state for it.
  assert.deepEqual(opt.stateDict().meta.state, { '0': { step: 1 }, '2': { step: 1 } });
  opt.zeroGrad();
  assert.equal(a.grad, null);
  assert.equal(c.grad, null);
  opt.step(); // nothing to do
  assert.deepEqual(a.toArray(), [0, 4]);
  dispose([a, b, c]);
});

test("no tensor leaks across steps, and state survives the caller's tidy scope", () => {
  const p = param([1, 2, 3]);
  const q = param([4]);
  const opt = new SGD([p, q], { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01, maximize: true });
  const grads = (): void => {
    setGrad(p, [0.5, -1, 2]);
    setGrad(q, [1]);
  };
  tidy(() => {
    grads();
    opt.step();
  });
  const after1 = memory();
  for (let i = 0; i < 5; i++) {
    tidy(() => grads());
    opt.step();
  }
  assert.deepEqual(memory(), after1);
  // The momentum buffers were created inside the tidy above and must still be alive.
  const sd = opt.stateDict();
  assert.equal(Object.keys(sd.tensors).length, 2);
  dispose(sd.tensors);
  opt.disposeState();
  assert.equal(memory().numTensors, after1.numTensors - 2);
  dispose([p, q]);
});

test('bad options and parameters are refused', () => {
  const p = param([1]);
  assert.throws(() => new SGD([p], { lr: 0.1, nesterov: true }), {
    message: 'SGD: nesterov momentum needs momentum > 0 and dampening 0',
  });
  assert.throws(() => new SGD([p], { lr: -1 }), { message: 'SGD: invalid learning rate -1' });
  assert.throws(() => new SGD([{ params: [p] }, { params: [p] }], { lr: 1 }), {
    message: 'SGD group 1: parameter 0 appears twice (in this or another group)',
  });
  assert.throws(() => new SGD([{ params: [p], momentum: -0.5 }], { lr: 1 }), {
    message: 'SGD group 0: invalid momentum -0.5',
  });
  assert.throws(() => new SGD([{ params: [p], betas: [0.9, 0.9] } as never], { lr: 1 }), {
    message: "SGD group 0: unknown option 'betas' (have: momentum, dampening, nesterov, weightDecay, maximize, lr)",
  });
  assert.throws(() => new SGD([{ params: [p], nesterov: 1 } as never], { lr: 1 }), {
    message: 'SGD group 0: nesterov must be like false, got 1',
  });
  const i = tensor(Int32Array.from([1]));
  assert.throws(() => new SGD([i], { lr: 1 }), {
    message: 'SGD group 0: parameter 0 has dtype int32; only floating tensors can be optimized',
  });
  const nonLeaf = p.mul(2);
  assert.throws(() => new SGD([nonLeaf], { lr: 1 }), {
    message: 'SGD group 0: parameter 0 is not a leaf tensor (optimize the leaves)',
  });
  assert.throws(() => new SGD([], { lr: 1 }), { message: 'SGD: got an empty parameter list' });
  dispose([p, i, nonLeaf]);
});

test('the multi-tensor step (foreach, the default) gives bitwise the per-parameter step: every option, late starters', () => {
  const settings = [
    { momentum: 0.9, weightDecay: 1e-4 },
    { momentum: 0.9, dampening: 0.3 },
    { momentum: 0.8, nesterov: true, weightDecay: 5e-4 },
    { momentum: 0, weightDecay: 1e-3, maximize: true },
    { momentum: 0.9, maximize: true },
  ];
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 2;
  for (const h of settings) {
    const shapes = [[3, 4], [5], [2, 2, 3], [1]];
    const start = shapes.map((s) => Array.from({ length: s.reduce((a, b) => a * b, 1) }, rnd));
    const make = () => start.map((v, i) => tensor(v, shapes[i]!, { requiresGrad: true }));
    const [a, b] = [make(), make()];
    // two groups, the second with its own lr; parameter 3 gets no gradient until step 3 (a late first step)
    const opt = (ps: Tensor[], foreach: boolean) => {
      const o = new SGD([{ params: ps.slice(0, 2) }, { params: ps.slice(2), lr: 0.05 }], { lr: 0.1, ...h });
      o.foreach = foreach;
      return o;
    };
    const [oa, ob] = [opt(a, true), opt(b, false)];
    for (let step = 0; step < 5; step++) {
      const grads = start.map((v) => v.map(rnd));
      for (const [ps, o] of [
        [a, oa],
        [b, ob],
      ] as const) {
        ps.forEach((p, i) => setGrad(p, i === 3 && step < 2 ? null : grads[i]!));
        o.step();
      }
      a.forEach((p, i) =>
        assert.deepEqual(p.toTypedArray(), b[i]!.toTypedArray(), `${JSON.stringify(h)} step ${step} param ${i}`),
      );
    }
    const [sa, sb] = [oa.stateDict(), ob.stateDict()];
    assert.deepEqual(sa.meta, sb.meta);
    for (const k of Object.keys(sb.tensors))
      assert.deepEqual(sa.tensors[k]!.toTypedArray(), sb.tensors[k]!.toTypedArray(), k);
    dispose([...a, ...b, ...Object.values(sa.tensors), ...Object.values(sb.tensors)]);
  }
});
