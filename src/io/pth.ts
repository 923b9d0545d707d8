// PyTorch `.pth` / `.pt` checkpoints (torch.save) in and out, without Python and without running the pickle.
// Reference: PyTorch's torch/serialization.py (_save / _load, _legacy_save / _legacy_load), torch 1.x-2.x.
//
// Read: the zip format (torch >= 1.6: '<archive>/data.pkl', '<archive>/data/<key>' per storage, '<archive>/version',
// optionally '<archive>/byteorder'; the archive folder's name varies and is taken from the data.pkl entry) and the
// legacy format (pickles of the magic number 0x1950a86a20f9469cfc6c, protocol version 1001 and sys_info, the main
// pickle, the list of storage keys, then each storage as an int64 element count and its raw bytes). The pickles go
// through the restricted unpickler of pickle.ts (its header states which globals may appear and what they become),
// tensors through pth_tensors.ts. Only little-endian files are read.
//
// Write: the zip format as torch 1.6+ writes it: 'archive/data.pkl' (protocol 2: an OrderedDict of name ->
// _rebuild_tensor_v2(typed storage, 0, size, row-major stride, False, OrderedDict())), 'archive/byteorder'
// ('little'), 'archive/data/<i>' (64-byte aligned), 'archive/version' ('3\n').
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { SAFETENSORS_DTYPE_BYTES, type RawTensor, type SafetensorsDtype } from './safetensors_raw.js';
import { writeFileAtomic } from './atomic.js';
import { PthError } from './pth_error.js';
import { kindOf, unpickle, type PickleValue, type UnpickleHooks } from './pickle.js';
import { STORAGE_DTYPES, TorchStorages, isTensorValue } from './pth_tensors.js';
import { stateDictOf } from './pth_state.js';
import { readZipDirectory, zipEntryData } from './zip_read.js';
import { zipStored } from './zip_write.js';
import { PickleWriter } from './pickle_write.js';
import { hostBuffer } from '../torch/bytes.js';

export { PthError } from './pth_error.js';
export { PickleGlobal, PickleObject, type PickleKey, type PickleValue } from './pickle.js';
export { toPlain as pickleToPlain } from './pth_state.js';

/** An unpickled checkpoint: tensors appear as RawTensor objects (see isPthTensor), dicts as Maps. */
export interface PthFile {
  root: PickleValue;
  format: 'zip' | 'legacy';
}

/** Whether an unpickled value is a tensor. */
export function isPthTensor(v: PickleValue | undefined): v is RawTensor {
  return isTensorValue(v);
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

const plainHooks = (source: string, what: string): UnpickleHooks => ({
  persistentLoad: () => {
    throw new PthError(source, `${what}: a persistent id where none belongs`);
  },
  callable: () => undefined,
  forbiddenInPlaceholder: isTensorValue,
});

function parseZip(bytes: Uint8Array, source: string): PickleValue {
  const { entries } = readZipDirectory(bytes, source);
  const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    throw new PthError(
      source,
      pkls.length === 0
        ? 'a zip file without <archive>/data.pkl: not a torch.save checkpoint'
        : `a zip file with ${pkls.length} data.pkl entries: not a torch.save checkpoint`,
    );
  }
  const prefix = (pkls[0] as string).slice(0, -'data.pkl'.length);
  const read = (name: string): Uint8Array | null => {
    const e = entries.get(prefix + name);
    return e === undefined ? null : zipEntryData(bytes, e, source);
  };
  const version = read('version') ?? read('.data/version');
  if (version === null) throw new PthError(source, `zip: no ${prefix}version record: not a torch.save checkpoint`);
  const v = Buffer.from(version).toString('latin1').trim();
  if (!/^\d{1,2}$/.test(v) || Number(v) < 1 || Number(v) > 10) {
    throw new PthError(source, `zip: format version '${v.slice(0, 20)}' is not one ladet reads (1 to 10)`);
  }
  const order = read('byteorder');
  if (order !== null && Buffer.from(order).toString('latin1') !== 'little') {
    throw new PthError(source, 'zip: a big-endian checkpoint, which ladet does not read');
  }
  if (entries.has(`${prefix}constants.pkl`) || entries.has(`${prefix}code/`)) {
    throw new PthError(source, 'a TorchScript archive (torch.jit.save), not a torch.save checkpoint');
  }
  const pkl = read('data.pkl') as Uint8Array;
  const storages = new TorchStorages(source, 'data.pkl', false);
  const { value, end } = unpickle(pkl, 0, source, 'data.pkl', storages.hooks());
  if (end !== pkl.byteLength) throw new PthError(source, `data.pkl: ${pkl.byteLength - end} bytes after its STOP`);
  storages.materialize((s) => {
    const data = read(`data/${s.key}`);
    if (data === null) throw new PthError(source, `zip: storage '${s.key}' has no record ${prefix}data/${s.key}`);
    return data;
  }, bytes.byteLength);
  return value;
}

function parseLegacy(bytes: Uint8Array, source: string): PickleValue {
  const magic = unpickle(bytes, 0, source, 'legacy magic number', plainHooks(source, 'magic number'));
  if (magic.value !== LEGACY_MAGIC)
    throw new PthError(source, 'not a torch checkpoint: a pickle without its magic number');
  const proto = unpickle(bytes, magic.end, source, 'legacy protocol version', plainHooks(source, 'protocol'));
  if (proto.value !== LEGACY_PROTOCOL) {
    throw new PthError(source, `legacy protocol version ${kindOf(proto.value)} ${String(proto.value)}, not 1001`);
  }
  const info = unpickle(bytes, proto.end, source, 'legacy sys_info', plainHooks(source, 'sys_info'));
  if (!(info.value instanceof Map)) throw new PthError(source, 'legacy sys_info is not a dict');
  if (info.value.get('little_endian') !== true) {
    throw new PthError(source, 'a big-endian legacy checkpoint, which ladet does not read');
  }
  const storages = new TorchStorages(source, 'pickle', true);
  const main = unpickle(bytes, info.end, source, 'pickle', storages.hooks());
  const keys = unpickle(bytes, main.end, source, 'legacy storage keys', plainHooks(source, 'storage keys'));
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) {
    throw new PthError(source, 'legacy storage keys are not a list of strings');
  }
  const data = new Map<string, Uint8Array>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const s = storages.storages.get(key);
    if (s === undefined) throw new PthError(source, `legacy storage '${key}' is listed but no tensor names it`);
    if (data.has(key)) throw new PthError(source, `legacy storage '${key}' is listed twice`);
    if (pos + 8 > bytes.byteLength) throw new PthError(source, `legacy storage '${key}': file ends early, truncated`);
    const numel = view.getBigInt64(pos, true);
    if (numel !== BigInt(s.numel)) {
      throw new PthError(source, `legacy storage '${key}' holds ${numel} elements, the pickle says ${s.numel}`);
    }
    const n = s.numel * SAFETENSORS_DTYPE_BYTES[s.dtype];
    if (pos + 8 + n > bytes.byteLength) {
      throw new PthError(source, `legacy storage '${key}': ${n} bytes run past the end of the file, truncated`);
    }
    data.set(key, bytes.subarray(pos + 8, pos + 8 + n));
    pos += 8 + n;
  }
  storages.materialize((s) => {
    const d = data.get(s.key);
    if (d === undefined) throw new PthError(source, `legacy storage '${s.key}' is not among the stored storages`);
    return d;
  }, bytes.byteLength);
  return main.value;
}

/**
 * Parses a whole checkpoint held in memory. Contiguous tensors are views into `bytes` (tensors on one storage share
 * bytes, as in torch.load); non-contiguous ones are copied. Errors are PthError, their message starting `source`.
 */
export function parsePth(bytes: Uint8Array, source: string): PthFile {
  const head = bytes.subarray(0, 4);
  if (head.byteLength === 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) {
    return { root: parseZip(bytes, source), format: 'zip' };
  }
  if (head[0] === 0x80) return { root: parseLegacy(bytes, source), format: 'legacy' };
  throw new PthError(source, 'not a PyTorch checkpoint (neither a zip file nor a legacy pickle)');
}

// Node's readSync refuses lengths of 2 GiB and more; read in pieces into one buffer.
const READ_CHUNK = 1 << 30;

/** A file's bytes in one buffer, as readPth reads them (files of 2 GiB and more included). */
export function readPthBytes(path: string): Uint8Array {
  const fsError = (e: unknown, what: string): PthError => {
    const code = (e as { code?: unknown }).code;
    return new PthError(path, `cannot ${what} the file (${typeof code === 'string' ? code : (e as Error).message})`, {
      cause: e,
    });
  };
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw fsError(e, 'open');
  }
  try {
    const size = fstatSync(fd).size;
    if (size > bufferConstants.MAX_LENGTH) throw new PthError(path, `file of ${size} bytes is too large to read`);
    const buf = hostBuffer(size);
    let off = 0;
    while (off < size) {
      const k = readSync(fd, buf, off, Math.min(size - off, READ_CHUNK), off);
      if (k === 0) throw new PthError(path, `file ended at byte ${off} while reading it: truncated while read`);
      off += k;
    }
    return buf;
  } catch (e) {
    throw e instanceof PthError ? e : fsError(e, 'read');
  } finally {
    closeSync(fd);
  }
}

/** Reads a checkpoint file (one read; contiguous tensors are views into it). */
export function readPth(path: string): PthFile {
  return parsePth(readPthBytes(path), path);
}

/**
 * The state dict inside a checkpoint: the root if it is a dict of tensors only; else the first of root.state_dict,
 * root.model, root.model_state_dict, root.state_dict_ema, root.model_ema, root.ema_state_dict, root.ema,
 * root.module, root.net, root.params, root.weights that is a dict holding tensors; else the root's tensor entries.
 * Non-tensor entries of the state dict are dropped; a placeholder object there is an error. `meta`: the other
 * top-level entries as plain JSON-able JS (see pickleToPlain), null when there are none. `container`: the key
 * that held the state dict ('' for the root).
 */
export function pthStateDictOf(
  file: PthFile,
  source: string,
): { tensors: Map<string, RawTensor>; meta: Record<string, unknown> | null; container: string } {
  return stateDictOf(file.root, source);
}

export function readPthStateDict(path: string): {
  tensors: Map<string, RawTensor>;
  meta: Record<string, unknown> | null;
  container: string;
} {
  return pthStateDictOf(readPth(path), path);
}

// ---- writing ---------------------------------------------------------------------------------------------------

const STORAGE_OF = new Map<SafetensorsDtype, string>(
  Object.entries(STORAGE_DTYPES)
    .filter(([name]) => name !== 'UntypedStorage')
    .map(([name, dtype]) => [dtype, name]),
);

const MAX_EXTRA_DEPTH = 100;

/** A JSON-able value (strings, numbers, bigints, booleans, null, arrays, plain objects) into the pickle. */
function writePlain(w: PickleWriter, v: unknown, where: string, depth: number, source: string): void {
  if (depth > MAX_EXTRA_DEPTH) throw new PthError(source, `extra: ${where} nests deeper than ${MAX_EXTRA_DEPTH}`);
  if (v === null) w.none();
  else if (typeof v === 'boolean') w.bool(v);
  else if (typeof v === 'bigint') w.int(v);
  else if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) w.int(v);
    else w.float(v);
  } else if (typeof v === 'string') w.str(v);
  else if (Array.isArray(v)) {
    w.emptyList().mark();
    v.forEach((x, i) => writePlain(w, x, `${where}[${i}]`, depth + 1, source));
    w.appends();
  } else if (typeof v === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(v))) {
    w.emptyDict().mark();
    for (const [k, x] of Object.entries(v)) {
      w.str(k);
      writePlain(w, x, `${where}.${k}`, depth + 1, source);
    }
    w.setitems();
  } else {
    throw new PthError(source, `extra: ${where} is a ${typeof v}, not a JSON-able value`);
  }
}

function checkTensor(name: string, t: RawTensor, source: string): string {
  const storage = STORAGE_OF.get(t.dtype);
  if (storage === undefined) throw new PthError(source, `tensor '${name}': dtype ${t.dtype} has no torch storage`);
  let numel = 1;
  for (const d of t.shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new PthError(source, `tensor '${name}': bad shape [${t.shape}]`);
    numel *= d;
  }
  if (t.data.byteLength !== numel * SAFETENSORS_DTYPE_BYTES[t.dtype]) {
    throw new PthError(
      source,
      `tensor '${name}': shape [${t.shape.join(', ')}] of ${t.dtype} needs ${numel * SAFETENSORS_DTYPE_BYTES[t.dtype]} bytes, data has ${t.data.byteLength}`,
    );
  }
  return storage;
}

/** The archive's entries (a list of chunks, tensors' data not copied). */
function encodePth(
  tensors: ReadonlyMap<string, RawTensor>,
  extra: Record<string, unknown> | undefined,
  source: string,
  forceZip64 = false,
): Uint8Array[] {
  if (extra !== undefined && Object.hasOwn(extra, 'state_dict')) {
    throw new PthError(source, "extra: may not hold 'state_dict' (the tensors go there)");
  }
  const w = new PickleWriter().proto();
  if (extra !== undefined) w.emptyDict().mark().str('state_dict');
  w.global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  const records: { name: string; data: Uint8Array }[] = [];
  for (const [name, t] of tensors) {
    const storage = checkTensor(name, t, source);
    const key = String(records.length);
    const numel = t.data.byteLength / SAFETENSORS_DTYPE_BYTES[t.dtype];
    w.str(name).global('torch._utils', '_rebuild_tensor_v2').mark();
    w.mark().str('storage').global('torch', storage).str(key).str('cpu').int(numel).tuple().binpersid();
    w.int(0).mark();
    for (const d of t.shape) w.int(d);
    w.tuple().mark();
    for (let i = 0; i < t.shape.length; i++) w.int(t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    w.tuple().bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
    records.push({ name: `archive/data/${key}`, data: t.data });
  }
  w.setitems();
  if (extra !== undefined) {
    for (const [k, v] of Object.entries(extra)) {
      w.str(k);
      writePlain(w, v, k, 1, source);
    }
    w.setitems();
  }
  const pkl = w.stop();
  return zipStored(
    [
      { name: 'archive/data.pkl', data: pkl },
      { name: 'archive/byteorder', data: Buffer.from('little') },
      ...records,
      { name: 'archive/version', data: Buffer.from('3\n') },
    ],
    forceZip64,
  );
}

/** The file torch.save(OrderedDict) would write (or {state_dict, ...extra} when `extra` is given), in one buffer. */
export function serializePth(tensors: ReadonlyMap<string, RawTensor>, extra?: Record<string, unknown>): Uint8Array {
  return Buffer.concat(encodePth(tensors, extra, 'serializePth'));
}

/** Writes serializePth's file atomically (temp file + rename), without assembling it in memory. */
export function writePth(path: string, tensors: ReadonlyMap<string, RawTensor>, extra?: Record<string, unknown>): void {
  writeFileAtomic(path, encodePth(tensors, extra, path));
}

/** For tests: the archive with ZIP64 extra fields on every entry (the layout of files past 4 GiB). */
export function serializePthZip64ForTest(tensors: ReadonlyMap<string, RawTensor>): Uint8Array {
  return Buffer.concat(encodePth(tensors, undefined, 'serializePth', true));
}
