import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  COPHead,
  IOPHead,
  PAAHead,
  copProbabilities,
  flattenHeadOutputs,
  iopProbabilities,
} from '../../src/models/index.js';
import { probFocalLoss } from '../../src/losses/prob_focal.js';
import { Detector } from '../../src/models/detector.js';
import { dispose, full, manualSeed, noGrad, randn, tensor, tidy } from '../../src/torch/index.js';
import { assertClose, gradcheck } from '../helpers.js';

const sig = (v: number): number => 1 / (1 + Math.exp(-v));

/** COP by its definition, with explicit loops: z (B, C, H, W), o (B, k², H, W) as nested index functions. */
function copByHand(z: number[], o: number[], b: number, c: number, h: number, w: number, k: number): number[] {
  const r = (k - 1) / 2;
  const out: number[] = [];
  for (let n = 0; n < b; n++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          let s = 0;
          for (let dy = -r; dy <= r; dy++)
            for (let dx = -r; dx <= r; dx++) {
              const yy = y + dy;
              const xx = x + dx;
              // outside the map the zero-padded logit gives sigmoid(0) = 0.5
              const zv = yy < 0 || yy >= h || xx < 0 || xx >= w ? 0 : (z[((n * c + ch) * h + yy) * w + xx] as number);
              const j = (dy + r) * k + (dx + r);
              s += sig(zv) * sig(o[((n * k * k + j) * h + y) * w + x] as number);
            }
          out.push(s / (k * k));
        }
  return out;
}

test('COP probabilities match the k x k neighbourhood formula, zero-padded logits included (k = 3 and 5)', () => {
  for (const [b, c, h, w, k] of [
    [2, 2, 3, 4, 3],
    [1, 3, 2, 5, 5],
  ] as const) {
    const z = Array.from({ length: b * c * h * w }, (_, i) => Math.sin(1.7 * i) * 3);
    const o = Array.from({ length: b * k * k * h * w }, (_, i) => Math.cos(0.9 * i) * 2);
    const got = tidy(() =>
      copProbabilities(
        tensor(z, [b, c, h, w], { dtype: 'float64' }),
        tensor(o, [b, k * k, h, w], { dtype: 'float64' }),
        k,
      ).toArray(),
    );
    assertClose(got, copByHand(z, o, b, c, h, w, k), 1e-12, `k=${k}`);
  }
  // a corner of a map of constant logit 0 and coefficients +inf-like: every neighbour (padded or not) gives 0.5
  const p = tidy(() =>
    copProbabilities(
      tensor(new Float64Array(4), [1, 1, 2, 2], { dtype: 'float64' }),
      tensor(new Float64Array(36).fill(40), [1, 9, 2, 2], { dtype: 'float64' }),
      3,
    ).toArray(),
  );
  assertClose(p, [0.5, 0.5, 0.5, 0.5], 1e-12);
  assert.throws(() => copProbabilities(randn([1, 2, 3, 3]), randn([1, 4, 3, 3]), 3), {
    message: 'copProbabilities: coefficients must be (1, 9, 3, 3), got [1, 4, 3, 3]',
  });
});

test('COP and IOP gradients agree with finite differences (float64)', () => {
  manualSeed(3);
  const z = randn([1, 2, 3, 3], { dtype: 'float64' });
  const o = randn([1, 9, 3, 3], { dtype: 'float64' });
  const wts = randn([1, 2, 3, 3], { dtype: 'float64' });
  gradcheck(([a, b]) => copProbabilities(a!, b!, 3).mul(wts).sum(), [z, o]);
  // IOP: keep sigma(z) - sigma(b) away from the ReLU kink so the finite difference is meaningful
  const zi = tensor([2, -1, 0.5, 1.5, -4, 0.2], [1, 2, 1, 3], { dtype: 'float64' });
  const bias = tensor([-1, -3.5, 0.4], [1, 1, 1, 3], { dtype: 'float64' });
  const obj = tensor([0.3, -0.7, 1.2], [1, 1, 1, 3], { dtype: 'float64' });
  const w2 = randn([1, 2, 1, 3], { dtype: 'float64' });
  gradcheck(([a, b, c]) => iopProbabilities(a!, b!, c!).mul(w2).sum(), [zi, obj, bias]);
  dispose([z, o, wts, zi, bias, obj, w2]);
});

test('IOP probabilities: ReLU(sigma(z) - sigma(b)) * sigma(o) by hand, zero below the bias', () => {
  const z = [2, -1, 0.5, 1.5, -4, 0.2];
  const ob = [0.3, -0.7, 1.2];
  const bi = [-1, -3.5, 0.4];
  const got = tidy(() =>
    iopProbabilities(
      tensor(z, [1, 2, 1, 3], { dtype: 'float64' }),
      tensor(ob, [1, 1, 1, 3], { dtype: 'float64' }),
      tensor(bi, [1, 1, 1, 3], { dtype: 'float64' }),
    ).toArray(),
  );
  const want = z.map((v, i) => Math.max(0, sig(v) - sig(bi[i % 3]!)) * sig(ob[i % 3]!));
  assertClose(got, want, 1e-12);
  // below its location's bias the class probability is exactly 0
  assert.deepEqual([got[4], got[5]], [0, 0]);
  assert.ok((got[0] as number) > 0);
});

test('COP / IOP heads: ccdet module names and init, probabilities out, optional IoU branch', () => {
  manualSeed(1);
  const base = { numClasses: 3, inChannels: 8, featChannels: 8, stackedConvs: 1, gnGroups: 4, numLevels: 2 };
  const cop = new COPHead(base);
  const iop = new IOPHead({ ...base, iouBranch: false });
  const copKeys = [...cop.stateDict().keys()];
  assert.deepEqual(copKeys.slice(-2), ['coeff_conv.weight', 'coeff_conv.bias']);
  assert.deepEqual(cop.stateDict().get('coeff_conv.weight')!.shape, [9, 8, 3, 3]);
  assert.equal(cop.stateDict().get('coeff_conv.bias')!.abs().sum().item(), 0);
  assert.ok(copKeys.includes('atss_centerness.weight'));
  const iopKeys = [...iop.stateDict().keys()];
  assert.deepEqual(iopKeys.slice(-4), ['objectness.weight', 'objectness.bias', 'obj_bias.weight', 'obj_bias.bias']);
  assert.ok(!iopKeys.includes('atss_centerness.weight'), 'no IoU branch without iouBranch');
  assert.deepEqual(iop.stateDict().get('objectness.weight')!.shape, [1, 8, 3, 3]);
  assertClose(iop.stateDict().get('obj_bias.bias')!.toArray(), [-Math.log((1 - 1e-4) / 1e-4)], 1e-6);
  assert.ok(Math.abs(-Math.log((1 - 1e-4) / 1e-4) + 9.21024) < 1e-5);
  assert.equal(iop.stateDict().get('objectness.bias')!.item(), 0);
  assert.throws(() => new COPHead({ ...base, coeffKernelSize: 2 }), {
    message: 'COPHead: coeffKernelSize must be an odd whole number (got 2)',
  });
  assert.throws(() => new IOPHead({ ...base, numAnchors: 2 }), {
    message: 'IOPHead: only one anchor per location is supported (got numAnchors 2)',
  });

  const feats = [randn([2, 8, 4, 5]), randn([2, 8, 2, 3])];
  const oc = noGrad(() => cop.forward(feats));
  const oi = noGrad(() => iop.forward(feats));
  assert.equal(oc.clsKind, 'probs');
  assert.equal(oi.clsKind, 'probs');
  assert.equal(oi.iou, null);
  assert.deepEqual(
    oc.iou!.map((t) => t.shape),
    [
      [2, 1, 4, 5],
      [2, 1, 2, 3],
    ],
  );
  assert.deepEqual(
    oi.cls.map((t) => t.shape),
    [
      [2, 3, 4, 5],
      [2, 3, 2, 3],
    ],
  );
  for (const t of [...oc.cls, ...oi.cls]) assert.ok(t.min().item() >= 0 && t.max().item() <= 1);
  dispose([feats, oc, oi]);
  cop.dispose();
  iop.dispose();
});

test('COP / IOP heads apply their formula to the PAA logits and the reg tower (constant coefficient branches)', () => {
  manualSeed(2);
  const base = { numClasses: 2, inChannels: 4, featChannels: 4, stackedConvs: 1, gnGroups: 2, numLevels: 1 };
  const paa = new PAAHead(base);
  const cop = new COPHead(base);
  const iop = new IOPHead(base);
  // Shared towers and cls conv; coefficient convs with zero weights make their outputs the bias everywhere.
  cop.loadStateDict(paa.stateDict(), false);
  iop.loadStateDict(paa.stateDict(), false);
  noGrad(() => {
    cop.coeffConv.weight.zero_();
    (cop.coeffConv.bias as ReturnType<typeof randn>).copy_(tensor([-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2]));
    iop.objectness.weight.zero_();
    (iop.objectness.bias as ReturnType<typeof randn>).fill_(0.7);
    iop.objBias.weight.zero_();
    (iop.objBias.bias as ReturnType<typeof randn>).fill_(-2.5);
  });
  const x = [randn([1, 4, 3, 4])];
  const logits = noGrad(() => paa.forward(x)).cls[0]!;
  const z = logits.toArray();
  const coeff = [-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2].flatMap((v) => new Array(12).fill(v) as number[]);
  const copOut = noGrad(() => cop.forward(x)).cls[0]!;
  assertClose(copOut.toArray(), copByHand(z, coeff, 1, 2, 3, 4, 3), 1e-5);
  const iopOut = noGrad(() => iop.forward(x)).cls[0]!;
  assertClose(
    iopOut.toArray(),
    z.map((v) => Math.max(0, sig(v) - sig(-2.5)) * sig(0.7)),
    1e-6,
  );
  dispose([x, logits, copOut, iopOut]);
  for (const m of [paa, cop, iop]) m.dispose();
});

test('a detector with a COP head trains its coefficient conv through the probability focal loss', () => {
  manualSeed(4);
  const det = new Detector({
    backbone: { depth: 18, widthMultiplier: 0.125 },
    neck: { outChannels: 8, numOuts: 3 },
    head: { numClasses: 2, featChannels: 8, stackedConvs: 1, gnGroups: 4, type: 'cop', iouBranch: false },
  });
  assert.ok(det.head instanceof COPHead);
  assert.equal(det.head.atssCenterness, null);
  tidy(() => {
    const flat = flattenHeadOutputs(det.forward(randn([1, 3, 32, 32])), 2);
    assert.equal(flat.iou, null);
    const n = flat.cls.dim(1);
    // every anchor background except anchor 5, class 1
    const labels = full([n], 2, { dtype: 'int64' }).indexPut(
      [tensor([5], [1], { dtype: 'int64' })],
      tensor([1], [1], { dtype: 'int64' }),
    );
    const loss = probFocalLoss(flat.cls.reshape([n, 2]), labels, { reduction: 'mean', avgFactor: 1 });
    assert.ok(Number.isFinite(loss.item()) && loss.item() > 0);
    loss.backward();
  });
  const g = det.head.coeffConv.weight.grad!;
  assert.ok(g.abs().sum().item() > 0);
  g.dispose();
  det.dispose();
});
