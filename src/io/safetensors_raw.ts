// The safetensors format at the byte level, without tensors: what ladet's weights and checkpoints are stored in,
// and what PyTorch / Hugging Face tools read and write.
//
// Layout: 8 bytes N (u64, little-endian), then N bytes of UTF-8 JSON header (padded with spaces so the data starts
// 8-aligned), then the data section. The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]}
// (byte offsets into the data section) and may hold "__metadata__", a string -> string map. The tensors must
// cover the data section exactly: no holes, no overlaps, nothing after the last one.
//
// Reading validates all of that before touching the data, so a corrupt or hostile file gives an error naming
// the file and the entry, never a read outside the buffer. Writing lays tensors out the way the reference writer
// does (descending dtype alignment, then name), so ladet's files are byte-identical to its output.
import { openSync, closeSync, fstatSync, readSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import { findDuplicateKey } from './json_keys.js';

/**
 * Every dtype of the format, in the reference implementation's order, which is by increasing alignment. Files
 * are laid out by descending position in this list, then by name.
 */
export const SAFETENSORS_DTYPES = [
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'F64',
  'I64',
  'U64',
] as const;

export type SafetensorsDtype = (typeof SAFETENSORS_DTYPES)[number];

/** Bytes per element of each format dtype. */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

const DTYPE_RANK = new Map<string, number>(SAFETENSORS_DTYPES.map((d, i) => [d, i]));

/** The reference readers refuse larger headers; so does ladet (a corrupt length would otherwise allocate GBs). */
export const MAX_HEADER_BYTES = 100_000_000;

export const METADATA_KEY = '__metadata__';

/** One tensor as bytes: `data` holds numel * element size bytes, row-major, little-endian. */
export interface RawTensor {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  data: Uint8Array;
}

/** One header entry; begin/end are byte offsets into the data section. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** A validated header. */
export interface SafetensorsHeader {
  /** the entries in data order (by begin offset) */
  entries: SafetensorsEntry[];
  /** the "__metadata__" map, or null when the file has none */
  metadata: Record<string, string> | null;
  /** N: the header's length in bytes, padding included */
  headerBytes: number;
  /** byte position of the data section in the file: 8 + N */
  dataStart: number;
  /** length of the data section */
  dataBytes: number;
}

export interface RawSafetensors {
  /** tensors in data order */
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string> | null;
}

/** Tensors keyed by name, as a Map or a plain object. */
export type NamedTensors<T> = ReadonlyMap<string, T> | Readonly<Record<string, T>>;

/** Metadata to write into "__metadata__". */
export type SafetensorsMetadata = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

/** A malformed file or an invalid tensor set; the message starts with the file (or source) name. */
export class SafetensorsError extends Error {
  readonly source: string;

  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'SafetensorsError';
    this.source = source;
  }
}

function entriesOf<T>(x: ReadonlyMap<string, T> | Readonly<Record<string, T>>): [string, T][] {
  return x instanceof Map ? [...(x as ReadonlyMap<string, T>).entries()] : Object.entries(x as Record<string, T>);
}

function isSafetensorsDtype(d: unknown): d is SafetensorsDtype {
  return typeof d === 'string' && DTYPE_RANK.has(d);
}

// Values from a header shown in messages are abbreviated: JSON.stringify of a deeply nested value overflows the
// stack (a RangeError instead of an error naming the file), and a long one would be copied whole into the message.
const SHOWN_ITEMS = 8;

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** One JSON value, shallowly: containers inside are shown as […] / {…}. */
function showItem(v: unknown, max: number): string {
  if (Array.isArray(v)) return '[…]';
  if (v !== null && typeof v === 'object') return '{…}';
  return clip(JSON.stringify(v) ?? String(v), max);
}

const isFlat = (xs: readonly unknown[]): boolean =>
  xs.length <= SHOWN_ITEMS && xs.every((x) => x === null || typeof x !== 'object');

/** A header value for a message: JSON text when short and flat, else abbreviated. */
function show(v: unknown): string {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && isFlat(Object.values(v)))
    return clip(JSON.stringify(v), 80);
  if (!Array.isArray(v)) return showItem(v, 80);
  if (isFlat(v)) return clip(JSON.stringify(v), 80);
  return `[${v
    .slice(0, SHOWN_ITEMS)
    .map((x) => showItem(x, 20))
    .join(',')}${v.length > SHOWN_ITEMS ? `,… (${v.length} items)` : ''}]`;
}

function fmtShape(shape: readonly unknown[]): string {
  const more = shape.length > SHOWN_ITEMS ? `, … (${shape.length} dimensions)` : '';
  return `[${shape
    .slice(0, SHOWN_ITEMS)
    .map((s) => showItem(s, 20))
    .join(', ')}${more}]`;
}

/** Elements of a shape, or null when a dimension is not a non-negative safe integer or the product overflows. */
function numelOf(shape: readonly unknown[]): number | null {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return null;
    n *= d;
  }
  return Number.isSafeInteger(n) ? n : null;
}

// ---- reading ---------------------------------------------------------------------------------------------------

/** N from the first 8 bytes, checked against the limit and the file's length. */
function headerLength(first8: Uint8Array, fileBytes: number, source: string): number {
  if (fileBytes < 8) {
    throw new SafetensorsError(
      source,
      `file is ${fileBytes} bytes, too short for the 8-byte header length: truncated or not a safetensors file`,
    );
  }
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(
      source,
      `header length ${n} bytes exceeds the limit of ${MAX_HEADER_BYTES}: corrupt or not a safetensors file`,
    );
  }
  if (8n + n > BigInt(fileBytes)) {
    throw new SafetensorsError(
      source,
      `header length ${n} bytes runs past the end of the ${fileBytes}-byte file: truncated or not a safetensors file`,
    );
  }
  return Number(n);
}

function parseMetadata(value: unknown, source: string): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SafetensorsError(source, `header: "${METADATA_KEY}" must be an object of strings`);
  }
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new SafetensorsError(source, `header: "${METADATA_KEY}" value of '${k}' must be a string, got ${show(v)}`);
    }
    out.push([k, v]);
  }
  // fromEntries defines own properties, so a key like "__proto__" stays data.
  return Object.fromEntries(out);
}

function parseEntry(name: string, value: unknown, dataBytes: number, source: string): SafetensorsEntry {
  const where = `header: tensor '${name}'`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SafetensorsError(source, `${where}: entry must be an object with dtype, shape and data_offsets`);
  }
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (dtype === undefined) throw new SafetensorsError(source, `${where}: dtype is missing`);
  if (!isSafetensorsDtype(dtype)) {
    throw new SafetensorsError(
      source,
      `${where}: unknown dtype ${show(dtype)} (known: ${SAFETENSORS_DTYPES.join(', ')})`,
    );
  }
  if (!Array.isArray(shape)) throw new SafetensorsError(source, `${where}: shape must be an array of integers`);
  const numel = numelOf(shape);
  if (numel === null) {
    const bad = shape.find((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0);
    throw new SafetensorsError(
      source,
      bad === undefined
        ? `${where}: shape ${fmtShape(shape)} has too many elements`
        : `${where}: shape ${fmtShape(shape)} has ${showItem(bad, 20)}, not a non-negative integer`,
    );
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0) ||
    (offsets[0] as number) > (offsets[1] as number)
  ) {
    throw new SafetensorsError(
      source,
      `${where}: data_offsets must be [begin, end] with integers 0 <= begin <= end, got ${show(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  const want = numel * SAFETENSORS_DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(want)) {
    throw new SafetensorsError(source, `${where}: shape ${fmtShape(shape)} has too many bytes`);
  }
  if (end - begin !== want) {
    throw new SafetensorsError(
      source,
      `${where}: shape ${fmtShape(shape)} of ${dtype} needs ${want} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  if (end > dataBytes) {
    throw new SafetensorsError(
      source,
      `${where}: data_offsets [${begin}, ${end}] run past the end of the ${dataBytes}-byte data section: truncated file?`,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/**
 * Validates the N header bytes for a data section of `dataBytes` bytes: UTF-8, one JSON object without duplicate
 * keys, well-formed entries, and offsets that tile the data section exactly.
 */
export function parseHeaderBytes(
  header: Uint8Array,
  dataBytes: number,
  source: string,
): { entries: SafetensorsEntry[]; metadata: Record<string, string> | null } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(header);
  } catch {
    throw new SafetensorsError(source, 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(source, `header is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new SafetensorsError(
      source,
      `header is not a JSON object (got ${json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json})`,
    );
  }
  const dup = findDuplicateKey(text);
  if (dup !== null) {
    throw new SafetensorsError(
      source,
      dup.path.length === 0
        ? `header: key '${dup.key}' appears twice (a tensor or "${METADATA_KEY}" listed twice)`
        : `header: key '${dup.key}' appears twice in '${dup.path.join("' > '")}'`,
    );
  }
  let metadata: Record<string, string> | null = null;
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === METADATA_KEY) metadata = parseMetadata(value, source);
    else entries.push(parseEntry(name, value, dataBytes, source));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: SafetensorsEntry | null = null;
  for (const e of entries) {
    if (prev !== null && e.begin < pos) {
      throw new SafetensorsError(
        source,
        `header: tensor '${e.name}' (data_offsets [${e.begin}, ${e.end}]) overlaps tensor '${prev.name}' (data_offsets [${prev.begin}, ${prev.end}])`,
      );
    }
    if (e.begin > pos) {
      throw new SafetensorsError(
        source,
        `header: hole of ${e.begin - pos} bytes before tensor '${e.name}' (data_offsets [${e.begin}, ${e.end}]): the data must be packed`,
      );
    }
    pos = e.end;
    prev = e;
  }
  if (pos !== dataBytes) {
    throw new SafetensorsError(
      source,
      `${dataBytes - pos} bytes after the last tensor's data are not covered by any header entry (data section is ${dataBytes} bytes)`,
    );
  }
  return { entries, metadata };
}

/** Reads and validates the header of a whole file held in memory. */
export function parseSafetensorsHeader(bytes: Uint8Array, source: string): SafetensorsHeader {
  const n = headerLength(bytes.subarray(0, 8), bytes.byteLength, source);
  const dataStart = 8 + n;
  const dataBytes = bytes.byteLength - dataStart;
  const { entries, metadata } = parseHeaderBytes(bytes.subarray(8, dataStart), dataBytes, source);
  return { entries, metadata, headerBytes: n, dataStart, dataBytes };
}

/** Parses a whole file held in memory. The tensors' data are views into `bytes` (no copy). */
export function parseSafetensorsRaw(bytes: Uint8Array, source: string): RawSafetensors {
  const h = parseSafetensorsHeader(bytes, source);
  const tensors = new Map<string, RawTensor>();
  for (const e of h.entries) {
    tensors.set(e.name, {
      dtype: e.dtype,
      shape: e.shape,
      data: bytes.subarray(h.dataStart + e.begin, h.dataStart + e.end),
    });
  }
  return { tensors, metadata: h.metadata };
}

// Node's readSync refuses lengths of 2 GiB and more; read big tensors in pieces.
const READ_CHUNK = 1 << 30;

function readExactly(fd: number, length: number, position: number, path: string, what: string): Uint8Array {
  const buf = new Uint8Array(length);
  let off = 0;
  while (off < length) {
    const k = readSync(fd, buf, off, Math.min(length - off, READ_CHUNK), position + off);
    if (k === 0) {
      throw new SafetensorsError(path, `file ended at byte ${position + off} while reading ${what}: truncated`);
    }
    off += k;
  }
  return buf;
}

function readHeaderFd(fd: number, path: string): SafetensorsHeader {
  const fileBytes = fstatSync(fd).size;
  const first8 = fileBytes >= 8 ? readExactly(fd, 8, 0, path, 'the header length') : new Uint8Array(8);
  const n = headerLength(first8, fileBytes, path);
  const header = readExactly(fd, n, 8, path, 'the header');
  const dataStart = 8 + n;
  const dataBytes = fileBytes - dataStart;
  const { entries, metadata } = parseHeaderBytes(header, dataBytes, path);
  return { entries, metadata, headerBytes: n, dataStart, dataBytes };
}

/** Reads and validates only the header of a file (the data is not read). */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = openSync(path, 'r');
  try {
    return readHeaderFd(fd, path);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a file tensor by tensor: validates the header, calls `beforeData` with it (which may throw to refuse the
 * file before any data is read), then `visit` with each entry and a fresh buffer of its bytes, in data order.
 * Only one tensor's bytes are held at a time.
 */
export function scanSafetensors(
  path: string,
  visit: (entry: SafetensorsEntry, data: Uint8Array) => void,
  beforeData?: (header: SafetensorsHeader) => void,
): SafetensorsHeader {
  const fd = openSync(path, 'r');
  try {
    const h = readHeaderFd(fd, path);
    beforeData?.(h);
    for (const e of h.entries) {
      visit(e, readExactly(fd, e.end - e.begin, h.dataStart + e.begin, path, `tensor '${e.name}'`));
    }
    return h;
  } finally {
    closeSync(fd);
  }
}

/** Reads a whole file as raw tensors (each with its own buffer). */
export function loadSafetensorsRaw(path: string): RawSafetensors {
  const tensors = new Map<string, RawTensor>();
  const h = scanSafetensors(path, (e, data) => tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data }));
  return { tensors, metadata: h.metadata };
}

// ---- writing ---------------------------------------------------------------------------------------------------

const utf8 = new TextEncoder();

function compareUtf8(a: string, b: string): number {
  // Byte order of the UTF-8 encodings, as the reference writer sorts (JS string order differs beyond the BMP).
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function metadataJson(metadata: SafetensorsMetadata, source: string): string {
  const parts: string[] = [];
  for (const [k, v] of entriesOf(metadata)) {
    if (typeof v !== 'string') {
      throw new SafetensorsError(source, `metadata value of '${k}' must be a string, got ${typeof v}`);
    }
    parts.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * The file as a list of byte chunks: [8-byte length + padded header, data of each tensor...]. The tensors are
 * validated (dtype, shape, byte length) and laid out by descending dtype alignment, then name.
 */
export function encodeSafetensorsRaw(
  tensors: NamedTensors<RawTensor>,
  metadata?: SafetensorsMetadata | null,
  source = 'safetensors',
): Uint8Array[] {
  const list = entriesOf(tensors);
  for (const [name, t] of list) {
    const where = `tensor '${name}'`;
    if (name === METADATA_KEY) throw new SafetensorsError(source, `a tensor may not be named "${METADATA_KEY}"`);
    if (!isSafetensorsDtype(t.dtype)) {
      throw new SafetensorsError(source, `${where}: unknown dtype ${JSON.stringify(t.dtype)}`);
    }
    const numel = numelOf(t.shape);
    if (numel === null) {
      throw new SafetensorsError(source, `${where}: shape ${fmtShape(t.shape)} must list non-negative integers`);
    }
    const want = numel * SAFETENSORS_DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== want) {
      throw new SafetensorsError(
        source,
        `${where}: shape ${fmtShape(t.shape)} of ${t.dtype} needs ${want} bytes, data has ${t.data.byteLength}`,
      );
    }
  }
  list.sort(
    ([an, a], [bn, b]) =>
      (DTYPE_RANK.get(b.dtype) as number) - (DTYPE_RANK.get(a.dtype) as number) || compareUtf8(an, bn),
  );
  const fields: string[] = [];
  if (metadata !== undefined && metadata !== null) fields.push(`"${METADATA_KEY}":${metadataJson(metadata, source)}`);
  let offset = 0;
  for (const [name, t] of list) {
    const end = offset + t.data.byteLength;
    fields.push(
      `${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = utf8.encode(`{${fields.join(',')}}`);
  const n = Math.ceil(json.byteLength / 8) * 8;
  const head = new Uint8Array(8 + n);
  new DataView(head.buffer).setBigUint64(0, BigInt(n), true);
  head.set(json, 8);
  head.fill(0x20, 8 + json.byteLength);
  return [head, ...list.map(([, t]) => t.data)];
}

/** The whole file in one buffer. */
export function serializeSafetensorsRaw(
  tensors: NamedTensors<RawTensor>,
  metadata?: SafetensorsMetadata | null,
): Uint8Array {
  return concat(encodeSafetensorsRaw(tensors, metadata));
}

/** Writes a file atomically (temp file + rename), without assembling it in memory first. */
export function saveSafetensorsRaw(
  path: string,
  tensors: NamedTensors<RawTensor>,
  metadata?: SafetensorsMetadata | null,
): void {
  writeFileAtomic(path, encodeSafetensorsRaw(tensors, metadata, path));
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}
