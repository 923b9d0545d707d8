// Tensors inside a torch.save pickle: persistent ids name storages, torch._utils._rebuild_tensor_v2 makes strided
// views of them. Reference: PyTorch's torch/serialization.py (_load's persistent_load, _legacy_load) and
// torch/_utils.py (_rebuild_tensor_v2 / _v3, _rebuild_parameter), torch 1.13 to 2.x.
//
// Persistent ids: zip format ('storage', torch.FloatStorage, key, location, numel), the bytes in '<archive>/data/<key>';
// legacy format ('storage', torch.FloatStorage, key, location, numel, view_metadata), where view_metadata is None
// or (view_key, element offset, numel), the bytes after the pickles. A storage reached as a value (torch.save of a
// storage) reads as a 1-D tensor.
//
// Tensors: _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]) is
// the tensor of `size` whose element i0..ik lies at storage_offset + sum(i_j * stride_j). The pickle is read first
// (tensors are recorded, bounds checked against the storage's declared numel), then `materialize` gets each
// storage's bytes: a contiguous tensor is a view of them (tensors on one storage share bytes, as in torch.load), a
// non-contiguous one (transposed, expanded) is copied to row-major, from a budget of the file's length in total.
import { SAFETENSORS_DTYPE_BYTES, type RawTensor, type SafetensorsDtype } from './safetensors_raw.js';
import { PickleGlobal, kindOf, type PickleCallable, type PickleValue, type UnpickleHooks } from './pickle.js';
import { PthError } from './pth_error.js';

/** torch's typed storage classes (module torch) and the dtype of their elements. */
export const STORAGE_DTYPES: Readonly<Record<string, SafetensorsDtype>> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
  UntypedStorage: 'U8',
};

/** torch dtype globals (as _rebuild_tensor_v3 names them). */
const TORCH_DTYPES: Readonly<Record<string, SafetensorsDtype>> = {
  float32: 'F32',
  float: 'F32',
  float16: 'F16',
  half: 'F16',
  bfloat16: 'BF16',
  float64: 'F64',
  double: 'F64',
  int64: 'I64',
  long: 'I64',
  int32: 'I32',
  int: 'I32',
  int16: 'I16',
  short: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

const MAX_DIMS = 64;
const EMPTY = new Uint8Array(0);

interface Storage {
  key: string;
  dtype: SafetensorsDtype;
  numel: number;
  bytes: Uint8Array | null;
}

/** Where a storage value (a 1-D tensor) lies in its storage. */
interface StorageView {
  storage: Storage;
  /** element offset */
  offset: number;
  numel: number;
}

interface Pending {
  t: RawTensor;
  storage: Storage;
  /** byte offset of the view's first element (storage view offset + storage_offset) */
  byteOffset: number;
  size: number[];
  stride: number[];
}

export function isTensorValue(v: PickleValue | undefined): v is RawTensor {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    !(v instanceof Map) &&
    !(v instanceof Set) &&
    !(v instanceof Uint8Array) &&
    !(v instanceof PickleGlobal) &&
    'dtype' in v &&
    'data' in v
  );
}

const storageType = (v: PickleValue | undefined): SafetensorsDtype | undefined =>
  v instanceof PickleGlobal && (v.module === 'torch' || v.module === 'torch.storage')
    ? STORAGE_DTYPES[v.name]
    : undefined;

/** The storages and tensors of one pickle, and the hooks that make them. */
export class TorchStorages {
  readonly storages = new Map<string, Storage>();
  private readonly views = new WeakMap<RawTensor, StorageView>();
  private readonly byKey = new Map<string, RawTensor>();
  private readonly tensors = new WeakSet<RawTensor>();
  private readonly storageValues: [RawTensor, StorageView][] = [];
  private readonly pending: Pending[] = [];

  constructor(
    private readonly source: string,
    private readonly what: string,
    private readonly legacy: boolean,
  ) {}

  fail(message: string): never {
    throw new PthError(this.source, `${this.what}: ${message}`);
  }

  hooks(): UnpickleHooks {
    return {
      persistentLoad: (pid) => this.persistentLoad(pid),
      callable: (module, name) => this.callable(module, name),
      forbiddenInPlaceholder: isTensorValue,
    };
  }

  private persistentLoad(pid: PickleValue): PickleValue {
    const n = this.legacy ? 6 : 5;
    if (!Array.isArray(pid) || pid.length !== n || pid[0] !== 'storage') {
      this.fail(
        `persistent id must be a ${n}-tuple ('storage', type, key, location, numel${this.legacy ? ', view' : ''})`,
      );
    }
    const [, type, key, location, numel] = pid;
    const dtype = storageType(type);
    if (dtype === undefined) {
      this.fail(`persistent id names storage type ${kindOf(type)}, which ladet does not read`);
    }
    if (typeof key !== 'string' || key.length === 0 || key.length > 256 || key.includes('/') || key.includes('\\')) {
      this.fail(`persistent id with a malformed storage key`);
    }
    if (typeof location !== 'string') this.fail(`storage '${key}': location is not a string`);
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
      this.fail(`storage '${key}': numel ${String(numel)} is not a non-negative integer`);
    }
    let s = this.storages.get(key);
    if (s === undefined) {
      s = { key, dtype, numel, bytes: null };
      this.storages.set(key, s);
    } else if (s.dtype !== dtype || s.numel !== numel) {
      this.fail(`storage '${key}' is named as ${s.numel} x ${s.dtype} and as ${numel} x ${dtype}`);
    }
    const view = this.legacy ? pid[5] : null;
    if (view === null || view === undefined) return this.storageValue(key, { storage: s, offset: 0, numel });
    if (
      !Array.isArray(view) ||
      view.length !== 3 ||
      typeof view[0] !== 'string' ||
      !view.slice(1).every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)
    ) {
      this.fail(`storage '${key}': malformed view (view_key, offset, numel)`);
    }
    const [viewKey, offset, count] = view as [string, number, number];
    if (offset + count > numel) this.fail(`storage view '${viewKey}' runs past storage '${key}'`);
    return this.storageValue(`view ${viewKey}`, { storage: s, offset, numel: count });
  }

  private storageValue(id: string, v: StorageView): RawTensor {
    const have = this.byKey.get(id);
    if (have !== undefined) return have;
    const t: RawTensor = { dtype: v.storage.dtype, shape: [v.numel], data: EMPTY };
    this.views.set(t, v);
    this.byKey.set(id, t);
    this.storageValues.push([t, v]);
    return t;
  }

  private callable(module: string, name: string): PickleCallable | undefined {
    const g = `${module}.${name}`;
    switch (g) {
      case 'torch._utils._rebuild_tensor':
        return (a) => this.rebuild(a, 4, null);
      case 'torch._utils._rebuild_tensor_v2':
        return (a) => this.rebuild(a, 6, null);
      case 'torch._utils._rebuild_tensor_v3':
        return (a) => {
          const d = a[6];
          const dtype = d instanceof PickleGlobal && d.module === 'torch' ? TORCH_DTYPES[d.name] : undefined;
          if (dtype === undefined) this.fail(`_rebuild_tensor_v3 with dtype ${kindOf(d)}, which ladet does not read`);
          return this.rebuild(a, 7, dtype);
        };
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
        return (a) => {
          const t = a[0];
          if (!(isTensorValue(t) && this.tensors.has(t))) this.fail(`${name} of a ${kindOf(t)}, not a tensor`);
          return t;
        };
      case 'torch.Size':
        return (a) => {
          if (!Array.isArray(a[0]) || !a[0].every((x) => typeof x === 'number')) this.fail('torch.Size of non-ints');
          return [...a[0]];
        };
      case 'torch.device':
        return (a) => {
          if (typeof a[0] !== 'string' || (a[1] !== undefined && typeof a[1] !== 'number')) {
            this.fail('torch.device with malformed arguments');
          }
          return a[1] === undefined ? a[0] : `${a[0]}:${a[1]}`;
        };
      default:
        return undefined;
    }
  }

  private ints(v: PickleValue | undefined, what: string): number[] {
    if (!Array.isArray(v) || v.length > MAX_DIMS)
      this.fail(`tensor ${what} must be a tuple of at most ${MAX_DIMS} ints`);
    for (const x of v) {
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
        this.fail(`tensor ${what} holds ${typeof x === 'number' ? x : kindOf(x)}, not a non-negative integer`);
      }
    }
    return v as number[];
  }

  /** _rebuild_tensor(_v2/_v3): `minArgs` arguments at least; `dtype` null: the storage's. */
  private rebuild(a: PickleValue[], minArgs: number, dtype: SafetensorsDtype | null): RawTensor {
    if (a.length < minArgs || a.length > minArgs + 1) this.fail(`tensor rebuild with ${a.length} arguments`);
    const s = a[0];
    const view = isTensorValue(s) ? this.views.get(s) : undefined;
    if (view === undefined) this.fail(`tensor storage is a ${kindOf(s)}, not a storage`);
    const offset = a[1];
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      this.fail(`tensor storage_offset ${String(offset)} is not a non-negative integer`);
    }
    const size = this.ints(a[2], 'size');
    const stride = this.ints(a[3], 'stride');
    if (size.length !== stride.length) this.fail(`tensor size has ${size.length} dims but stride ${stride.length}`);
    const dt = dtype ?? view.storage.dtype;
    const es = SAFETENSORS_DTYPE_BYTES[dt];
    const ses = SAFETENSORS_DTYPE_BYTES[view.storage.dtype];
    let numel = 1n;
    let last = BigInt(offset);
    for (let i = 0; i < size.length; i++) {
      numel *= BigInt(size[i] as number);
      if (size[i] !== 0) last += BigInt((size[i] as number) - 1) * BigInt(stride[i] as number);
    }
    const viewBytes = BigInt(view.numel * ses);
    if (numel > 0n && (last + 1n) * BigInt(es) > viewBytes) {
      this.fail(
        `tensor of size [${size.join(', ')}], stride [${stride.join(', ')}], offset ${offset} reaches element ${last} ` +
          `of a ${view.numel}-element ${view.storage.dtype} storage '${view.storage.key}': corrupt`,
      );
    }
    if (numel * BigInt(es) > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('tensor is too large');
    const t: RawTensor = { dtype: dt, shape: size, data: EMPTY };
    this.tensors.add(t);
    this.pending.push({ t, storage: view.storage, byteOffset: view.offset * ses + offset * es, size, stride });
    return t;
  }

  /**
   * Gives every storage its bytes (`bytesOf` returns exactly numel * element size bytes, or throws) and every tensor
   * its data. `budget`: how many bytes copies of non-contiguous tensors may take in total.
   */
  materialize(bytesOf: (s: Storage) => Uint8Array, budget: number): void {
    for (const s of this.storages.values()) {
      const b = bytesOf(s);
      if (b.byteLength !== s.numel * SAFETENSORS_DTYPE_BYTES[s.dtype]) {
        this.fail(`storage '${s.key}' holds ${b.byteLength} bytes, not ${s.numel} x ${s.dtype}`);
      }
      s.bytes = b;
    }
    for (const [t, v] of this.storageValues) {
      const es = SAFETENSORS_DTYPE_BYTES[v.storage.dtype];
      t.data = (v.storage.bytes as Uint8Array).subarray(v.offset * es, (v.offset + v.numel) * es);
    }
    let left = budget;
    for (const p of this.pending) {
      const es = SAFETENSORS_DTYPE_BYTES[p.t.dtype];
      const n = p.size.reduce((x, y) => x * y, 1) * es;
      const src = p.storage.bytes as Uint8Array;
      if (n === 0) continue;
      if (isContiguous(p.size, p.stride)) {
        p.t.data = src.subarray(p.byteOffset, p.byteOffset + n);
        continue;
      }
      if (n > left) {
        this.fail(`non-contiguous tensors need more than the file's ${budget} bytes of copies: refused`);
      }
      left -= n;
      p.t.data = gather(src, p.byteOffset, p.size, p.stride, es);
    }
  }
}

/** Row-major strides (dimensions of size 1 may have any stride, as in torch). */
export function isContiguous(size: readonly number[], stride: readonly number[]): boolean {
  let expect = 1;
  for (let i = size.length - 1; i >= 0; i--) {
    const n = size[i] as number;
    if (n === 0) return true;
    if (n !== 1 && stride[i] !== expect) return false;
    expect *= n;
  }
  return true;
}

/** Copies a strided view to row-major bytes. */
function gather(src: Uint8Array, byteOffset: number, size: number[], stride: number[], es: number): Uint8Array {
  const numel = size.reduce((x, y) => x * y, 1);
  const out = new Uint8Array(numel * es);
  const k = size.length;
  if (k === 0) {
    out.set(src.subarray(byteOffset, byteOffset + es));
    return out;
  }
  // the innermost run: whole rows when the last dimension is contiguous
  const inner = size[k - 1] as number;
  const rowContiguous = stride[k - 1] === 1 || inner === 1;
  const idx = new Array<number>(k - 1).fill(0);
  let o = 0;
  for (let row = 0, rows = numel / inner; row < rows; row++) {
    let at = byteOffset;
    for (let d = 0; d < k - 1; d++) at += (idx[d] as number) * (stride[d] as number) * es;
    if (rowContiguous) {
      out.set(src.subarray(at, at + inner * es), o);
      o += inner * es;
    } else {
      const step = (stride[k - 1] as number) * es;
      for (let j = 0; j < inner; j++, at += step) for (let b = 0; b < es; b++) out[o++] = src[at + b] as number;
    }
    for (let d = k - 2; d >= 0; d--) {
      const i = (idx[d] as number) + 1;
      idx[d] = i < (size[d] as number) ? i : 0;
      if (i < (size[d] as number)) break;
    }
  }
  return out;
}
