// The state dict inside an unpickled checkpoint, and the rest of the checkpoint as plain JSON-able metadata.
// Layouts met: a flat name -> tensor dict (torch.save(model.state_dict())); {state_dict, meta, optimizer, ...}
// (mmdetection 2.x / mmengine 3.x); {model, optimizer, ...} (torchvision references, detectron2); EMA variants.
import type { RawTensor } from './safetensors_raw.js';
import { PickleGlobal, PickleObject, kindOf, type PickleKey, type PickleValue } from './pickle.js';
import { isTensorValue } from './pth_tensors.js';
import { PthError } from './pth_error.js';

/** Keys that hold the state dict, by preference. */
export const STATE_DICT_KEYS = [
  'state_dict',
  'model',
  'model_state_dict',
  'state_dict_ema',
  'model_ema',
  'ema_state_dict',
  'ema',
  'module',
  'net',
  'params',
  'weights',
];

export interface PthStateDict {
  tensors: Map<string, RawTensor>;
  meta: Record<string, unknown> | null;
  container: string;
}

const hasTensor = (m: Map<PickleKey, PickleValue>): boolean => [...m.values()].some(isTensorValue);

function tensorsOf(m: Map<PickleKey, PickleValue>, container: string, source: string): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  const where = container === '' ? 'state dict' : `state dict '${container}'`;
  for (const [k, v] of m) {
    if (isTensorValue(v)) {
      if (typeof k !== 'string') throw new PthError(source, `${where}: a tensor under a ${kindOf(k)} key, not a name`);
      out.set(k, v);
    } else if (v instanceof PickleObject || v instanceof PickleGlobal) {
      throw new PthError(source, `${where}: entry '${String(k)}' is a ${kindOf(v)}, not a tensor`);
    }
  }
  return out;
}

/** Finds the state dict (see pth.ts's readPthStateDict). */
export function stateDictOf(root: PickleValue, source: string): PthStateDict {
  if (root instanceof Map) {
    if ([...root.values()].every(isTensorValue))
      return { tensors: tensorsOf(root, '', source), meta: null, container: '' };
    for (const key of STATE_DICT_KEYS) {
      const v = root.get(key);
      if (v instanceof Map && hasTensor(v)) {
        return { tensors: tensorsOf(v, key, source), meta: metaOf(root, key), container: key };
      }
    }
    if (hasTensor(root)) {
      const meta = metaOf(root, null);
      return { tensors: tensorsOf(root, '', source), meta: Object.keys(meta).length ? meta : null, container: '' };
    }
    const keys = [...root.keys()].slice(0, 12).map((k) => (typeof k === 'string' ? `'${k}'` : kindOf(k)));
    throw new PthError(
      source,
      `no state dict: the checkpoint is a dict of ${keys.join(', ') || 'nothing'}${root.size > 12 ? ', …' : ''} ` +
        `and none of ${STATE_DICT_KEYS.join(', ')} holds tensors`,
    );
  }
  throw new PthError(source, `no state dict: the checkpoint is a ${kindOf(root)}, not a dict`);
}

/** The top-level entries other than the state dict (or, with `skip` null, other than tensors) as JSON-able values. */
function metaOf(root: Map<PickleKey, PickleValue>, skip: string | null): Record<string, unknown> {
  const entries: [string, unknown][] = [];
  const memo = new Map<object, unknown>();
  for (const [k, v] of root) {
    if (skip === null ? isTensorValue(v) : k === skip) continue;
    entries.push([keyText(k, memo), toPlain(v, memo)]);
  }
  return Object.fromEntries(entries);
}

function keyText(k: PickleKey, memo: Map<object, unknown>): string {
  if (typeof k === 'string') return k;
  if (k === null || typeof k !== 'object') return String(k);
  return JSON.stringify(toPlain(k, memo));
}

const NUMPY_SCALAR = new Set(['numpy.core.multiarray.scalar', 'numpy._core.multiarray.scalar']);

/** A numpy scalar (numpy.core.multiarray.scalar(dtype, bytes)) as a number, or undefined. */
function numpyScalar(o: PickleObject): number | boolean | undefined {
  const [dt, raw] = o.args;
  if (!NUMPY_SCALAR.has(o.global) || !(dt instanceof PickleObject) || !(raw instanceof Uint8Array)) return undefined;
  const code = dt.args[0];
  const order = Array.isArray(dt.state) ? dt.state[1] : '<';
  if (typeof code !== 'string' || !/^[fiub][1248]$/.test(code)) return undefined;
  const size = Number(code[1]);
  if (raw.byteLength !== size) return undefined;
  const v = new DataView(raw.buffer, raw.byteOffset, size);
  const le = order !== '>';
  const kind = code[0];
  if (kind === 'b') return raw[0] !== 0;
  if (kind === 'f') return size === 8 ? v.getFloat64(0, le) : size === 4 ? v.getFloat32(0, le) : undefined;
  const signed = kind === 'i';
  if (size === 1) return signed ? v.getInt8(0) : v.getUint8(0);
  if (size === 2) return signed ? v.getInt16(0, le) : v.getUint16(0, le);
  if (size === 4) return signed ? v.getInt32(0, le) : v.getUint32(0, le);
  const x = signed ? v.getBigInt64(0, le) : v.getBigUint64(0, le);
  return Number(x);
}

/**
 * A pickled value as plain JSON-able JS: dicts -> objects, tuples / lists / sets -> arrays, ints past 2^53 ->
 * strings, numpy scalars -> numbers, tensors -> {"__tensor__": {dtype, shape}}, bytes -> {"__bytes__": length},
 * other placeholders -> {"__global__": name, args?, state?, items?}. Shared values are converted once.
 */
export function toPlain(v: PickleValue, memo: Map<object, unknown> = new Map()): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (memo.has(v)) return memo.get(v);
  let out: unknown;
  if (v instanceof Uint8Array) out = { __bytes__: v.byteLength };
  else if (isTensorValue(v)) out = { __tensor__: { dtype: v.dtype, shape: [...v.shape] } };
  else if (Array.isArray(v)) out = v.map((x) => toPlain(x, memo));
  else if (v instanceof Set) out = [...v].map((x) => toPlain(x, memo));
  else if (v instanceof Map) {
    out = Object.fromEntries([...v].map(([k, x]) => [keyText(k, memo), toPlain(x, memo)]));
  } else if (v instanceof PickleGlobal) out = { __global__: v.global };
  else {
    const o = v as PickleObject;
    const scalar = numpyScalar(o);
    if (scalar !== undefined) out = scalar;
    else {
      const p: Record<string, unknown> = { __global__: o.global };
      if (o.args.length) p.args = o.args.map((x) => toPlain(x, memo));
      if (o.state !== undefined) p.state = toPlain(o.state, memo);
      if (o.items.length) p.items = o.items.map((x) => toPlain(x, memo));
      out = p;
    }
  }
  memo.set(v, out);
  return out;
}
