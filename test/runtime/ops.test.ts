// The pure-TypeScript runtime kernels against libtorch (through ladet's own binding) on seeded random inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  batchNorm as tBatchNorm,
  conv2d as tConv2d,
  groupNorm as tGroupNorm,
  interpolateNearest,
  manualSeed,
  maxPool2d as tMaxPool2d,
  rand,
  randn,
  tensor,
  tidy,
  type Tensor,
} from '../../src/torch/index.js';
import {
  add,
  batchNorm,
  conv2d,
  groupNorm,
  maxPool2d,
  mulScalar,
  relu,
  upsampleNearest,
  useGemm,
  type FMap,
} from '../../src/runtime/ops.js';
import { assertClose } from '../helpers.js';

const TOL = 1e-4;

function randVec(shape: readonly number[], kind: 'randn' | 'rand' = 'randn'): Float32Array {
  return tidy(() => Float32Array.from((kind === 'randn' ? randn(shape) : rand(shape)).toTypedArray<'float32'>()));
}

function randMap(c: number, h: number, w: number): FMap {
  return { data: randVec([c, h, w]), c, h, w };
}

/** The map as a (1, c, h, w) tensor. */
function toT(x: FMap): Tensor {
  return tensor(x.data, [1, x.c, x.h, x.w]);
}

/** Runs f in a tidy scope and returns its (1, c, h, w) result's shape and values. */
function ref(f: () => Tensor): { shape: number[]; data: Float32Array } {
  return tidy(() => {
    const t = f();
    return { shape: t.shape, data: Float32Array.from(t.toTypedArray<'float32'>()) };
  });
}

function assertMatches(got: FMap, want: { shape: number[]; data: Float32Array }, msg: string, tol = TOL): void {
  assert.deepEqual([1, got.c, got.h, got.w], want.shape, `${msg}: shape`);
  assertClose(got.data, want.data, tol, msg);
}

interface ConvCase {
  cin: number;
  cout: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  stride: number;
  padding: number;
  dilation: number;
  bias: boolean;
}

const convCases: ConvCase[] = [
  { cin: 3, cout: 8, h: 13, w: 11, kh: 3, kw: 3, stride: 1, padding: 1, dilation: 1, bias: true },
  { cin: 5, cout: 7, h: 15, w: 9, kh: 3, kw: 3, stride: 2, padding: 1, dilation: 1, bias: true },
  { cin: 16, cout: 12, h: 7, w: 5, kh: 1, kw: 1, stride: 1, padding: 0, dilation: 1, bias: true }, // GEMM fast path
  { cin: 6, cout: 5, h: 9, w: 8, kh: 1, kw: 1, stride: 2, padding: 0, dilation: 1, bias: false }, // strided 1x1
  { cin: 4, cout: 6, h: 6, w: 7, kh: 1, kw: 1, stride: 1, padding: 1, dilation: 1, bias: true }, // padded 1x1
  { cin: 4, cout: 9, h: 12, w: 10, kh: 3, kw: 3, stride: 1, padding: 2, dilation: 2, bias: true },
  { cin: 3, cout: 4, h: 17, w: 17, kh: 5, kw: 5, stride: 2, padding: 2, dilation: 1, bias: false },
  { cin: 2, cout: 3, h: 23, w: 19, kh: 7, kw: 7, stride: 2, padding: 3, dilation: 1, bias: true }, // ResNet stem shape
  { cin: 3, cout: 5, h: 8, w: 9, kh: 3, kw: 1, stride: 1, padding: 1, dilation: 1, bias: true }, // non-square kernel
  { cin: 4, cout: 4, h: 10, w: 11, kh: 3, kw: 3, stride: 3, padding: 0, dilation: 1, bias: true },
  { cin: 2, cout: 3, h: 1, w: 1, kh: 3, kw: 3, stride: 1, padding: 1, dilation: 1, bias: true }, // mostly padding
  { cin: 3, cout: 2, h: 9, w: 7, kh: 3, kw: 3, stride: 2, padding: 3, dilation: 3, bias: false },
  { cin: 64, cout: 64, h: 40, w: 40, kh: 3, kw: 3, stride: 1, padding: 1, dilation: 1, bias: true }, // the timed size
  { cin: 32, cout: 17, h: 25, w: 21, kh: 1, kw: 1, stride: 1, padding: 0, dilation: 1, bias: true }, // 1x1, big
  // im2col of 576 x 8280 floats exceeds one band (2^22 floats): rows 0-79, then 80-91.
  { cin: 64, cout: 5, h: 92, w: 90, kh: 3, kw: 3, stride: 1, padding: 1, dilation: 1, bias: true },
];

test('conv2d matches aten::conv2d over kernel sizes, strides, paddings and dilations, with either matrix multiply', () => {
  // the WebAssembly SIMD kernel must exist here (Node 20); each case runs through it and through the JS kernel
  assert.equal(useGemm('wasm'), 'wasm');
  for (const kernel of ['wasm', 'js'] as const) {
    useGemm(kernel);
    convCasesMatch(kernel);
  }
  useGemm('wasm');
});

function convCasesMatch(kernel: string): void {
  manualSeed(11);
  for (const k of convCases) {
    const x = randMap(k.cin, k.h, k.w);
    const wShape = [k.cout, k.cin, k.kh, k.kw] as const;
    const weight = randVec(wShape);
    const bias = k.bias ? randVec([k.cout]) : null;
    const got = conv2d(x, weight, wShape, bias, k.stride, k.padding, k.dilation);
    const want = ref(() =>
      tConv2d(toT(x), tensor(weight, wShape), bias === null ? null : tensor(bias, [k.cout]), {
        stride: k.stride,
        padding: k.padding,
        dilation: k.dilation,
      }),
    );
    assertMatches(got, want, `conv2d (${kernel} matrix multiply) ${JSON.stringify(k)}`);
  }
}

test('conv2d leaves its input alone and gives the same result when called twice (scratch reuse)', () => {
  manualSeed(12);
  const x = randMap(4, 9, 9);
  const before = Float32Array.from(x.data);
  const wShape = [3, 4, 3, 3] as const;
  const weight = randVec(wShape);
  const a = conv2d(x, weight, wShape, null, 2, 1);
  conv2d(randMap(4, 20, 20), randVec(wShape), wShape, null, 1, 1); // overwrites the scratch
  const b = conv2d(x, weight, wShape, null, 2, 1);
  assert.deepEqual(x.data, before);
  assert.deepEqual(a.data, b.data);
  assert.notEqual(a.data, b.data);
});

test('conv2d rejects bad shapes with clear errors', () => {
  const x = randMap(3, 5, 5);
  const wShape = [2, 3, 3, 3] as const;
  const weight = new Float32Array(2 * 3 * 9);
  assert.throws(() => conv2d(x, weight, [2, 4, 3, 3], null, 1, 1), /4 input channels, input has 3/);
  assert.throws(() => conv2d(x, weight.subarray(1), wShape, null, 1, 1), /weight has 53 elements, expected 54/);
  assert.throws(() => conv2d(x, weight, wShape, new Float32Array(3), 1, 1), /bias has 3 elements, expected 2/);
  assert.throws(() => conv2d(x, new Float32Array(2 * 3 * 49), [2, 3, 7, 7], null, 1, 0), /smaller than the dilated/);
  assert.throws(() => conv2d(x, weight, wShape, null, 0, 1), /stride must be an integer >= 1/);
  const short: FMap = { data: new Float32Array(10), c: 3, h: 5, w: 5 };
  assert.throws(() => conv2d(short, weight, wShape, null, 1, 1), /expected c\*h\*w/);
});

test('batchNorm matches aten::batch_norm in eval mode', () => {
  manualSeed(21);
  for (const [c, h, w, eps] of [
    [8, 7, 5, 1e-5],
    [3, 1, 1, 1e-3],
    [16, 12, 13, 0.1],
  ] as const) {
    const x = randMap(c, h, w);
    const weight = randVec([c]);
    const bias = randVec([c]);
    const mean = randVec([c]);
    const variance = randVec([c], 'rand').map((v) => v + 0.05);
    const got = batchNorm(x, weight, bias, mean, variance, eps);
    const want = ref(() =>
      tBatchNorm(toT(x), tensor(mean), tensor(variance), tensor(weight), tensor(bias), false, 0.1, eps),
    );
    assertMatches(got, want, `batchNorm c=${c} ${h}x${w}`);
  }
  const v3 = new Float32Array(3);
  assert.throws(
    () => batchNorm(randMap(3, 2, 2), v3, v3, new Float32Array(2), v3, 1e-5),
    /runningMean has 2 elements, expected 3/,
  );
});

test('groupNorm matches aten::group_norm (affine or not, 1 group to one group per channel)', () => {
  manualSeed(31);
  for (const [c, h, w, groups, affine] of [
    [8, 6, 5, 4, true],
    [8, 6, 5, 1, true],
    [6, 3, 7, 6, false],
    [32, 9, 11, 32, true],
    [64, 10, 10, 32, true],
    [4, 1, 1, 2, false],
  ] as const) {
    const x = randMap(c, h, w);
    // A large common offset checks that the variance is not computed as E[x^2] - E[x]^2.
    x.data = x.data.map((v) => v * 3 + 20);
    const weight = affine ? randVec([c]) : null;
    const bias = affine ? randVec([c]) : null;
    const got = groupNorm(x, groups, weight, bias, 1e-5);
    const want = ref(() =>
      tGroupNorm(toT(x), groups, weight === null ? null : tensor(weight), bias === null ? null : tensor(bias), 1e-5),
    );
    assertMatches(got, want, `groupNorm c=${c} groups=${groups} ${h}x${w}`, 5e-4);
  }
  assert.throws(() => groupNorm(randMap(6, 2, 2), 4, null, null, 1e-5), /not divisible into 4 groups/);
});

test('relu matches aten::relu and works in place', () => {
  manualSeed(41);
  const x = randMap(5, 7, 9);
  const want = ref(() => toT(x).relu());
  const got = relu(x);
  assert.equal(got, x);
  assertMatches(got, want, 'relu', 0);
});

test('add and mulScalar match libtorch bit for bit and leave inputs alone', () => {
  manualSeed(51);
  const a = randMap(4, 5, 6);
  const b = randMap(4, 5, 6);
  const a0 = Float32Array.from(a.data);
  assertMatches(
    add(a, b),
    ref(() => toT(a).add(toT(b))),
    'add',
    0,
  );
  for (const s of [0.5, -3, 0.1, 1 / 3, 1e-3]) {
    assertMatches(
      mulScalar(a, s),
      ref(() => toT(a).mul(s)),
      `mulScalar ${s}`,
      0,
    );
  }
  assert.deepEqual(a.data, a0);
  assert.throws(() => add(a, randMap(4, 6, 5)), /shapes differ/);
});

test('maxPool2d matches aten::max_pool2d (padding never wins, odd sizes)', () => {
  manualSeed(61);
  for (const [c, h, w, k, s, p] of [
    [3, 13, 11, 3, 2, 1],
    [2, 8, 8, 2, 2, 0],
    [2, 9, 7, 2, 2, 0],
    [4, 10, 9, 3, 1, 1],
    [2, 17, 15, 5, 3, 2],
    [1, 3, 3, 3, 2, 1],
    [2, 6, 5, 1, 2, 0],
  ] as const) {
    const x = randMap(c, h, w);
    x.data = x.data.map((v) => v - 10); // all negative: a zero-padded pool would be wrong at the borders
    const got = maxPool2d(x, k, s, p);
    const want = ref(() => tMaxPool2d(toT(x), k, s, p));
    assertMatches(got, want, `maxPool2d ${c}x${h}x${w} k${k} s${s} p${p}`, 0);
  }
  assert.throws(() => maxPool2d(randMap(1, 5, 5), 3, 1, 2), /at most half the kernel/);
  assert.throws(() => maxPool2d(randMap(1, 2, 2), 3, 1, 0), /too small/);
});

test('upsampleNearest matches aten::upsample_nearest2d for integer and non-integer ratios', () => {
  manualSeed(71);
  const pairs: [number, number][] = [
    [5, 9],
    [3, 5],
    [4, 8],
    [5, 10],
    [7, 7],
    [9, 4],
    [7, 3],
    [13, 20],
    [25, 50],
    [10, 13],
    [50, 100],
    [3, 1],
    [1, 6],
  ];
  // Every pair small enough to enumerate too: catches any float32 rounding of dst * scale that differs.
  for (let i = 1; i <= 12; i++) for (let o = 1; o <= 30; o++) pairs.push([i, o]);
  for (const [inH, outH] of pairs) {
    const inW = Math.max(1, (inH * 2 + 1) % 13);
    const outW = (outH * 3 + 2) % 31 || 1;
    const x = randMap(2, inH, inW);
    const got = upsampleNearest(x, outH, outW);
    const want = ref(() => interpolateNearest(toT(x), [outH, outW]));
    assertMatches(got, want, `upsampleNearest ${inH}x${inW} -> ${outH}x${outW}`, 0);
  }
  assert.throws(() => upsampleNearest(randMap(1, 2, 2), 0, 3), /h must be an integer >= 1/);
});

test('src/runtime/ops.ts imports only its siblings (browser-safe)', () => {
  const src = readFileSync(new URL('../../../src/runtime/ops.ts', import.meta.url), 'utf8');
  const imports = [...src.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
  const bare = [...src.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
  const bad = [...imports, ...bare].filter((spec) => !spec.startsWith('./'));
  assert.deepEqual(bad, [], `non-relative imports in src/runtime/ops.ts: ${bad.join(', ')}`);
  assert.doesNotMatch(src, /\brequire\s*\(|\bimport\s*\(/, 'no require() or dynamic import()');
  assert.doesNotMatch(src, /\b(process|Buffer|__dirname|globalThis)\b/, 'no Node globals');
});
