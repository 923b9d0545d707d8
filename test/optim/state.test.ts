// Saving optimizer + scheduler state mid-training and resuming must reproduce the uninterrupted run bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tensor, tidy, dispose, manualSeed, randn, toBytes, noGrad, type Tensor } from '../../src/torch/index.js';
import { SGD, AdamW, LrScheduler, clipGradNorm, type Optimizer, type BaseHyper } from '../../src/optim/index.js';
import { saveSafetensors, loadSafetensors } from '../../src/io/index.js';

interface Model {
  w: Tensor;
  b: Tensor;
}

function model(): Model {
  manualSeed(7);
  return { w: randn([3, 2]).requiresGrad_(), b: randn([2]).requiresGrad_() };
}

/** One training iteration of a least-squares fit on fixed data: schedule, backward, clip, step. */
function iterate(m: Model, opt: Optimizer<BaseHyper>, sched: LrScheduler, it: number): void {
  sched.step();
  opt.zeroGrad();
  tidy(() => {
    const x = tensor([1, 2, 3, -1, 0.5, 2, 0, 1, -2, 3, 1, 1], [4, 3]);
    const y = tensor([1, 0, 0, 1, 1, 1, -1, 2], [4, 2]);
    const shift = it % 2 === 0 ? 0.5 : -0.25;
    const loss = x.matmul(m.w).add(m.b).sub(y).add(shift).square().mean();
    loss.backward();
  });
  clipGradNorm([m.w, m.b], 5);
  opt.step();
}

function makeOptimizers(m: Model): { name: string; opt: Optimizer<BaseHyper> }[] {
  return [
    {
      name: 'SGD',
      opt: new SGD([{ params: [m.w] }, { params: [m.b], weightDecay: 0 }], {
        lr: 0.05,
        momentum: 0.9,
        nesterov: true,
        weightDecay: 1e-3,
      }),
    },
    {
      name: 'AdamW',
      opt: new AdamW([{ params: [m.w] }, { params: [m.b], amsgrad: true }], { lr: 0.05, weightDecay: 0.1 }),
    },
  ];
}

const SCHEDULE = {
  byEpoch: false,
  warmup: { policy: 'linear' as const, iters: 3, ratio: 0.1 },
  decay: { policy: 'step' as const, steps: [5] },
};

for (const kind of ['SGD', 'AdamW']) {
  test(`${kind}: save mid-training to safetensors, resume, same steps as an uninterrupted run`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'ladet-opt-'));
    try {
      // Uninterrupted: 8 iterations.
      const ref = model();
      const refOpt = makeOptimizers(ref).find((o) => o.name === kind)?.opt as Optimizer<BaseHyper>;
      const refSched = new LrScheduler(refOpt, SCHEDULE);
      for (let it = 0; it < 8; it++) iterate(ref, refOpt, refSched, it);

      // Interrupted after 4 iterations: everything goes through a file.
      const a = model();
      const aOpt = makeOptimizers(a).find((o) => o.name === kind)?.opt as Optimizer<BaseHyper>;
      const aSched = new LrScheduler(aOpt, SCHEDULE);
      for (let it = 0; it < 4; it++) iterate(a, aOpt, aSched, it);
      const sd = aOpt.stateDict();
      const path = join(dir, 'ckpt.safetensors');
      saveSafetensors(
        path,
        { ...sd.tensors, 'model.w': a.w, 'model.b': a.b },
        {
          optimizer: JSON.stringify(sd.meta),
          scheduler: JSON.stringify(aSched.stateDict()),
        },
      );
      dispose(sd.tensors);
      aOpt.disposeState();
      dispose([a.w, a.b]);

      // Resume in fresh objects (the group lrs they start with are overwritten by the saved state).
      const loaded = loadSafetensors(path);
      const b = model();
      noGrad(() => {
        b.w.copy_(loaded.tensors.get('model.w') as Tensor);
        b.b.copy_(loaded.tensors.get('model.b') as Tensor);
      });
      const bOpt = makeOptimizers(b).find((o) => o.name === kind)?.opt as Optimizer<BaseHyper>;
      const stateTensors = new Map([...loaded.tensors].filter(([k]) => k.startsWith('state.')));
      bOpt.loadStateDict(stateTensors, JSON.parse(loaded.metadata?.optimizer as string));
      const bSched = new LrScheduler(bOpt, SCHEDULE);
      bSched.loadStateDict(JSON.parse(loaded.metadata?.scheduler as string));
      dispose(loaded.tensors);
      for (let it = 4; it < 8; it++) iterate(b, bOpt, bSched, it);

      assert.deepEqual(toBytes(b.w), toBytes(ref.w));
      assert.deepEqual(toBytes(b.b), toBytes(ref.b));
      assert.deepEqual(
        bOpt.paramGroups.map((g) => g.lr),
        refOpt.paramGroups.map((g) => g.lr),
      );
      const s1 = bOpt.stateDict();
      const s2 = refOpt.stateDict();
      assert.deepEqual(s1.meta, s2.meta);
      for (const k of Object.keys(s2.tensors))
        assert.deepEqual(toBytes(s1.tensors[k] as Tensor), toBytes(s2.tensors[k] as Tensor), k);
      // And the run did move: the check above is not comparing two untouched models.
      const fresh = model();
      assert.notDeepEqual(toBytes(ref.w), toBytes(fresh.w));
      dispose([s1.tensors, s2.tensors, ref, b, fresh]);
      refOpt.disposeState();
      bOpt.disposeState();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('loadStateDict checks everything before changing anything', () => {
  const p = tensor([1, 2], [2], { requiresGrad: true });
  const q = tensor([3], [1], { requiresGrad: true });
  const opt = new AdamW([p, q], { lr: 0.1 });
  const g = tensor([1, 1]);
  p.grad = g;
  opt.step();
  const sd = opt.stateDict();
  const bad = (tensors: Record<string, Tensor>, meta: unknown, message: string): void => {
    assert.throws(() => opt.loadStateDict(tensors, meta), { message: `AdamW.loadStateDict: ${message}` });
  };
  bad(sd.tensors, { ...sd.meta, type: 'SGD' }, 'the state is for "SGD", this optimizer is AdamW');
  bad(
    sd.tensors,
    { ...sd.meta, groups: [...sd.meta.groups, ...sd.meta.groups] },
    'the state has 2 parameter groups, this optimizer 1',
  );
  bad(
    sd.tensors,
    { ...sd.meta, groups: [{ ...sd.meta.groups[0], params: [0] }] },
    'group 0 has 1 parameters in the state, 2 here',
  );
  bad(
    sd.tensors,
    { ...sd.meta, groups: [{ ...sd.meta.groups[0], betas: 0.9 }] },
    'group 0: betas must be like [0.9,0.999], got 0.9',
  );
  bad(sd.tensors, { ...sd.meta, groups: [{ ...sd.meta.groups[0], lr: -1 }] }, 'group 0: invalid learning rate -1');
  bad(sd.tensors, { ...sd.meta, state: { '5': { step: 1 } } }, "state key '5' is not a parameter index below 2");
  bad(
    sd.tensors,
    { ...sd.meta, state: { '0': { step: 1.5 } } },
    'state 0: step must be a non-negative integer, got 1.5',
  );
  const wrongShape = tensor([1, 2, 3]);
  bad(
    { ...sd.tensors, 'state.0.exp_avg': wrongShape },
    sd.meta,
    "tensor 'state.0.exp_avg' has shape [3] but parameter 0 has shape [2]",
  );
  bad(
    { ...sd.tensors, 'state.0.momentum_buffer': wrongShape },
    sd.meta,
    "tensor 'state.0.momentum_buffer': 'momentum_buffer' is not a AdamW buffer (have: exp_avg, exp_avg_sq, max_exp_avg_sq)",
  );
  bad(
    { ...sd.tensors, 'state.1.exp_avg': wrongShape },
    sd.meta,
    "tensor 'state.1.exp_avg' belongs to parameter 1, which has no entry in meta.state",
  );
  bad({ ...sd.tensors, weight: wrongShape }, sd.meta, "tensor 'weight' is not named state.<index>.<buffer>");
  bad(
    { 'state.0.exp_avg': sd.tensors['state.0.exp_avg'] as Tensor },
    sd.meta,
    "parameter 0 has taken 1 steps but tensor 'state.0.exp_avg_sq' is missing",
  );
  // Nothing changed: the state is still the one from the first step.
  const now = opt.stateDict();
  assert.deepEqual(now.meta, sd.meta);
  assert.deepEqual(
    (now.tensors['state.0.exp_avg'] as Tensor).toArray(),
    (sd.tensors['state.0.exp_avg'] as Tensor).toArray(),
  );
  dispose([p, q, g, wrongShape, sd.tensors, now.tensors]);
  opt.disposeState();
});
