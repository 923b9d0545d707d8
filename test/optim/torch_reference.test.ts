// ladet's optimizers and clipGradNorm against trajectories recorded from PyTorch 1.13 (fixtures/make_fixtures.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tensor, dispose, type Tensor } from '../../src/torch/index.js';
import { SGD, AdamW, clipGradNorm, type Optimizer, type BaseHyper } from '../../src/optim/index.js';

type Dtype = 'float32' | 'float64';

interface OptimCase {
  name: string;
  optimizer: 'SGD' | 'AdamW';
  dtype: Dtype;
  defaults: Record<string, unknown>;
  groups: ({ params: number[] } & Record<string, unknown>)[];
  shapes: number[][];
  init: number[][];
  grads: (number[] | null)[][];
  expected: number[][][];
  state: Record<string, Record<string, number[] | number>>;
}

interface ClipCase {
  name: string;
  dtype: Dtype;
  maxNorm: number;
  normType: number | 'inf';
  shapes: number[][];
  grads: (number[] | null)[];
  total: number;
  clipped: (number[] | null)[];
}

const fixture = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../test/optim/fixtures/torch_optim.json', import.meta.url)), 'utf8'),
) as { optimizers: OptimCase[]; clip: ClipCase[] };

/** Relative closeness per element: a few ulps of the dtype (the same libtorch kernels run in both). */
function assertClose(actual: ArrayLike<number>, expected: readonly number[], dtype: Dtype, what: string): void {
  const tol = dtype === 'float32' ? 4e-7 : 1e-14;
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    assert.ok(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)), `${what}[${i}]: ${a} vs torch ${e}`);
  }
}

function setGrad(p: Tensor, values: number[] | null, dtype: Dtype): void {
  if (values === null) {
    p.grad = null;
    return;
  }
  const g = tensor(dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values), p.shape);
  p.grad = g;
  g.dispose();
}

for (const c of fixture.optimizers) {
  test(`${c.optimizer} matches torch.optim: ${c.name}`, () => {
    const params = c.init.map((v, i) =>
      tensor(c.dtype === 'float32' ? Float32Array.from(v) : Float64Array.from(v), c.shapes[i], { requiresGrad: true }),
    );
    const groups = c.groups.map((g) => ({ ...g, params: g.params.map((i) => params[i] as Tensor) }));
    const opt: Optimizer<BaseHyper> =
      c.optimizer === 'SGD'
        ? new SGD(groups as never, c.defaults as never)
        : new AdamW(groups as never, c.defaults as never);
    c.grads.forEach((stepGrads, s) => {
      params.forEach((p, i) => setGrad(p, stepGrads[i] ?? null, c.dtype));
      opt.step();
      params.forEach((p, i) =>
        assertClose(p.toArray(), c.expected[s]?.[i] as number[], c.dtype, `step ${s + 1} param ${i}`),
      );
    });
    const sd = opt.stateDict();
    for (const [i, entry] of Object.entries(c.state)) {
      for (const [name, value] of Object.entries(entry)) {
        if (name === 'step') assert.equal(sd.meta.state[i]?.step, value, `param ${i} step`);
        else
          assertClose(
            (sd.tensors[`state.${i}.${name}`] as Tensor).toArray(),
            value as number[],
            c.dtype,
            `state.${i}.${name}`,
          );
      }
    }
    dispose([params, sd.tensors]);
    opt.disposeState();
  });
}

for (const c of fixture.clip) {
  test(`clipGradNorm matches torch.nn.utils.clip_grad_norm_: ${c.name}`, () => {
    const params = c.shapes.map((s) =>
      tensor(new Array<number>(s.reduce((a, b) => a * b, 1)).fill(0), s, { dtype: c.dtype, requiresGrad: true }),
    );
    params.forEach((p, i) => setGrad(p, c.grads[i] ?? null, c.dtype));
    const total = clipGradNorm(params, c.maxNorm, c.normType === 'inf' ? Infinity : c.normType);
    assertClose([total], [c.total], c.dtype, 'total norm');
    params.forEach((p, i) => {
      const g = p.grad;
      const want = c.clipped[i] ?? null;
      if (want === null) assert.equal(g, null);
      else assertClose((g as Tensor).toArray(), want, c.dtype, `grad ${i}`);
      g?.dispose();
    });
    dispose(params);
  });
}
