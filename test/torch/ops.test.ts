import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  arange,
  cat,
  conv2d,
  full,
  groupNorm,
  interpolateNearest,
  maxPool2d,
  binaryCrossEntropyWithLogits,
  batchNorm,
  ones,
  stack,
  tensor,
  where,
  zeros,
  manualSeed,
  randn,
  rand,
  im2col,
  randint,
  noGrad,
  defOp,
  wrap,
} from '../../src/torch/index.js';
import { assertClose } from '../helpers.js';

test('creation: dtypes, shapes and values round-trip through typed arrays', () => {
  const f = tensor([1.5, -2, 3], [3]);
  assert.equal(f.dtype, 'float32');
  assert.deepEqual(f.toArray(), [1.5, -2, 3]);
  const i = tensor(new BigInt64Array([1n, -5n, 9007199254740993n]));
  assert.equal(i.dtype, 'int64');
  assert.deepEqual([...i.toTypedArray()], [1n, -5n, 9007199254740993n]);
  const b = tensor([true, false, true]);
  assert.equal(b.dtype, 'bool');
  assert.deepEqual(b.toArray(), [1, 0, 1]);
  const d = tensor([1, 2, 3, 4, 5, 6], [2, 3], { dtype: 'float64' });
  assert.deepEqual(d.shape, [2, 3]);
  assert.equal(d.dtype, 'float64');
  assert.equal(d.numel, 6);
  assert.deepEqual(
    tensor(new Int32Array([7, 8]))
      .to('float32')
      .toArray(),
    [7, 8],
  );
  assert.deepEqual(
    tensor(new Uint8Array([0, 255]))
      .to('int32')
      .toArray(),
    [0, 255],
  );
  assert.deepEqual(zeros([2, 2]).toArray(), [0, 0, 0, 0]);
  assert.deepEqual(full([3], 2.5).toArray(), [2.5, 2.5, 2.5]);
  assert.deepEqual(arange(2, 11, 3).toArray(), [2, 5, 8]);
  assert.equal(arange(5).dtype, 'int64');
  assert.throws(() => tensor(new Float32Array(5), [2, 3]), /20 bytes given for a tensor of 24 bytes/);
});

test('seeded random generation is reproducible', () => {
  manualSeed(123);
  const a = randn([5]).toArray();
  const u = rand([3]).toArray();
  manualSeed(123);
  assert.deepEqual(randn([5]).toArray(), a);
  assert.deepEqual(rand([3]).toArray(), u);
  assert.ok(u.every((x) => x >= 0 && x < 1));
});

test('broadcasting arithmetic, comparisons and elementwise functions', () => {
  const a = tensor([1, 2, 3, 4], [2, 2]);
  const b = tensor([10, 20], [2]);
  assert.deepEqual(a.add(b).toArray(), [11, 22, 13, 24]);
  assert.deepEqual(a.add(b, 2).toArray(), [21, 42, 23, 44]);
  assert.deepEqual(a.sub(1).toArray(), [0, 1, 2, 3]);
  assert.deepEqual(a.rsub(1).toArray(), [0, -1, -2, -3]);
  assert.deepEqual(a.mul(b).toArray(), [10, 40, 30, 80]);
  assert.deepEqual(a.div(2).toArray(), [0.5, 1, 1.5, 2]);
  assert.deepEqual(a.pow(2).toArray(), [1, 4, 9, 16]);
  assert.deepEqual(a.gt(2).toArray(), [0, 0, 1, 1]);
  assert.deepEqual(a.eq(tensor([1, 0, 3, 0], [2, 2])).toArray(), [1, 0, 1, 0]);
  assert.deepEqual(a.le(b.div(10)).toArray(), [1, 1, 0, 0]);
  assertClose(tensor([0, 1]).exp().toArray(), [1, Math.E]);
  assertClose(tensor([1, Math.E]).log().toArray(), [0, 1]);
  assertClose(tensor([4, 9]).sqrt().toArray(), [2, 3]);
  assert.deepEqual(tensor([-1.5, 2]).abs().toArray(), [1.5, 2]);
  assertClose(tensor([0, 2]).sigmoid().toArray(), [0.5, 1 / (1 + Math.exp(-2))]);
  assertClose(tensor([0, -3]).logSigmoid().toArray(), [Math.log(0.5), -Math.log1p(Math.exp(3))]);
  assert.deepEqual(tensor([-1, 2]).relu().toArray(), [0, 2]);
  assertClose(tensor([0, 1]).softplus().toArray(), [Math.log(2), Math.log1p(Math.E)]);
  assert.deepEqual(tensor([-2, 0.5, 3]).clamp(0, 1).toArray(), [0, 0.5, 1]);
  assert.deepEqual(tensor([-2, 0.5, 3]).clamp(0).toArray(), [0, 0.5, 3]);
  assert.deepEqual(tensor([-2, 0.5, 3]).clamp(null, 1).toArray(), [-2, 0.5, 1]);
});

test('reductions: sum/mean/max/argmax/topk/sort/std/var/logsumexp', () => {
  const a = tensor([3, 1, 4, 1, 5, 9], [2, 3]);
  assert.equal(a.sum().item(), 23);
  assert.deepEqual(a.sum(0).toArray(), [4, 6, 13]);
  assert.deepEqual(a.sum(1, true).shape, [2, 1]);
  assertClose(a.mean(1).toArray(), [8 / 3, 5]);
  assert.equal(a.max().item(), 9);
  const m = a.maxDim(1);
  assert.deepEqual(m.values.toArray(), [4, 9]);
  assert.deepEqual(m.indices.toArray(), [2, 2]);
  assert.deepEqual(a.argmax(0).toArray(), [0, 1, 1]);
  const t = tensor([5, 2, 8, 2, 7]).topk(2, -1, false);
  assert.deepEqual(t.values.toArray(), [2, 2]);
  assert.deepEqual(t.indices.toArray().sort(), [1, 3]);
  // stable sort keeps the original order of ties
  const s = tensor([2, 1, 2, 1, 0]).sort(-1, false, true);
  assert.deepEqual(s.values.toArray(), [0, 1, 1, 2, 2]);
  assert.deepEqual(s.indices.toArray(), [4, 1, 3, 0, 2]);
  const x = tensor([2, 4, 4, 4, 5, 5, 7, 9], [8], { dtype: 'float64' });
  assertClose([x.std(undefined, false).item()], [2]);
  assertClose([x.var().item()], [32 / 7]);
  assertClose([x.std().item()], [Math.sqrt(32 / 7)]);
  assertClose(
    tensor([0, Math.log(3)], [2], { dtype: 'float64' })
      .logsumexp(0)
      .toArray(),
    [Math.log(4)],
  );
});

test('shape ops: view/permute/slice/narrow/gather/scatter/masked/nonzero/split/unfold/index', () => {
  const a = arange(6).reshape([2, 3]);
  assert.deepEqual(a.permute([1, 0]).contiguous().toArray(), [0, 3, 1, 4, 2, 5]);
  assert.deepEqual(a.transpose(0, 1).shape, [3, 2]);
  assert.deepEqual(a.flatten().shape, [6]);
  assert.deepEqual(a.slice(1, 1, 3).toArray(), [1, 2, 4, 5]);
  assert.deepEqual(a.slice(1, 0, null, 2).toArray(), [0, 2, 3, 5]);
  assert.deepEqual(a.narrow(0, 1, 1).toArray(), [3, 4, 5]);
  assert.deepEqual(a.select(1, 2).toArray(), [2, 5]);
  assert.deepEqual(a.indexSelect(1, tensor(new BigInt64Array([2n, 0n]))).toArray(), [2, 0, 5, 3]);
  assert.deepEqual(a.gather(1, tensor(new BigInt64Array([1n, 1n, 0n, 2n]), [2, 2])).toArray(), [1, 1, 3, 5]);
  assert.deepEqual(
    zeros([3], { dtype: 'int64' })
      .scatter(0, tensor(new BigInt64Array([2n])), 7)
      .toArray(),
    [0, 0, 7],
  );
  assert.deepEqual(
    zeros([3])
      .scatterAdd(0, tensor(new BigInt64Array([0n, 0n, 2n])), tensor([1, 2, 3]))
      .toArray(),
    [3, 0, 3],
  );
  const mask = a.gt(2);
  assert.deepEqual(a.maskedSelect(mask).toArray(), [3, 4, 5]);
  assert.deepEqual(a.maskedFill(mask, -1).toArray(), [0, 1, 2, -1, -1, -1]);
  assert.deepEqual(mask.nonzero().toArray(), [1, 0, 1, 1, 1, 2]);
  const parts = arange(5).split([2, 3]);
  assert.deepEqual(
    parts.map((p) => p.toArray()),
    [
      [0, 1],
      [2, 3, 4],
    ],
  );
  assert.deepEqual(
    arange(5)
      .split(2)
      .map((p) => p.numel),
    [2, 2, 1],
  );
  assert.deepEqual(arange(5).unfold(0, 3, 2).toArray(), [0, 1, 2, 2, 3, 4]);
  assert.deepEqual(a.index([tensor(new BigInt64Array([1n, 0n]))]).toArray(), [3, 4, 5, 0, 1, 2]);
  assert.deepEqual(a.index([null, tensor(new BigInt64Array([0n]))]).toArray(), [0, 3]);
  assert.deepEqual(
    zeros([3])
      .indexPut([tensor(new BigInt64Array([0n, 0n]))], tensor([1, 2]), true)
      .toArray(),
    [3, 0, 0],
  );
  assert.deepEqual(a.unsqueeze(0).shape, [1, 2, 3]);
  assert.deepEqual(a.unsqueeze(0).squeeze(0).shape, [2, 3]);
  assert.deepEqual(tensor([1, 2]).expand([2, 2]).toArray(), [1, 2, 1, 2]);
  assert.deepEqual(tensor([1, 2]).repeat([2]).toArray(), [1, 2, 1, 2]);
  assert.deepEqual(cat([tensor([1]), tensor([2, 3])]).toArray(), [1, 2, 3]);
  assert.deepEqual(stack([tensor([1, 2]), tensor([3, 4])], 1).toArray(), [1, 3, 2, 4]);
  assert.deepEqual(where(tensor([true, false]), tensor([1, 2]), tensor([8, 9])).toArray(), [1, 9]);
  assert.deepEqual(where(tensor([true, false]), tensor([1, 2]), 0).toArray(), [1, 0]);
  assert.equal(
    tensor([1, 2])
      .matmul(tensor([3, 4]))
      .item(),
    11,
  );
});

test('conv2d, max_pool2d, nearest interpolation and im2col against hand computation', () => {
  // 1x1x3x3 input, 2x2 all-ones kernel: each output is the sum of a 2x2 window.
  const x = arange(9, undefined, 1, { dtype: 'float32' }).reshape([1, 1, 3, 3]);
  const w = ones([1, 1, 2, 2]);
  assert.deepEqual(conv2d(x, w).toArray(), [8, 12, 20, 24]);
  assert.deepEqual(conv2d(x, w, tensor([1]), { stride: 2 }).toArray(), [9]);
  // padding 1 gives a 4x4 map; corner = x[0,0]
  const p = conv2d(x, w, null, { padding: 1 }).toArray();
  assert.equal(p.length, 16);
  assert.equal(p[0], 0);
  assert.equal(p[15], 8);
  // dilation 2 on 3x3 touches the four corners
  assert.deepEqual(conv2d(x, w, null, { dilation: 2 }).toArray(), [0 + 2 + 6 + 8]);
  // groups: two channels, each convolved by its own 1x1 weight
  const x2 = tensor([1, 2, 3, 4, 10, 20, 30, 40], [1, 2, 2, 2]);
  assert.deepEqual(
    conv2d(x2, tensor([2, 3], [2, 1, 1, 1]), null, { groups: 2 }).toArray(),
    [2, 4, 6, 8, 30, 60, 90, 120],
  );
  assert.deepEqual(maxPool2d(x, 2, 1).toArray(), [4, 5, 7, 8]);
  assert.deepEqual(interpolateNearest(tensor([1, 2], [1, 1, 1, 2]), null, 2).toArray(), [1, 1, 2, 2, 1, 1, 2, 2]);
  assert.deepEqual(interpolateNearest(tensor([1, 2, 3, 4], [1, 1, 2, 2]), [2, 4]).toArray(), [1, 1, 2, 2, 3, 3, 4, 4]);
  const cols = im2col(x, 2);
  assert.deepEqual(cols.shape, [1, 4, 4]);
  assert.deepEqual(cols.toArray().slice(0, 4), [0, 1, 3, 4]);
});

test('group_norm, batch_norm and BCE-with-logits against hand computation', () => {
  // one group of 4 values: (x - 2.5) / sqrt(1.25 + eps)
  const x = tensor([1, 2, 3, 4], [1, 2, 2, 1], { dtype: 'float64' });
  const s = Math.sqrt(1.25 + 1e-5);
  assertClose(groupNorm(x, 1, null, null).toArray(), [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]);
  // two groups: each channel normalised on its own pair
  const s2 = Math.sqrt(0.25 + 1e-5);
  assertClose(
    groupNorm(x, 2, tensor([2, 1], [2], { dtype: 'float64' }), tensor([0, 1], [2], { dtype: 'float64' })).toArray(),
    [(-0.5 / s2) * 2, (0.5 / s2) * 2, -0.5 / s2 + 1, 0.5 / s2 + 1],
  );
  // batch norm in training mode updates running stats with momentum and the unbiased batch variance
  const xb = tensor([1, 3, 5, 7], [4, 1, 1, 1], { dtype: 'float64' });
  const rm = zeros([1], { dtype: 'float64' });
  const rv = ones([1], { dtype: 'float64' });
  const y = batchNorm(xb, rm, rv, null, null, true, 0.1, 0);
  assertClose(
    y.toArray(),
    [-3, -1, 1, 3].map((v) => v / Math.sqrt(5)),
  );
  assertClose(rm.toArray(), [0.4]);
  assertClose(rv.toArray(), [0.9 + 0.1 * (20 / 3)]);
  // eval mode uses the running stats
  assertClose(
    batchNorm(xb, rm, rv, null, null, false, 0.1, 0).toArray(),
    [1, 3, 5, 7].map((v) => (v - 0.4) / Math.sqrt(0.9 + 2 / 3)),
  );
  const z = tensor([0.5, -1, 2], [3], { dtype: 'float64' });
  const t = tensor([1, 0, 0.3], [3], { dtype: 'float64' });
  const expect = [0.5, -1, 2].map((zi, i) => {
    const ti = [1, 0, 0.3][i] as number;
    return Math.max(zi, 0) - zi * ti + Math.log1p(Math.exp(-Math.abs(zi)));
  });
  assertClose(binaryCrossEntropyWithLogits(z, t, null, 'none').toArray(), expect);
  assertClose([binaryCrossEntropyWithLogits(z, t).item()], [expect.reduce((a, b) => a + b) / 3]);
  assertClose(
    [binaryCrossEntropyWithLogits(z, t, tensor([1, 0, 2], [3], { dtype: 'float64' }), 'sum').item()],
    [(expect[0] as number) + 2 * (expect[2] as number)],
  );
});

test('maxPool2d (channels-last without autograd) equals aten::max_pool2d on NCHW: values and gradients, ties included', () => {
  const direct = defOp('aten::max_pool2d');
  manualSeed(5);
  for (const dtype of ['float32', 'bfloat16'] as const) {
    for (const [k, s, p, ceil] of [
      [3, 2, 1, false],
      [2, 2, 0, true],
      [3, 1, 1, false],
    ] as const) {
      // values from {0, 1, 2}: most windows hold ties, so the argmax rule decides where gradients go
      const x = randint(0, 3, [2, 3, 9, 11]).to(dtype);
      const a = x.clone();
      const b = x.clone();
      a.requiresGrad = true;
      b.requiresGrad = true;
      const ya = maxPool2d(a, k, s, p, ceil);
      const yb = wrap(direct(b, k, s, p, 1, ceil));
      assert.deepEqual(ya.shape, yb.shape);
      assert.deepEqual(ya.toArray(), yb.toArray(), `values ${dtype} k${k} s${s} p${p}`);
      const yc = noGrad(() => maxPool2d(x, k, s, p, ceil)); // the channels-last path
      assert.deepEqual(yc.shape, yb.shape);
      assert.deepEqual(yc.toArray(), yb.toArray(), `no-grad values ${dtype} k${k} s${s} p${p}`);
      const w = randn(ya.shape).to(dtype);
      ya.mul(w).sum().backward();
      yb.mul(w).sum().backward();
      assert.deepEqual(a.grad?.toArray(), b.grad?.toArray(), `gradients ${dtype} k${k} s${s} p${p}`);
    }
  }
});
