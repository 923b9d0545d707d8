// safetensors files <-> ladet tensors. The byte format lives in safetensors_raw.ts; this file maps dtypes and
// moves bytes in and out of libtorch.
import { endianness } from 'node:os';
import { fromBytes, toBytes, dispose, type DType, type Tensor } from '../torch/index.js';
import {
  SafetensorsError,
  encodeSafetensorsRaw,
  parseSafetensorsRaw,
  scanSafetensors,
  serializeSafetensorsRaw,
  type NamedTensors,
  type RawTensor,
  type SafetensorsDtype,
  type SafetensorsMetadata,
} from './safetensors_raw.js';
import { writeFileAtomic } from './atomic.js';

const TO_LADET: Partial<Record<SafetensorsDtype, DType>> = {
  BOOL: 'bool',
  U8: 'uint8',
  I8: 'int8',
  I16: 'int16',
  I32: 'int32',
  I64: 'int64',
  F16: 'float16',
  BF16: 'bfloat16',
  F32: 'float32',
  F64: 'float64',
};

const TO_FORMAT: Record<DType, SafetensorsDtype> = {
  bool: 'BOOL',
  uint8: 'U8',
  int8: 'I8',
  int16: 'I16',
  int32: 'I32',
  int64: 'I64',
  float16: 'F16',
  bfloat16: 'BF16',
  float32: 'F32',
  float64: 'F64',
};

export interface LoadedSafetensors {
  /** tensors in file (data) order, on the CPU */
  tensors: Map<string, Tensor>;
  /** the "__metadata__" map, or null when the file has none */
  metadata: Record<string, string> | null;
}

function checkHostOrder(): void {
  // libtorch copies bytes in host order and the format is little-endian.
  if (endianness() !== 'LE') throw new Error('safetensors: ladet supports little-endian hosts only');
}

/** The format dtype ladet writes for a tensor dtype. */
export function safetensorsDtypeOf(dtype: DType): SafetensorsDtype {
  return TO_FORMAT[dtype];
}

/** The ladet dtype of a format dtype, or null for those libtorch lacks (U16, U32, U64, F8_*). */
export function ladetDtypeOf(dtype: SafetensorsDtype): DType | null {
  return TO_LADET[dtype] ?? null;
}

/** A tensor's bytes (copied to the CPU, made contiguous). */
export function tensorToRaw(t: Tensor): RawTensor {
  checkHostOrder();
  return { dtype: TO_FORMAT[t.dtype], shape: t.shape, data: toBytes(t) };
}

/** A new CPU tensor from raw bytes; `name` and `source` only label errors. */
export function rawToTensor(raw: RawTensor, name = 'tensor', source = 'safetensors'): Tensor {
  checkHostOrder();
  const dtype = TO_LADET[raw.dtype];
  if (dtype === undefined) {
    throw new SafetensorsError(
      source,
      `tensor '${name}' has dtype ${raw.dtype}, which ladet tensors do not support (loadSafetensorsRaw reads it as bytes)`,
    );
  }
  if (dtype === 'bool') {
    // libtorch assumes bool bytes are 0 or 1; anything else gives inconsistent results later.
    const bad = raw.data.findIndex((b) => b > 1);
    if (bad >= 0) {
      throw new SafetensorsError(source, `tensor '${name}': BOOL element ${bad} is byte ${raw.data[bad]}, not 0 or 1`);
    }
  }
  return fromBytes(raw.data, dtype, raw.shape);
}

function toRawAll(tensors: NamedTensors<Tensor>): Map<string, RawTensor> {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, Tensor>);
  return new Map(entries.map(([k, t]) => [k, tensorToRaw(t)]));
}

/** The file's bytes for `tensors` (copied to the CPU) and optional string metadata. */
export function serializeSafetensors(tensors: NamedTensors<Tensor>, metadata?: SafetensorsMetadata | null): Uint8Array {
  return serializeSafetensorsRaw(toRawAll(tensors), metadata);
}

/** Writes `tensors` to `path` atomically (temp file + rename). */
export function saveSafetensors(
  path: string,
  tensors: NamedTensors<Tensor>,
  metadata?: SafetensorsMetadata | null,
): void {
  writeFileAtomic(path, encodeSafetensorsRaw(toRawAll(tensors), metadata, path));
}

function unsupported(entries: readonly { name: string; dtype: SafetensorsDtype }[], source: string): void {
  const bad = entries.find((e) => TO_LADET[e.dtype] === undefined);
  if (bad !== undefined) {
    throw new SafetensorsError(
      source,
      `tensor '${bad.name}' has dtype ${bad.dtype}, which ladet tensors do not support (loadSafetensorsRaw reads it as bytes)`,
    );
  }
}

/** Tensors from a whole file held in memory; `source` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, source: string): LoadedSafetensors {
  const raw = parseSafetensorsRaw(bytes, source);
  unsupported(
    [...raw.tensors].map(([name, t]) => ({ name, dtype: t.dtype })),
    source,
  );
  const tensors = new Map<string, Tensor>();
  try {
    for (const [name, t] of raw.tensors) tensors.set(name, rawToTensor(t, name, source));
  } catch (e) {
    dispose(tensors);
    throw e;
  }
  return { tensors, metadata: raw.metadata };
}

/** Tensors from a file, read one tensor at a time (the file is never held whole in memory). */
export function loadSafetensors(path: string): LoadedSafetensors {
  const tensors = new Map<string, Tensor>();
  try {
    const h = scanSafetensors(
      path,
      (e, data) => tensors.set(e.name, rawToTensor({ dtype: e.dtype, shape: e.shape, data }, e.name, path)),
      (header) => unsupported(header.entries, path),
    );
    return { tensors, metadata: h.metadata };
  } catch (e) {
    dispose(tensors);
    throw e;
  }
}
