// dtypes and their at::ScalarType codes (c10/core/ScalarType.h order).

export type DType =
  'uint8' | 'int8' | 'int16' | 'int32' | 'int64' | 'float16' | 'float32' | 'float64' | 'bool' | 'bfloat16';

const CODES: Record<DType, number> = {
  uint8: 0,
  int8: 1,
  int16: 2,
  int32: 3,
  int64: 4,
  float16: 5,
  float32: 6,
  float64: 7,
  bool: 11,
  bfloat16: 15,
};

const BY_CODE = new Map<number, DType>(Object.entries(CODES).map(([k, v]) => [v, k as DType]));

export function dtypeCode(d: DType): number {
  const c = CODES[d];
  if (c === undefined) throw new TypeError(`unknown dtype '${String(d)}'`);
  return c;
}

export function dtypeFromCode(code: number): DType {
  const d = BY_CODE.get(code);
  if (d === undefined) throw new TypeError(`ladet does not support at::ScalarType ${code}`);
  return d;
}

export const BYTES_PER_ELEMENT: Record<DType, number> = {
  uint8: 1,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  float16: 2,
  float32: 4,
  float64: 8,
  bool: 1,
  bfloat16: 2,
};

/** The typed array a dtype's elements are read into. float16/bfloat16 come back as raw 16-bit patterns. */
export interface TypedArrayOf {
  uint8: Uint8Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  float16: Uint16Array;
  float32: Float32Array;
  float64: Float64Array;
  bool: Uint8Array;
  bfloat16: Uint16Array;
}

export type AnyTypedArray = TypedArrayOf[DType];

export function viewAs<D extends DType>(dtype: D, buf: ArrayBuffer): TypedArrayOf[D] {
  switch (dtype) {
    case 'uint8':
    case 'bool':
      return new Uint8Array(buf) as TypedArrayOf[D];
    case 'int8':
      return new Int8Array(buf) as TypedArrayOf[D];
    case 'int16':
      return new Int16Array(buf) as TypedArrayOf[D];
    case 'int32':
      return new Int32Array(buf) as TypedArrayOf[D];
    case 'int64':
      return new BigInt64Array(buf) as TypedArrayOf[D];
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(buf) as TypedArrayOf[D];
    case 'float32':
      return new Float32Array(buf) as TypedArrayOf[D];
    case 'float64':
      return new Float64Array(buf) as TypedArrayOf[D];
    default:
      throw new TypeError(`unknown dtype '${String(dtype)}'`);
  }
}

/** The dtype a typed array holds by default. */
export function dtypeOfArray(a: ArrayBufferView): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array) return 'uint8';
  throw new TypeError(`no default dtype for ${a.constructor.name}`);
}

export function isFloating(d: DType): boolean {
  return d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
}
