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
        return { tensors: tensorsOf(v, key, source), meta: metaOf(root, key, source), container: key };
      }
    }
    if (hasTensor(root)) {
      const meta = metaOf(root, null, source);
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
function metaOf(root: Map<PickleKey, PickleValue>, skip: string | null, source: string): Record<string, unknown> {
  const entries: [string, unknown][] = [];
  const budget = { left: MAX_PLAIN_VALUES, source };
  for (const [k, v] of root) {
    if (skip === null ? isTensorValue(v) : k === skip) continue;
    entries.push([keyText(k, budget), plain(v, budget)]);
  }
  return Object.fromEntries(entries);
}

/** How many values a plain conversion may make: a pickle that shares one container many times expands past it. */
export const MAX_PLAIN_VALUES = 1_000_000;

interface Budget {
  left: number;
  source: string;
}

function keyText(k: PickleKey, budget: Budget): string {
  if (typeof k === 'string') return k;
  if (k === null || typeof k !== 'object') return String(k);
  return JSON.stringify(plain(k, budget));
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
 * other placeholders -> {"__global__": name, args?, state?, items?}. The result is a tree (shared values are
 * copied), of at most MAX_PLAIN_VALUES values, else a PthError naming `source`.
 */
export function toPlain(v: PickleValue, source = 'pickle'): unknown {
  return plain(v, { left: MAX_PLAIN_VALUES, source });
}

function plain(v: PickleValue, budget: Budget): unknown {
  if (--budget.left < 0) {
    throw new PthError(
      budget.source,
      `metadata expands to more than ${MAX_PLAIN_VALUES} values (a pickle that shares containers many times)`,
    );
  }
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return { __bytes__: v.byteLength };
  if (isTensorValue(v)) return { __tensor__: { dtype: v.dtype, shape: [...v.shape] } };
  if (Array.isArray(v)) return v.map((x) => plain(x, budget));
  if (v instanceof Set) return [...v].map((x) => plain(x, budget));
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [keyText(k, budget), plain(x, budget)]));
  if (v instanceof PickleGlobal) return { __global__: v.global };
  const o = v as PickleObject;
  const scalar = numpyScalar(o);
  if (scalar !== undefined) return scalar;
  const p: Record<string, unknown> = { __global__: o.global };
  if (o.args.length) p.args = o.args.map((x) => plain(x, budget));
  if (o.state !== undefined) p.state = plain(o.state, budget);
  if (o.items.length) p.items = o.items.map((x) => plain(x, budget));
  return p;
}
