// Creating tensors: from JS data, constants, ranges and the seeded global generator.
import { native } from './native.js';
import { Tensor, defOp, wrap, type Shape } from './tensor.js';
import { dtypeCode, dtypeOfArray, type DType } from './dtype.js';

const op = {
  zeros: defOp('aten::zeros'),
  ones: defOp('aten::ones'),
  full: defOp('aten::full'),
  empty: defOp('aten::empty', 'memory_format'),
  arange: defOp('aten::arange', 'start_step'),
  linspace: defOp('aten::linspace'),
  rand: defOp('aten::rand'),
  randn: defOp('aten::randn'),
  randint: defOp('aten::randint', 'low'),
  randperm: defOp('aten::randperm'),
  eye: defOp('aten::eye'),
  zerosLike: defOp('aten::zeros_like'),
  onesLike: defOp('aten::ones_like'),
  fullLike: defOp('aten::full_like'),
};

export interface CreateOptions {
  dtype?: DType;
  device?: string;
  requiresGrad?: boolean;
}

function finish(t: Tensor, opts: CreateOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

function onDevice(t: Tensor, device: string | undefined): Tensor {
  if (device === undefined || device === 'cpu') return t;
  const moved = t.toDevice(device);
  t.dispose();
  return moved;
}

/** A tensor holding a copy of `data`. The dtype defaults to the array's own (number[] gives float32). */
export function tensor(
  data: ArrayBufferView | readonly number[] | readonly boolean[],
  shape?: Shape,
  opts: CreateOptions = {},
): Tensor {
  let arr: ArrayBufferView;
  let dtype: DType;
  if (ArrayBuffer.isView(data)) {
    dtype = opts.dtype ?? dtypeOfArray(data);
    arr = data;
    if (
      opts.dtype !== undefined &&
      opts.dtype !== dtypeOfArray(data) &&
      !(opts.dtype === 'bool' && data instanceof Uint8Array)
    ) {
      // Convert through the array's own dtype so the bytes are read correctly.
      const t0 = tensor(data, shape);
      const t1 = t0.to(opts.dtype);
      t0.dispose();
      return finish(onDevice(t1, opts.device), opts);
    }
  } else {
    dtype = opts.dtype ?? (data.length > 0 && typeof data[0] === 'boolean' ? 'bool' : 'float32');
    arr = fromNumbers(data as readonly (number | boolean)[], dtype);
  }
  const n = (arr as unknown as { length: number }).length;
  const s = shape ?? [n];
  return finish(onDevice(new Tensor(native.fromBuffer(arr, dtypeCode(dtype), s)), opts.device), opts);
}

function fromNumbers(data: readonly (number | boolean)[], dtype: DType): ArrayBufferView {
  const nums = data.map((x) => (typeof x === 'boolean' ? (x ? 1 : 0) : x));
  switch (dtype) {
    case 'float32':
      return Float32Array.from(nums);
    case 'float64':
      return Float64Array.from(nums);
    case 'int64':
      return BigInt64Array.from(nums, (x) => BigInt(Math.trunc(x)));
    case 'int32':
      return Int32Array.from(nums);
    case 'int16':
      return Int16Array.from(nums);
    case 'int8':
      return Int8Array.from(nums);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(nums);
    default:
      throw new TypeError(`tensor(): cannot build a ${dtype} tensor from JS numbers`);
  }
}

/** A scalar (0-d) tensor. */
export function scalar(value: number, opts: CreateOptions = {}): Tensor {
  return tensor([value], [], opts);
}

const dt = (o: CreateOptions): number => dtypeCode(o.dtype ?? 'float32');

export function zeros(shape: Shape, opts: CreateOptions = {}): Tensor {
  return finish(wrap(op.zeros(shape, dt(opts), null, opts.device ?? null, null)), opts);
}

export function ones(shape: Shape, opts: CreateOptions = {}): Tensor {
  return finish(wrap(op.ones(shape, dt(opts), null, opts.device ?? null, null)), opts);
}

export function full(shape: Shape, value: number, opts: CreateOptions = {}): Tensor {
  return finish(wrap(op.full(shape, value, dt(opts), null, opts.device ?? null, null)), opts);
}

export function empty(shape: Shape, opts: CreateOptions = {}): Tensor {
  return finish(wrap(op.empty(shape, dt(opts), null, opts.device ?? null, null, null)), opts);
}

/** start, start+step, ... < end. Default dtype int64, as torch.arange with integers. */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  const [s, e] = end === undefined ? [0, start] : [start, end];
  return wrap(op.arange(s, e, step, dtypeCode(opts.dtype ?? 'int64'), null, opts.device ?? null, null));
}

export function linspace(start: number, end: number, steps: number, opts: CreateOptions = {}): Tensor {
  return wrap(op.linspace(start, end, steps, dt(opts), null, opts.device ?? null, null));
}

/** U[0,1) from the global generator (seed it with manualSeed). */
export function rand(shape: Shape, opts: CreateOptions = {}): Tensor {
  return finish(wrap(op.rand(shape, dt(opts), null, opts.device ?? null, null)), opts);
}

/** N(0,1) from the global generator. */
export function randn(shape: Shape, opts: CreateOptions = {}): Tensor {
  return finish(wrap(op.randn(shape, dt(opts), null, opts.device ?? null, null)), opts);
}

/** Integers in [low, high), int64 by default. */
export function randint(low: number, high: number, shape: Shape, opts: CreateOptions = {}): Tensor {
  return wrap(op.randint(low, high, shape, dtypeCode(opts.dtype ?? 'int64'), null, opts.device ?? null, null));
}

export function randperm(n: number, opts: CreateOptions = {}): Tensor {
  return wrap(op.randperm(n, dtypeCode(opts.dtype ?? 'int64'), null, opts.device ?? null, null));
}

export function eye(n: number, opts: CreateOptions = {}): Tensor {
  return wrap(op.eye(n, dt(opts), null, opts.device ?? null, null));
}

export function zerosLike(t: Tensor): Tensor {
  return wrap(op.zerosLike(t, null, null, null, null, null));
}

export function onesLike(t: Tensor): Tensor {
  return wrap(op.onesLike(t, null, null, null, null, null));
}

export function fullLike(t: Tensor, value: number): Tensor {
  return wrap(op.fullLike(t, value, null, null, null, null, null));
}

/** Seeds the global CPU (and CUDA) generators. */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}
