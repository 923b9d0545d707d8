// Pure-TypeScript inference kernels for one image (batch size 1), with PyTorch's semantics. This file imports only
// its sibling wasm_gemm.ts (no node:* modules, no src/torch, no native code) so that a trained detector can run in
// a browser; test/runtime/ops.test.ts checks each kernel against libtorch, with both matrix multiplies.
import { wasmGemm, type Gemm } from './wasm_gemm.js';

/** One image's feature map, CHW row-major: data[(c * h + y) * w + x]. */
export interface FMap {
  data: Float32Array;
  c: number;
  h: number;
  w: number;
}

function checkDim(name: string, what: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`${name}: ${what} must be an integer >= ${min}, got ${v}`);
}

function checkMap(name: string, x: FMap): void {
  checkDim(name, 'c', x.c, 1);
  checkDim(name, 'h', x.h, 1);
  checkDim(name, 'w', x.w, 1);
  if (!(x.data instanceof Float32Array)) throw new Error(`${name}: data must be a Float32Array`);
  const n = x.c * x.h * x.w;
  if (x.data.length !== n) {
    throw new Error(`${name}: data has ${x.data.length} elements, expected c*h*w = ${x.c}*${x.h}*${x.w} = ${n}`);
  }
}

function checkVec(name: string, what: string, v: Float32Array | null, n: number): void {
  if (v === null) return;
  if (!(v instanceof Float32Array)) throw new Error(`${name}: ${what} must be a Float32Array`);
  if (v.length !== n) throw new Error(`${name}: ${what} has ${v.length} elements, expected ${n}`);
}

// ---- convolution -------------------------------------------------------------------------------------------

// im2col scratch, grown on demand and reused across calls (JS is single-threaded, and it never escapes).
let scratch = new Float32Array(0);

// The im2col matrix of a full-resolution layer can reach hundreds of MB (7x7x3 stem at 800x1333: 157 MB), so
// conv2d works in bands of output rows whose im2col slab holds at most this many floats (16 MB).
const BAND_FLOATS = 1 << 22;

function scratchOf(n: number): Float32Array {
  if (scratch.length < n) scratch = new Float32Array(n);
  return scratch;
}

/**
 * For the output rows oy in [oy0, oy1), with N = (oy1 - oy0) * ow:
 * col[(ci*kh*kw + ky*kw + kx) * N + (oy-oy0)*ow + ox] = x[ci, oy*s - p + ky*d, ox*s - p + kx*d], zero outside.
 * Every element of col[0 : K*N] is written.
 */
function im2col(
  x: FMap,
  kh: number,
  kw: number,
  stride: number,
  padding: number,
  dilation: number,
  oy0: number,
  oy1: number,
  ow: number,
  col: Float32Array,
): void {
  const { data, c, h, w } = x;
  const N = (oy1 - oy0) * ow;
  let row = 0;
  for (let ci = 0; ci < c; ci++) {
    const plane = ci * h * w;
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++, row++) {
        const base = row * N - oy0 * ow;
        const dx = kx * dilation - padding;
        // Output columns whose input column ox*stride + dx lies in [0, w): [oxLo, oxHi).
        const oxLo = Math.min(ow, Math.max(0, Math.ceil(-dx / stride)));
        const oxHi = Math.max(oxLo, Math.min(ow, Math.floor((w - 1 - dx) / stride) + 1));
        for (let oy = oy0; oy < oy1; oy++) {
          const iy = oy * stride + ky * dilation - padding;
          const o = base + oy * ow;
          if (iy < 0 || iy >= h) {
            col.fill(0, o, o + ow);
            continue;
          }
          const src = plane + iy * w + dx;
          for (let ox = 0; ox < oxLo; ox++) col[o + ox] = 0;
          if (stride === 1) {
            col.set(data.subarray(src + oxLo, src + oxHi), o + oxLo);
          } else {
            for (let ox = oxLo; ox < oxHi; ox++) col[o + ox] = data[src + ox * stride]!;
          }
          for (let ox = oxHi; ox < ow; ox++) col[o + ox] = 0;
        }
      }
    }
  }
}

/**
 * out[M, N] += a[M, K] * b[K, N], all row-major; out's rows lie ldo apart from offset off. Each 4x4 block of out is summed over k in 16 local (float64)
 * accumulators, so every value loaded feeds four multiply-adds and out is written once: in V8 that runs about
 * twice as fast as the plain i-k-j loop, which loads and stores out on every k.
 */
function gemmAcc(
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  off: number,
  ldo: number,
  M: number,
  K: number,
  N: number,
): void {
  const M4 = M - (M % 4);
  const N4 = N - (N % 4);
  for (let i = 0; i < M4; i += 4) {
    const r0 = i * K;
    const r1 = r0 + K;
    const r2 = r1 + K;
    const r3 = r2 + K;
    for (let j = 0; j < N4; j += 4) {
      let s00 = 0,
        s01 = 0,
        s02 = 0,
        s03 = 0,
        s10 = 0,
        s11 = 0,
        s12 = 0,
        s13 = 0;
      let s20 = 0,
        s21 = 0,
        s22 = 0,
        s23 = 0,
        s30 = 0,
        s31 = 0,
        s32 = 0,
        s33 = 0;
      for (let k = 0, bk = j; k < K; k++, bk += N) {
        const a0 = a[r0 + k]!;
        const a1 = a[r1 + k]!;
        const a2 = a[r2 + k]!;
        const a3 = a[r3 + k]!;
        const b0 = b[bk]!;
        const b1 = b[bk + 1]!;
        const b2 = b[bk + 2]!;
        const b3 = b[bk + 3]!;
        s00 += a0 * b0;
        s01 += a0 * b1;
        s02 += a0 * b2;
        s03 += a0 * b3;
        s10 += a1 * b0;
        s11 += a1 * b1;
        s12 += a1 * b2;
        s13 += a1 * b3;
        s20 += a2 * b0;
        s21 += a2 * b1;
        s22 += a2 * b2;
        s23 += a2 * b3;
        s30 += a3 * b0;
        s31 += a3 * b1;
        s32 += a3 * b2;
        s33 += a3 * b3;
      }
      const o0 = off + i * ldo + j;
      const o1 = o0 + ldo;
      const o2 = o1 + ldo;
      const o3 = o2 + ldo;
      out[o0] += s00;
      out[o0 + 1] += s01;
      out[o0 + 2] += s02;
      out[o0 + 3] += s03;
      out[o1] += s10;
      out[o1 + 1] += s11;
      out[o1 + 2] += s12;
      out[o1 + 3] += s13;
      out[o2] += s20;
      out[o2 + 1] += s21;
      out[o2 + 2] += s22;
      out[o2 + 3] += s23;
      out[o3] += s30;
      out[o3 + 1] += s31;
      out[o3 + 2] += s32;
      out[o3 + 3] += s33;
    }
    // The last N % 4 columns of these four rows.
    for (let j = N4; j < N; j++) {
      let s0 = 0,
        s1 = 0,
        s2 = 0,
        s3 = 0;
      for (let k = 0, bk = j; k < K; k++, bk += N) {
        const v = b[bk]!;
        s0 += a[r0 + k]! * v;
        s1 += a[r1 + k]! * v;
        s2 += a[r2 + k]! * v;
        s3 += a[r3 + k]! * v;
      }
      const o = off + i * ldo + j;
      out[o] += s0;
      out[o + ldo] += s1;
      out[o + 2 * ldo] += s2;
      out[o + 3 * ldo] += s3;
    }
  }
  // The last M % 4 rows: i-k-j, the inner loop over contiguous columns.
  for (let i = M4; i < M; i++) {
    const o = off + i * ldo;
    const r = i * K;
    for (let k = 0; k < K; k++) {
      const av = a[r + k]!;
      const bk = k * N;
      for (let j = 0; j < N; j++) out[o + j] += av * b[bk + j]!;
    }
  }
}

const simdGemm = wasmGemm();
/** The matrix multiply conv2d uses: the WebAssembly SIMD kernel where the engine has one (about 5x faster), else gemmAcc. */
let gemm: Gemm = simdGemm ?? gemmAcc;

/** Picks conv2d's matrix multiply (tests and benchmarks compare the two); 'wasm' without SIMD support keeps 'js'. Returns the kernel now in use. */
export function useGemm(kind: 'wasm' | 'js'): 'wasm' | 'js' {
  gemm = kind === 'wasm' && simdGemm ? simdGemm : gemmAcc;
  return gemm === gemmAcc ? 'js' : 'wasm';
}

/**
 * x (cin, h, w), weight (cout, cin, kh, kw) row-major, bias (cout) or null -> (cout, oh, ow) with
 * oh = floor((h + 2*padding - dilation*(kh-1) - 1) / stride) + 1 (likewise ow). nn.Conv2d, zero padding, groups=1.
 */
export function conv2d(
  x: FMap,
  weight: Float32Array,
  wShape: readonly [number, number, number, number],
  bias: Float32Array | null,
  stride: number,
  padding: number,
  dilation = 1,
): FMap {
  const name = 'conv2d';
  checkMap(name, x);
  if (wShape.length !== 4) throw new Error(`${name}: wShape must be [cout, cin, kh, kw], got [${wShape.join(', ')}]`);
  const [cout, cin, kh, kw] = wShape;
  checkDim(name, 'cout', cout, 1);
  checkDim(name, 'cin', cin, 1);
  checkDim(name, 'kh', kh, 1);
  checkDim(name, 'kw', kw, 1);
  checkDim(name, 'stride', stride, 1);
  checkDim(name, 'padding', padding, 0);
  checkDim(name, 'dilation', dilation, 1);
  if (cin !== x.c) throw new Error(`${name}: weight expects ${cin} input channels, input has ${x.c}`);
  checkVec(name, 'weight', weight, cout * cin * kh * kw);
  checkVec(name, 'bias', bias, cout);
  const oh = Math.floor((x.h + 2 * padding - dilation * (kh - 1) - 1) / stride) + 1;
  const ow = Math.floor((x.w + 2 * padding - dilation * (kw - 1) - 1) / stride) + 1;
  if (oh < 1 || ow < 1) {
    throw new Error(
      `${name}: output would be ${oh}x${ow}: input ${x.h}x${x.w} is smaller than the dilated ` +
        `${kh}x${kw} kernel (padding ${padding}, dilation ${dilation})`,
    );
  }
  const P = oh * ow;
  const K = cin * kh * kw;
  const out = new Float32Array(cout * P);
  if (bias !== null) for (let o = 0; o < cout; o++) out.fill(bias[o]!, o * P, (o + 1) * P);
  if (kh === 1 && kw === 1 && stride === 1 && padding === 0) {
    // A 1x1 stride-1 unpadded conv is already a GEMM over the input as it lies.
    gemm(weight, x.data, out, 0, P, cout, K, P);
  } else {
    const rows = Math.max(1, Math.min(oh, Math.floor(BAND_FLOATS / (K * ow))));
    const col = scratchOf(K * rows * ow);
    for (let oy0 = 0; oy0 < oh; oy0 += rows) {
      const oy1 = Math.min(oh, oy0 + rows);
      im2col(x, kh, kw, stride, padding, dilation, oy0, oy1, ow, col);
      gemm(weight, col, out, oy0 * ow, P, cout, K, (oy1 - oy0) * ow);
    }
  }
  return { data: out, c: cout, h: oh, w: ow };
}

/** sigmoid of a float32 value as libtorch computes it on float32: 1 / (1 + exp(-x)), each step rounded. */
export function sigmoidF32(x: number): number {
  return Math.fround(1 / Math.fround(1 + Math.fround(Math.exp(-x))));
}

// ---- normalization ---------------------------------------------------------------------------------------

/** x (c, h, w); weight, bias, runningMean, runningVar (c) -> (c, h, w). nn.BatchNorm2d in eval mode. */
export function batchNorm(
  x: FMap,
  weight: Float32Array,
  bias: Float32Array,
  runningMean: Float32Array,
  runningVar: Float32Array,
  eps: number,
): FMap {
  const name = 'batchNorm';
  checkMap(name, x);
  checkVec(name, 'weight', weight, x.c);
  checkVec(name, 'bias', bias, x.c);
  checkVec(name, 'runningMean', runningMean, x.c);
  checkVec(name, 'runningVar', runningVar, x.c);
  if (!(eps >= 0)) throw new Error(`${name}: eps must be >= 0, got ${eps}`);
  const hw = x.h * x.w;
  const out = new Float32Array(x.data.length);
  for (let ch = 0; ch < x.c; ch++) {
    // Folded into one multiply-add per element, as libtorch's CPU kernel does.
    const scale = weight[ch]! / Math.sqrt(runningVar[ch]! + eps);
    const shift = bias[ch]! - runningMean[ch]! * scale;
    for (let i = ch * hw, end = i + hw; i < end; i++) out[i] = x.data[i]! * scale + shift;
  }
  return { data: out, c: x.c, h: x.h, w: x.w };
}

/**
 * x (c, h, w) with c divisible by groups; weight, bias (c) or null -> (c, h, w). nn.GroupNorm: each group of
 * c/groups channels is normalized by its own mean and biased variance over (c/groups)*h*w elements.
 */
export function groupNorm(
  x: FMap,
  groups: number,
  weight: Float32Array | null,
  bias: Float32Array | null,
  eps: number,
): FMap {
  const name = 'groupNorm';
  checkMap(name, x);
  checkDim(name, 'groups', groups, 1);
  if (x.c % groups !== 0) throw new Error(`${name}: ${x.c} channels are not divisible into ${groups} groups`);
  checkVec(name, 'weight', weight, x.c);
  checkVec(name, 'bias', bias, x.c);
  if (!(eps >= 0)) throw new Error(`${name}: eps must be >= 0, got ${eps}`);
  const hw = x.h * x.w;
  const perGroup = x.c / groups;
  const n = perGroup * hw;
  const src = x.data;
  const out = new Float32Array(src.length);
  for (let g = 0; g < groups; g++) {
    const start = g * n;
    const end = start + n;
    // Two passes in float64: the mean first, then the centred squares (no E[x^2] - E[x]^2 cancellation).
    let sum = 0;
    for (let i = start; i < end; i++) sum += src[i]!;
    const mean = sum / n;
    let sq = 0;
    for (let i = start; i < end; i++) {
      const d = src[i]! - mean;
      sq += d * d;
    }
    const rstd = 1 / Math.sqrt(sq / n + eps);
    for (let k = 0; k < perGroup; k++) {
      const ch = g * perGroup + k;
      const scale = (weight === null ? 1 : weight[ch]!) * rstd;
      const shift = (bias === null ? 0 : bias[ch]!) - mean * scale;
      for (let i = ch * hw, e = i + hw; i < e; i++) out[i] = src[i]! * scale + shift;
    }
  }
  return { data: out, c: x.c, h: x.h, w: x.w };
}

// ---- elementwise -----------------------------------------------------------------------------------------

/** x (c, h, w) -> the same object, max(x, 0) written IN PLACE into x.data (NaN stays NaN, as torch.relu). */
export function relu(x: FMap): FMap {
  checkMap('relu', x);
  const d = x.data;
  for (let i = 0; i < d.length; i++) if (d[i]! < 0) d[i] = 0;
  return x;
}

/** a, b (c, h, w) of the same shape -> a new (c, h, w) map a + b. */
export function add(a: FMap, b: FMap): FMap {
  checkMap('add', a);
  checkMap('add', b);
  if (a.c !== b.c || a.h !== b.h || a.w !== b.w) {
    throw new Error(`add: shapes differ: (${a.c}, ${a.h}, ${a.w}) vs (${b.c}, ${b.h}, ${b.w})`);
  }
  const out = new Float32Array(a.data.length);
  const x = a.data;
  const y = b.data;
  for (let i = 0; i < out.length; i++) out[i] = x[i]! + y[i]!;
  return { data: out, c: a.c, h: a.h, w: a.w };
}

/** x (c, h, w), scalar s -> a new (c, h, w) map x * s. */
export function mulScalar(x: FMap, s: number): FMap {
  checkMap('mulScalar', x);
  if (typeof s !== 'number') throw new Error(`mulScalar: s must be a number, got ${typeof s}`);
  // libtorch casts the scalar to the tensor's float32 first; the float64 product of two float32 values is
  // exact, so storing it rounds exactly like a float32 multiply.
  const sf = Math.fround(s);
  const out = new Float32Array(x.data.length);
  const d = x.data;
  for (let i = 0; i < out.length; i++) out[i] = d[i]! * sf;
  return { data: out, c: x.c, h: x.h, w: x.w };
}

// ---- pooling and resizing --------------------------------------------------------------------------------

/**
 * x (c, h, w) -> (c, oh, ow), oh = floor((h + 2*padding - kernel) / stride) + 1. nn.MaxPool2d with
 * ceil_mode=false and dilation 1; padded cells never win (they count as -Infinity), NaN propagates.
 */
export function maxPool2d(x: FMap, kernel: number, stride: number, padding: number): FMap {
  const name = 'maxPool2d';
  checkMap(name, x);
  checkDim(name, 'kernel', kernel, 1);
  checkDim(name, 'stride', stride, 1);
  checkDim(name, 'padding', padding, 0);
  // PyTorch's own rule: otherwise a window could lie entirely in the padding.
  if (padding > kernel / 2) {
    throw new Error(`${name}: padding ${padding} must be at most half the kernel size ${kernel}`);
  }
  const oh = Math.floor((x.h + 2 * padding - kernel) / stride) + 1;
  const ow = Math.floor((x.w + 2 * padding - kernel) / stride) + 1;
  if (oh < 1 || ow < 1) {
    throw new Error(`${name}: input ${x.h}x${x.w} is too small for kernel ${kernel} (padding ${padding})`);
  }
  const { data, c, h, w } = x;
  const out = new Float32Array(c * oh * ow);
  let o = 0;
  for (let ch = 0; ch < c; ch++) {
    const plane = ch * h * w;
    for (let oy = 0; oy < oh; oy++) {
      const y0 = Math.max(0, oy * stride - padding);
      const y1 = Math.min(h, oy * stride - padding + kernel);
      for (let ox = 0; ox < ow; ox++, o++) {
        const x0 = Math.max(0, ox * stride - padding);
        const x1 = Math.min(w, ox * stride - padding + kernel);
        let m = -Infinity;
        for (let iy = y0; iy < y1; iy++) {
          const r = plane + iy * w;
          for (let ix = x0; ix < x1; ix++) {
            const v = data[r + ix]!;
            if (v > m || v !== v) m = v;
          }
          if (m !== m) break;
        }
        out[o] = m;
      }
    }
  }
  return { data: out, c, h: oh, w: ow };
}

/** Source indices of PyTorch's legacy 'nearest': min(floor(dst * scale), in - 1), with scale = in / out in float32. */
function nearestIndex(inSize: number, outSize: number): Int32Array {
  const idx = new Int32Array(outSize);
  const scale = Math.fround(inSize / outSize);
  // The float64 product of two float32 values is exact; fround then rounds it as a float32 multiply would.
  for (let d = 0; d < outSize; d++) idx[d] = Math.min(Math.floor(Math.fround(d * scale)), inSize - 1);
  return idx;
}

/**
 * x (c, h, w) -> (c, outH, outW). F.interpolate(mode='nearest', size=(outH, outW)): src = floor(dst * in / out)
 * with PyTorch's float32 scale (not 'nearest-exact', which would add a half-pixel offset).
 */
export function upsampleNearest(x: FMap, outH: number, outW: number): FMap {
  const name = 'upsampleNearest';
  checkMap(name, x);
  checkDim(name, 'h', outH, 1);
  checkDim(name, 'w', outW, 1);
  const { data, c, h, w } = x;
  const ys = nearestIndex(h, outH);
  const xs = nearestIndex(w, outW);
  const out = new Float32Array(c * outH * outW);
  let o = 0;
  for (let ch = 0; ch < c; ch++) {
    const plane = ch * h * w;
    for (let oy = 0; oy < outH; oy++) {
      const r = plane + ys[oy]! * w;
      for (let ox = 0; ox < outW; ox++, o++) out[o] = data[r + xs[ox]!]!;
    }
  }
  return { data: out, c, h: outH, w: outW };
}
