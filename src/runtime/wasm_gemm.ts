// The runtime's matrix multiply as a small WebAssembly SIMD kernel (128-bit f32x4), emitted here byte by byte so
// ladet ships no binary and needs no toolchain: C += A·B on row-major float32, A (M, K), B (K, N), 4 rows x 8
// columns of C per inner loop held in eight vector registers (compute-bound, where the scalar JS kernel is not).
// Used by ops.ts when the JS engine has WebAssembly SIMD (every current browser, Node >= 16); else the JS kernel.

// The slice of the WebAssembly JS API used here (the project's TypeScript libs are ES-only: no DOM, and the runtime
// must not lean on Node's types).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Memory: new (d: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (
    module: object,
    imports: Record<string, Record<string, unknown>>,
  ) => { exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
};

/** LEB128 of an unsigned integer. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** LEB128 of a signed 32-bit integer (i32.const). */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

// instructions
const get = (i: number): number[] => [0x20, ...uleb(i)];
const set = (i: number): number[] => [0x21, ...uleb(i)];
const i32 = (v: number): number[] => [0x41, ...sleb(v)];
const ADD = 0x6a;
const MUL = 0x6c;
const SUB = 0x6b;
const LT_U = 0x49;
const LOOP = [0x03, 0x40];
const END = 0x0b;
const brIf = (depth: number): number[] => [0x0d, ...uleb(depth)];
const simd = (op: number, ...imm: number[]): number[] => [0xfd, ...uleb(op), ...imm];
const memarg = (offset: number): number[] => [2, ...uleb(offset)]; // alignment hint 4 bytes: loads may be unaligned
const v128Load = (offset = 0): number[] => simd(0x00, ...memarg(offset));
const v128Store = (offset = 0): number[] => simd(0x0b, ...memarg(offset));
const load32Splat = (): number[] => simd(0x09, ...memarg(0));
const F32X4_ADD = simd(228);
const F32X4_MUL = simd(230);
const zero = (): number[] => [0x43, 0, 0, 0, 0, ...simd(0x13)]; // f32.const 0, f32x4.splat

// locals: parameters, then i32 scratch, then v128 registers
const [A, B, C, M, K, N] = [0, 1, 2, 3, 4, 5];
const [I, J, KK, PA0, PA1, PA2, PA3, PB, PC, K4, N4] = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
const ACC = (r: number, v: number): number => 17 + 2 * r + v; // 17..24
const [B0, B1, AV] = [25, 26, 27];

function body(): number[] {
  const code: number[] = [];
  const emit = (...parts: (number | number[])[]): void => {
    for (const p of parts) {
      if (typeof p === 'number') code.push(p);
      else code.push(...p);
    }
  };
  emit(get(K), i32(4), MUL, set(K4), get(N), i32(4), MUL, set(N4), i32(0), set(I));
  emit(LOOP); // rows, 4 at a time
  emit(i32(0), set(J));
  emit(LOOP); // columns, 8 at a time
  for (let r = 0; r < 4; r++) for (let v = 0; v < 2; v++) emit(zero(), set(ACC(r, v)));
  emit(get(A), get(I), get(K4), MUL, ADD, set(PA0));
  emit(get(PA0), get(K4), ADD, set(PA1), get(PA1), get(K4), ADD, set(PA2), get(PA2), get(K4), ADD, set(PA3));
  emit(get(B), get(J), i32(4), MUL, ADD, set(PB), get(K), set(KK));
  emit(LOOP); // the shared dimension
  emit(get(PB), v128Load(0), set(B0), get(PB), v128Load(16), set(B1));
  const pa = [PA0, PA1, PA2, PA3];
  for (let r = 0; r < 4; r++) {
    emit(get(pa[r] as number), load32Splat(), set(AV));
    emit(get(ACC(r, 0)), get(AV), get(B0), F32X4_MUL, F32X4_ADD, set(ACC(r, 0)));
    emit(get(ACC(r, 1)), get(AV), get(B1), F32X4_MUL, F32X4_ADD, set(ACC(r, 1)));
    emit(get(pa[r] as number), i32(4), ADD, set(pa[r] as number));
  }
  emit(get(PB), get(N4), ADD, set(PB));
  emit(get(KK), i32(1), SUB, [0x22, ...uleb(KK)] /* local.tee */, brIf(0), END);
  // C rows i..i+3, columns j..j+7 += the accumulators
  emit(get(C), get(I), get(N), MUL, get(J), ADD, i32(4), MUL, ADD, set(PC));
  for (let r = 0; r < 4; r++) {
    for (let v = 0; v < 2; v++) {
      emit(get(PC), get(PC), v128Load(16 * v), get(ACC(r, v)), F32X4_ADD, v128Store(16 * v));
    }
    emit(get(PC), get(N4), ADD, set(PC));
  }
  emit(get(J), i32(8), ADD, set(J), get(J), get(N), LT_U, brIf(0), END);
  emit(get(I), i32(4), ADD, set(I), get(I), get(M), LT_U, brIf(0), END);
  emit(END);
  return code;
}

function moduleBytes(): Uint8Array {
  const I32 = 0x7f;
  const V128 = 0x7b;
  const type = section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), 0]]));
  const imports = section(2, vec([[...name('env'), ...name('mem'), 0x02, 0x00, 1]]));
  const funcs = section(3, vec([[0]]));
  const exports = section(7, vec([[...name('gemm'), 0x00, 0]]));
  const fn = [
    ...vec([
      [...uleb(11), I32],
      [...uleb(11), V128],
    ]),
    ...body(),
  ];
  const code = section(10, vec([[...uleb(fn.length), ...fn]]));
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...type,
    ...imports,
    ...funcs,
    ...exports,
    ...code,
  ]);
}

/** out[off + i·ldo + j] += Σ_k a[i·K + k] · b[k·N + j], for i < M, j < N. */
export type Gemm = (
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  off: number,
  ldo: number,
  M: number,
  K: number,
  N: number,
) => void;

/** The SIMD kernel behind the Gemm signature (operands copied in, zero-padded to 4 rows x 8 columns), or null without WebAssembly SIMD. */
export function wasmGemm(): Gemm | null {
  if (typeof WebAssembly === 'undefined') return null;
  let instance: { exports: Record<string, unknown> };
  const memory = new WebAssembly.Memory({ initial: 1 });
  try {
    const bytes = moduleBytes();
    if (!WebAssembly.validate(bytes)) return null;
    instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem: memory } });
  } catch {
    return null;
  }
  const gemm = instance.exports.gemm as (a: number, b: number, c: number, m: number, k: number, n: number) => void;
  return (a, b, out, off, ldo, M, K, N) => {
    if (M === 0 || N === 0) return;
    const Mp = Math.ceil(M / 4) * 4;
    const Np = Math.ceil(N / 8) * 8;
    const need = 4 * (Mp * K + K * Np + Mp * Np);
    if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
    const f = new Float32Array(memory.buffer);
    const pa = 0;
    const pb = Mp * K;
    const pc = pb + K * Np;
    f.set(a.subarray(0, M * K), pa);
    f.fill(0, pa + M * K, pb);
    if (Np === N) f.set(b.subarray(0, K * N), pb);
    else {
      f.fill(0, pb, pc);
      for (let k = 0; k < K; k++) f.set(b.subarray(k * N, k * N + N), pb + k * Np);
    }
    f.fill(0, pc, pc + Mp * Np);
    gemm(4 * pa, 4 * pb, 4 * pc, Mp, K, Np);
    for (let i = 0; i < M; i++) {
      const o = off + i * ldo;
      const r = pc + i * Np;
      for (let j = 0; j < N; j++) out[o + j] = (out[o + j] as number) + (f[r + j] as number);
    }
  };
}
