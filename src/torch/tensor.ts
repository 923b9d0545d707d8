// Tensor: a handle to a native at::Tensor plus the methods ladet uses. Every op returns a new tensor and leaves
// its inputs alone (in-place methods end in `_` and return `this`). Ops are bound by schema name through the
// generic dispatcher call, so this file is the whole "op table" of ladet.
import { native, type NativeArg, type NativeTensor } from './native.js';
import { track, type Tracked } from './memory.js';
import { dtypeCode, dtypeFromCode, viewAs, type DType, type TypedArrayOf } from './dtype.js';

/** An operator argument on the TypeScript side. */
export type Arg = Tensor | number | bigint | boolean | string | null | undefined | readonly Arg[];

function toNative(a: Arg): NativeArg {
  if (a instanceof Tensor) return a.handle;
  if (Array.isArray(a)) return (a as readonly Arg[]).map(toNative);
  return a as NativeArg;
}

/** Binds one operator overload by schema name; the native lookup happens on first use. */
export function defOp(name: string, overload = ''): (...args: Arg[]) => unknown {
  let id = -1;
  return (...args: Arg[]): unknown => {
    if (id < 0) id = native.opHandle(name, overload);
    return native.call(id, args.map(toNative));
  };
}

/** Wraps a native result that is one tensor. */
export function wrap(x: unknown): Tensor {
  if (x === null || typeof x !== 'object') throw new TypeError('ladet: operator returned no tensor');
  return new Tensor(x as NativeTensor);
}

/** Wraps a native result that is an array of tensors. */
export function wrapAll(x: unknown): Tensor[] {
  return (x as unknown[]).map(wrap);
}

export type Scalar = number;
export type Shape = readonly number[];

export interface ValuesIndices {
  values: Tensor;
  indices: Tensor;
}

const op = {
  addT: defOp('aten::add', 'Tensor'),
  addS: defOp('aten::add', 'Scalar'),
  subT: defOp('aten::sub', 'Tensor'),
  subS: defOp('aten::sub', 'Scalar'),
  rsubS: defOp('aten::rsub', 'Scalar'),
  mulT: defOp('aten::mul', 'Tensor'),
  mulS: defOp('aten::mul', 'Scalar'),
  divT: defOp('aten::div', 'Tensor'),
  divS: defOp('aten::div', 'Scalar'),
  divTMode: defOp('aten::div', 'Tensor_mode'),
  remT: defOp('aten::remainder', 'Tensor'),
  remS: defOp('aten::remainder', 'Scalar'),
  powT: defOp('aten::pow', 'Tensor_Tensor'),
  powS: defOp('aten::pow', 'Tensor_Scalar'),
  neg: defOp('aten::neg'),
  maximum: defOp('aten::maximum'),
  minimum: defOp('aten::minimum'),
  eqT: defOp('aten::eq', 'Tensor'),
  eqS: defOp('aten::eq', 'Scalar'),
  neT: defOp('aten::ne', 'Tensor'),
  neS: defOp('aten::ne', 'Scalar'),
  ltT: defOp('aten::lt', 'Tensor'),
  ltS: defOp('aten::lt', 'Scalar'),
  leT: defOp('aten::le', 'Tensor'),
  leS: defOp('aten::le', 'Scalar'),
  gtT: defOp('aten::gt', 'Tensor'),
  gtS: defOp('aten::gt', 'Scalar'),
  geT: defOp('aten::ge', 'Tensor'),
  geS: defOp('aten::ge', 'Scalar'),
  logicalAnd: defOp('aten::logical_and'),
  logicalOr: defOp('aten::logical_or'),
  logicalNot: defOp('aten::logical_not'),
  isfinite: defOp('aten::isfinite'),
  exp: defOp('aten::exp'),
  log: defOp('aten::log'),
  log1p: defOp('aten::log1p'),
  sqrt: defOp('aten::sqrt'),
  rsqrt: defOp('aten::rsqrt'),
  abs: defOp('aten::abs'),
  sigmoid: defOp('aten::sigmoid'),
  logSigmoid: defOp('aten::log_sigmoid'),
  relu: defOp('aten::relu'),
  softplus: defOp('aten::softplus'),
  tanh: defOp('aten::tanh'),
  floor: defOp('aten::floor'),
  ceil: defOp('aten::ceil'),
  round: defOp('aten::round'),
  sign: defOp('aten::sign'),
  reciprocal: defOp('aten::reciprocal'),
  square: defOp('aten::square'),
  clamp: defOp('aten::clamp'),
  sum: defOp('aten::sum'),
  sumDim: defOp('aten::sum', 'dim_IntList'),
  mean: defOp('aten::mean'),
  meanDim: defOp('aten::mean', 'dim'),
  prod: defOp('aten::prod'),
  max: defOp('aten::max'),
  maxDim: defOp('aten::max', 'dim'),
  min: defOp('aten::min'),
  minDim: defOp('aten::min', 'dim'),
  amax: defOp('aten::amax'),
  amin: defOp('aten::amin'),
  argmax: defOp('aten::argmax'),
  argmin: defOp('aten::argmin'),
  topk: defOp('aten::topk'),
  sortStable: defOp('aten::sort', 'stable'),
  argsortStable: defOp('aten::argsort', 'stable'),
  stdDim: defOp('aten::std', 'dim'),
  varDim: defOp('aten::var', 'dim'),
  logsumexp: defOp('aten::logsumexp'),
  all: defOp('aten::all'),
  any: defOp('aten::any'),
  cumsum: defOp('aten::cumsum'),
  matmul: defOp('aten::matmul'),
  reshape: defOp('aten::reshape'),
  view: defOp('aten::view'),
  permute: defOp('aten::permute'),
  transpose: defOp('aten::transpose', 'int'),
  contiguous: defOp('aten::contiguous'),
  flatten: defOp('aten::flatten', 'using_ints'),
  slice: defOp('aten::slice', 'Tensor'),
  narrow: defOp('aten::narrow'),
  select: defOp('aten::select', 'int'),
  indexSelect: defOp('aten::index_select'),
  gather: defOp('aten::gather'),
  scatterSrc: defOp('aten::scatter', 'src'),
  scatterValue: defOp('aten::scatter', 'value'),
  scatterAdd: defOp('aten::scatter_add'),
  maskedSelect: defOp('aten::masked_select'),
  maskedFillS: defOp('aten::masked_fill', 'Scalar'),
  maskedFillT: defOp('aten::masked_fill', 'Tensor'),
  nonzero: defOp('aten::nonzero'),
  splitSize: defOp('aten::split', 'Tensor'),
  splitSizes: defOp('aten::split_with_sizes'),
  chunk: defOp('aten::chunk'),
  unfold: defOp('aten::unfold'),
  unsqueeze: defOp('aten::unsqueeze'),
  squeeze: defOp('aten::squeeze'),
  squeezeDim: defOp('aten::squeeze', 'dim'),
  expand: defOp('aten::expand'),
  repeat: defOp('aten::repeat'),
  index: defOp('aten::index', 'Tensor'),
  indexPut: defOp('aten::index_put'),
  flip: defOp('aten::flip'),
  toDtype: defOp('aten::to', 'dtype'),
  toDevice: defOp('aten::to', 'device'),
  setData: defOp('aten::set_data'),
  clone: defOp('aten::clone'),
  detach: defOp('aten::detach'),
  add_: defOp('aten::add_', 'Tensor'),
  addS_: defOp('aten::add_', 'Scalar'),
  sub_: defOp('aten::sub_', 'Tensor'),
  mul_: defOp('aten::mul_', 'Tensor'),
  mulS_: defOp('aten::mul_', 'Scalar'),
  div_: defOp('aten::div_', 'Tensor'),
  divS_: defOp('aten::div_', 'Scalar'),
  addcmul_: defOp('aten::addcmul_'),
  addcdiv_: defOp('aten::addcdiv_'),
  copy_: defOp('aten::copy_'),
  zero_: defOp('aten::zero_'),
  fill_: defOp('aten::fill_', 'Scalar'),
  clamp_: defOp('aten::clamp_'),
  relu_: defOp('aten::relu_'),
  lerpS_: defOp('aten::lerp_', 'Scalar'),
  sqrt_: defOp('aten::sqrt_'),
  normal_: defOp('aten::normal_'),
  uniform_: defOp('aten::uniform_'),
  maskedFillS_: defOp('aten::masked_fill_', 'Scalar'),
  indexPut_: defOp('aten::index_put_'),
  equal: defOp('aten::equal'),
  allclose: defOp('aten::allclose'),
};

export class Tensor implements Tracked {
  #handle: NativeTensor | null;
  #meta: [number, string, boolean, ...number[]] | null = null;

  /** Adopts a native handle; prefer the creation functions. */
  constructor(handle: NativeTensor) {
    this.#handle = handle;
    track(this);
  }

  /** The native handle; throws if the tensor was disposed. */
  get handle(): NativeTensor {
    if (this.#handle === null) throw new Error('tensor was disposed');
    return this.#handle;
  }

  get isDisposed(): boolean {
    return this.#handle === null;
  }

  dispose(): void {
    if (this.#handle !== null) {
      native.dispose(this.#handle);
      this.#handle = null;
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #getMeta(): [number, string, boolean, ...number[]] {
    // dtype, device and shape change for a handle only through setData_ (which clears this); requiresGrad can.
    if (this.#meta === null) this.#meta = native.meta(this.handle);
    return this.#meta;
  }

  get shape(): number[] {
    return this.#getMeta().slice(3) as number[];
  }

  get ndim(): number {
    return this.#getMeta().length - 3;
  }

  /** Size of one dimension (negative counts from the end). */
  dim(d: number): number {
    const m = this.#getMeta();
    const n = m.length - 3;
    const i = d < 0 ? d + n : d;
    if (i < 0 || i >= n) throw new RangeError(`dimension ${d} out of range for a ${n}-d tensor`);
    return m[3 + i] as number;
  }

  /** Number of elements. */
  get numel(): number {
    let n = 1;
    const m = this.#getMeta();
    for (let i = 3; i < m.length; i++) n *= m[i] as number;
    return n;
  }

  get dtype(): DType {
    return dtypeFromCode(this.#getMeta()[0]);
  }

  get device(): string {
    return this.#getMeta()[1];
  }

  // ---- data out ----------------------------------------------------------------------------------------
  toTypedArray<D extends DType = DType>(): TypedArrayOf[D] {
    return viewAs(this.dtype as D, native.toBuffer(this.handle));
  }

  /** Elements as a flat array of JS numbers (int64 converted with Number()). */
  toArray(): number[] {
    const a = this.toTypedArray();
    return a instanceof BigInt64Array ? Array.from(a, Number) : Array.from(a as ArrayLike<number>);
  }

  /** The value of a one-element tensor. */
  item(): number {
    const v = native.item(this.handle);
    return typeof v === 'boolean' ? (v ? 1 : 0) : v;
  }

  // ---- autograd ----------------------------------------------------------------------------------------
  get requiresGrad(): boolean {
    return native.meta(this.handle)[2];
  }

  set requiresGrad(on: boolean) {
    native.setRequiresGrad(this.handle, on);
  }

  /**
   * Makes this tensor hold `data`'s storage, dtype, device and shape, keeping its identity, requiresGrad and autograd
   * role (torch's `param.data = data`): how a module moves its parameters to another device while every layer keeps
   * its handle. Returns this.
   */
  setData_(data: Tensor): this {
    op.setData(this, data);
    this.#meta = null;
    return this;
  }

  /** Sets requiresGrad and returns this, for chaining. */
  requiresGrad_(on = true): this {
    this.requiresGrad = on;
    return this;
  }

  /** The accumulated gradient (a new handle each call: dispose it), or null. */
  get grad(): Tensor | null {
    const g = native.grad(this.handle);
    return g === null ? null : new Tensor(g);
  }

  set grad(g: Tensor | null) {
    native.setGrad(this.handle, g === null ? null : g.handle);
  }

  get isLeaf(): boolean {
    return native.isLeaf(this.handle);
  }

  backward(gradient?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    native.backward(this.handle, gradient?.handle ?? null, opts.retainGraph ?? false);
  }

  detach(): Tensor {
    return wrap(op.detach(this));
  }

  // ---- conversion --------------------------------------------------------------------------------------
  to(dtype: DType): Tensor {
    return wrap(op.toDtype(this, dtypeCode(dtype)));
  }

  toDevice(device: string): Tensor {
    return wrap(op.toDevice(this, device, this.#getMeta()[0]));
  }

  float(): Tensor {
    return this.to('float32');
  }

  double(): Tensor {
    return this.to('float64');
  }

  long(): Tensor {
    return this.to('int64');
  }

  int(): Tensor {
    return this.to('int32');
  }

  bool(): Tensor {
    return this.to('bool');
  }

  clone(): Tensor {
    return wrap(op.clone(this));
  }

  // ---- arithmetic (broadcasting) -----------------------------------------------------------------------
  add(other: Tensor | Scalar, alpha: Scalar = 1): Tensor {
    return wrap(other instanceof Tensor ? op.addT(this, other, alpha) : op.addS(this, other, alpha));
  }

  sub(other: Tensor | Scalar, alpha: Scalar = 1): Tensor {
    return wrap(other instanceof Tensor ? op.subT(this, other, alpha) : op.subS(this, other, alpha));
  }

  /** other - this, for a scalar other. */
  rsub(other: Scalar): Tensor {
    return wrap(op.rsubS(this, other));
  }

  mul(other: Tensor | Scalar): Tensor {
    return wrap(other instanceof Tensor ? op.mulT(this, other) : op.mulS(this, other));
  }

  div(other: Tensor | Scalar): Tensor {
    return wrap(other instanceof Tensor ? op.divT(this, other) : op.divS(this, other));
  }

  /** Integer-style division: 'floor' or 'trunc' rounding. */
  divRound(other: Tensor, mode: 'floor' | 'trunc'): Tensor {
    return wrap(op.divTMode(this, other, mode));
  }

  remainder(other: Tensor | Scalar): Tensor {
    return wrap(other instanceof Tensor ? op.remT(this, other) : op.remS(this, other));
  }

  pow(exponent: Tensor | Scalar): Tensor {
    return wrap(exponent instanceof Tensor ? op.powT(this, exponent) : op.powS(this, exponent));
  }

  neg(): Tensor {
    return wrap(op.neg(this));
  }

  maximum(other: Tensor): Tensor {
    return wrap(op.maximum(this, other));
  }

  minimum(other: Tensor): Tensor {
    return wrap(op.minimum(this, other));
  }

  // ---- comparisons and logic ---------------------------------------------------------------------------
  eq(o: Tensor | Scalar): Tensor {
    return wrap(o instanceof Tensor ? op.eqT(this, o) : op.eqS(this, o));
  }

  ne(o: Tensor | Scalar): Tensor {
    return wrap(o instanceof Tensor ? op.neT(this, o) : op.neS(this, o));
  }

  lt(o: Tensor | Scalar): Tensor {
    return wrap(o instanceof Tensor ? op.ltT(this, o) : op.ltS(this, o));
  }

  le(o: Tensor | Scalar): Tensor {
    return wrap(o instanceof Tensor ? op.leT(this, o) : op.leS(this, o));
  }

  gt(o: Tensor | Scalar): Tensor {
    return wrap(o instanceof Tensor ? op.gtT(this, o) : op.gtS(this, o));
  }

  ge(o: Tensor | Scalar): Tensor {
    return wrap(o instanceof Tensor ? op.geT(this, o) : op.geS(this, o));
  }

  logicalAnd(o: Tensor): Tensor {
    return wrap(op.logicalAnd(this, o));
  }

  logicalOr(o: Tensor): Tensor {
    return wrap(op.logicalOr(this, o));
  }

  logicalNot(): Tensor {
    return wrap(op.logicalNot(this));
  }

  /** Elementwise: true where the value is neither NaN nor ±Infinity (always true for integer and bool tensors). */
  isFinite(): Tensor {
    return wrap(op.isfinite(this));
  }

  // ---- elementwise -------------------------------------------------------------------------------------
  exp(): Tensor {
    return wrap(op.exp(this));
  }

  log(): Tensor {
    return wrap(op.log(this));
  }

  log1p(): Tensor {
    return wrap(op.log1p(this));
  }

  sqrt(): Tensor {
    return wrap(op.sqrt(this));
  }

  rsqrt(): Tensor {
    return wrap(op.rsqrt(this));
  }

  abs(): Tensor {
    return wrap(op.abs(this));
  }

  sigmoid(): Tensor {
    return wrap(op.sigmoid(this));
  }

  logSigmoid(): Tensor {
    return wrap(op.logSigmoid(this));
  }

  relu(): Tensor {
    return wrap(op.relu(this));
  }

  softplus(beta: Scalar = 1, threshold: Scalar = 20): Tensor {
    return wrap(op.softplus(this, beta, threshold));
  }

  tanh(): Tensor {
    return wrap(op.tanh(this));
  }

  floor(): Tensor {
    return wrap(op.floor(this));
  }

  ceil(): Tensor {
    return wrap(op.ceil(this));
  }

  round(): Tensor {
    return wrap(op.round(this));
  }

  sign(): Tensor {
    return wrap(op.sign(this));
  }

  reciprocal(): Tensor {
    return wrap(op.reciprocal(this));
  }

  square(): Tensor {
    return wrap(op.square(this));
  }

  /** Clamps to [min, max]; either bound may be null. */
  clamp(min: Scalar | null, max: Scalar | null = null): Tensor {
    return wrap(op.clamp(this, min, max));
  }

  // ---- reductions --------------------------------------------------------------------------------------
  sum(dim?: number | readonly number[], keepdim = false): Tensor {
    if (dim === undefined) return wrap(op.sum(this));
    return wrap(op.sumDim(this, typeof dim === 'number' ? [dim] : dim, keepdim));
  }

  mean(dim?: number | readonly number[], keepdim = false): Tensor {
    if (dim === undefined) return wrap(op.mean(this));
    return wrap(op.meanDim(this, typeof dim === 'number' ? [dim] : dim, keepdim));
  }

  prod(): Tensor {
    return wrap(op.prod(this));
  }

  /** Maximum over all elements. */
  max(): Tensor {
    return wrap(op.max(this));
  }

  /** Maximum along a dimension, with its (first) indices. */
  maxDim(dim: number, keepdim = false): ValuesIndices {
    const [values, indices] = wrapAll(op.maxDim(this, dim, keepdim)) as [Tensor, Tensor];
    return { values, indices };
  }

  min(): Tensor {
    return wrap(op.min(this));
  }

  minDim(dim: number, keepdim = false): ValuesIndices {
    const [values, indices] = wrapAll(op.minDim(this, dim, keepdim)) as [Tensor, Tensor];
    return { values, indices };
  }

  amax(dim: number | readonly number[], keepdim = false): Tensor {
    return wrap(op.amax(this, typeof dim === 'number' ? [dim] : dim, keepdim));
  }

  amin(dim: number | readonly number[], keepdim = false): Tensor {
    return wrap(op.amin(this, typeof dim === 'number' ? [dim] : dim, keepdim));
  }

  argmax(dim?: number, keepdim = false): Tensor {
    return wrap(op.argmax(this, dim ?? null, keepdim));
  }

  argmin(dim?: number, keepdim = false): Tensor {
    return wrap(op.argmin(this, dim ?? null, keepdim));
  }

  topk(k: number, dim = -1, largest = true, sorted = true): ValuesIndices {
    const [values, indices] = wrapAll(op.topk(this, k, dim, largest, sorted)) as [Tensor, Tensor];
    return { values, indices };
  }

  /** Sort along dim; `stable` keeps the order of equal elements. */
  sort(dim = -1, descending = false, stable = false): ValuesIndices {
    const [values, indices] = wrapAll(op.sortStable(this, stable, dim, descending)) as [Tensor, Tensor];
    return { values, indices };
  }

  argsort(dim = -1, descending = false, stable = false): Tensor {
    return wrap(op.argsortStable(this, stable, dim, descending));
  }

  /** Standard deviation; unbiased (n-1) by default, as torch.std. */
  std(dim?: number | readonly number[], unbiased = true, keepdim = false): Tensor {
    return wrap(op.stdDim(this, dim === undefined ? null : typeof dim === 'number' ? [dim] : dim, unbiased, keepdim));
  }

  var(dim?: number | readonly number[], unbiased = true, keepdim = false): Tensor {
    return wrap(op.varDim(this, dim === undefined ? null : typeof dim === 'number' ? [dim] : dim, unbiased, keepdim));
  }

  logsumexp(dim: number | readonly number[], keepdim = false): Tensor {
    return wrap(op.logsumexp(this, typeof dim === 'number' ? [dim] : dim, keepdim));
  }

  all(): Tensor {
    return wrap(op.all(this));
  }

  any(): Tensor {
    return wrap(op.any(this));
  }

  cumsum(dim: number): Tensor {
    return wrap(op.cumsum(this, dim));
  }

  matmul(other: Tensor): Tensor {
    return wrap(op.matmul(this, other));
  }

  // ---- shape -------------------------------------------------------------------------------------------
  reshape(shape: Shape): Tensor {
    return wrap(op.reshape(this, shape));
  }

  view(shape: Shape): Tensor {
    return wrap(op.view(this, shape));
  }

  permute(dims: Shape): Tensor {
    return wrap(op.permute(this, dims));
  }

  transpose(d0: number, d1: number): Tensor {
    return wrap(op.transpose(this, d0, d1));
  }

  contiguous(): Tensor {
    return wrap(op.contiguous(this));
  }

  flatten(startDim = 0, endDim = -1): Tensor {
    return wrap(op.flatten(this, startDim, endDim));
  }

  /** Elements start..end (exclusive, null = to the end) with a step, along dim; a view. */
  slice(dim: number, start: number | null, end: number | null = null, step = 1): Tensor {
    return wrap(op.slice(this, dim, start, end, step));
  }

  narrow(dim: number, start: number, length: number): Tensor {
    return wrap(op.narrow(this, dim, start, length));
  }

  /** The index-th slice along dim, with that dimension removed. */
  select(dim: number, index: number): Tensor {
    return wrap(op.select(this, dim, index));
  }

  indexSelect(dim: number, index: Tensor): Tensor {
    return wrap(op.indexSelect(this, dim, index));
  }

  gather(dim: number, index: Tensor): Tensor {
    return wrap(op.gather(this, dim, index));
  }

  scatter(dim: number, index: Tensor, src: Tensor | Scalar): Tensor {
    return wrap(src instanceof Tensor ? op.scatterSrc(this, dim, index, src) : op.scatterValue(this, dim, index, src));
  }

  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return wrap(op.scatterAdd(this, dim, index, src));
  }

  maskedSelect(mask: Tensor): Tensor {
    return wrap(op.maskedSelect(this, mask));
  }

  maskedFill(mask: Tensor, value: Tensor | Scalar): Tensor {
    return wrap(value instanceof Tensor ? op.maskedFillT(this, mask, value) : op.maskedFillS(this, mask, value));
  }

  /** Indices of non-zero elements, shape (n, ndim), int64. */
  nonzero(): Tensor {
    return wrap(op.nonzero(this));
  }

  /** Splits into pieces of `size` (number) or of the given sizes (array) along dim. */
  split(size: number | readonly number[], dim = 0): Tensor[] {
    return wrapAll(typeof size === 'number' ? op.splitSize(this, size, dim) : op.splitSizes(this, size, dim));
  }

  chunk(chunks: number, dim = 0): Tensor[] {
    return wrapAll(op.chunk(this, chunks, dim));
  }

  /** Sliding windows of `size` with `step` along dim, appended as a new last dimension. */
  unfold(dim: number, size: number, step: number): Tensor {
    return wrap(op.unfold(this, dim, size, step));
  }

  unsqueeze(dim: number): Tensor {
    return wrap(op.unsqueeze(this, dim));
  }

  squeeze(dim?: number): Tensor {
    return wrap(dim === undefined ? op.squeeze(this) : op.squeezeDim(this, dim));
  }

  expand(shape: Shape): Tensor {
    return wrap(op.expand(this, shape, false));
  }

  expandAs(other: Tensor): Tensor {
    return this.expand(other.shape);
  }

  repeat(repeats: Shape): Tensor {
    return wrap(op.repeat(this, repeats));
  }

  /** Advanced indexing: self[i0, i1, ...] with a tensor or null (= all) per leading dimension. */
  index(indices: readonly (Tensor | null)[]): Tensor {
    return wrap(op.index(this, indices));
  }

  /** Out-of-place self[indices] = values (accumulate adds, handling repeated indices). */
  indexPut(indices: readonly (Tensor | null)[], values: Tensor, accumulate = false): Tensor {
    return wrap(op.indexPut(this, indices, values, accumulate));
  }

  flip(dims: Shape): Tensor {
    return wrap(op.flip(this, dims));
  }

  /** True if same shape and elements. */
  equal(other: Tensor): boolean {
    return op.equal(this, other) as boolean;
  }

  allclose(other: Tensor, rtol = 1e-5, atol = 1e-8): boolean {
    return op.allclose(this, other, rtol, atol, false) as boolean;
  }

  // ---- in-place (optimizers, init, buffers). They return `this`; the native alias handle is released. ----
  #inplace(result: unknown): this {
    native.dispose(result as NativeTensor);
    return this;
  }

  add_(other: Tensor | Scalar, alpha: Scalar = 1): this {
    return this.#inplace(other instanceof Tensor ? op.add_(this, other, alpha) : op.addS_(this, other, alpha));
  }

  sub_(other: Tensor, alpha: Scalar = 1): this {
    return this.#inplace(op.sub_(this, other, alpha));
  }

  mul_(other: Tensor | Scalar): this {
    return this.#inplace(other instanceof Tensor ? op.mul_(this, other) : op.mulS_(this, other));
  }

  div_(other: Tensor | Scalar): this {
    return this.#inplace(other instanceof Tensor ? op.div_(this, other) : op.divS_(this, other));
  }

  /** this += value * t1 * t2 */
  addcmul_(t1: Tensor, t2: Tensor, value: Scalar = 1): this {
    return this.#inplace(op.addcmul_(this, t1, t2, value));
  }

  /** this += value * t1 / t2 */
  addcdiv_(t1: Tensor, t2: Tensor, value: Scalar = 1): this {
    return this.#inplace(op.addcdiv_(this, t1, t2, value));
  }

  copy_(src: Tensor): this {
    return this.#inplace(op.copy_(this, src, false));
  }

  zero_(): this {
    return this.#inplace(op.zero_(this));
  }

  fill_(value: Scalar): this {
    return this.#inplace(op.fill_(this, value));
  }

  clamp_(min: Scalar | null, max: Scalar | null = null): this {
    return this.#inplace(op.clamp_(this, min, max));
  }

  /** In-place ReLU (autograd-safe: its backward reads the output), as torch's ReLU(inplace=True). */
  relu_(): this {
    return this.#inplace(op.relu_(this));
  }

  /** this += weight * (end - this) */
  lerp_(end: Tensor, weight: Scalar): this {
    return this.#inplace(op.lerpS_(this, end, weight));
  }

  sqrt_(): this {
    return this.#inplace(op.sqrt_(this));
  }

  /** Fills with N(mean, std^2) from the global generator. */
  normal_(mean = 0, std = 1): this {
    return this.#inplace(op.normal_(this, mean, std, null));
  }

  /** Fills with U(from, to) from the global generator. */
  uniform_(from = 0, to = 1): this {
    return this.#inplace(op.uniform_(this, from, to, null));
  }

  maskedFill_(mask: Tensor, value: Scalar): this {
    return this.#inplace(op.maskedFillS_(this, mask, value));
  }

  indexPut_(indices: readonly (Tensor | null)[], values: Tensor, accumulate = false): this {
    return this.#inplace(op.indexPut_(this, indices, values, accumulate));
  }

  toString(): string {
    if (this.isDisposed) return 'Tensor(disposed)';
    return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }
}
