// Reading the zip container of PyTorch checkpoints (torch.save since 1.6), from a buffer, synchronously.
// Reference: PKWARE's APPNOTE.TXT 6.3 (sections 4.3 and 4.5), and what PyTorch's writer emits
// (caffe2/serialize/inline_container.cc, miniz): stored entries with the data-descriptor flag, a 'FB' extra field
// padding each record to 64 bytes, and ZIP64 end records always.
//
// Layout read here: [local header 30 B + name + extra, data]... central directory [46 B + name + extra + comment]...
// [ZIP64 end record 56 B + ZIP64 locator 20 B] end record 22 B + comment. Sizes, CRC and offsets come from the
// central directory (torch's local headers hold zeros there); a ZIP64 extra field (id 1) replaces saturated values.
//
// Everything is checked before use: records lie inside the buffer, counts fit the directory's bytes, each entry's
// local header repeats its name, names are unique, and an entry's data is checked against its CRC-32 when read. A
// stored entry's data is a view into the buffer (no copy); a deflated one (torch never writes them, but a re-zipped
// checkpoint has them and torch reads them) is inflated with its declared size as the limit.
import * as zlib from 'node:zlib';
import { PthError } from './pth_error.js';

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** where the entry's local header starts */
  offset: number;
  /** where the entry's (compressed) data starts in the buffer */
  dataStart: number;
}

export interface ZipDirectory {
  /** entries by name, in central-directory order */
  entries: Map<string, ZipEntry>;
  /** whether the archive has ZIP64 end records */
  zip64: boolean;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_END = 0x06054b50;
const SIG_END64 = 0x06064b50;
const SIG_LOCATOR64 = 0x07064b50;
const END_BYTES = 22;
const LOCATOR64_BYTES = 20;
const END64_BYTES = 56;
const CENTRAL_BYTES = 46;
const LOCAL_BYTES = 30;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

/** The largest ratio deflate reaches (about 1032:1), with slack: a larger declared size is a lie. */
const MAX_INFLATE_RATIO = 1100;

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** A u64 as a number, or null when it is not a safe integer. */
function u64(v: DataView, at: number): number | null {
  const x = v.getBigUint64(at, true);
  return x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : null;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function findEnd(b: Uint8Array, v: DataView, source: string): number {
  // The end record is the last 22 bytes plus a comment of at most 64 KiB; its comment length must reach the end.
  const lowest = Math.max(0, b.byteLength - END_BYTES - U16_MAX);
  for (let at = b.byteLength - END_BYTES; at >= lowest; at--) {
    if (v.getUint32(at, true) === SIG_END && at + END_BYTES + v.getUint16(at + 20, true) === b.byteLength) return at;
  }
  throw new PthError(source, 'zip: no end-of-central-directory record: truncated, or not a zip file');
}

interface Directory {
  count: number;
  size: number;
  offset: number;
  /** where the directory must end: the ZIP64 end record, or the end record */
  limit: number;
  zip64: boolean;
}

function directoryOf(b: Uint8Array, v: DataView, end: number, source: string): Directory {
  if (v.getUint16(end + 4, true) !== 0 || v.getUint16(end + 6, true) !== 0) {
    throw new PthError(source, 'zip: multi-disk archives are not supported');
  }
  let count = v.getUint16(end + 10, true);
  let size: number | null = v.getUint32(end + 12, true);
  let offset: number | null = v.getUint32(end + 16, true);
  let limit = end;
  const loc = end - LOCATOR64_BYTES;
  const zip64 = loc >= 0 && v.getUint32(loc, true) === SIG_LOCATOR64;
  if (zip64) {
    const at = u64(v, loc + 8);
    if (at === null || at + END64_BYTES > loc) {
      throw new PthError(source, `zip: ZIP64 end record offset ${v.getBigUint64(loc + 8, true)} lies outside the file`);
    }
    if (v.getUint32(at, true) !== SIG_END64) {
      throw new PthError(source, `zip: no ZIP64 end record at byte ${at} where the locator points`);
    }
    const count64 = u64(v, at + 32);
    size = u64(v, at + 40);
    offset = u64(v, at + 48);
    if (count64 === null || size === null || offset === null) {
      throw new PthError(source, 'zip: ZIP64 end record holds sizes past 2^53: corrupt');
    }
    count = count64;
    limit = at;
  } else if (count === U16_MAX || size === U32_MAX || offset === U32_MAX) {
    throw new PthError(source, 'zip: end record needs a ZIP64 locator that is missing: truncated or corrupt');
  }
  if (offset + size > limit) {
    throw new PthError(
      source,
      `zip: central directory [${offset}, ${offset + size}) runs past its end at byte ${limit}: truncated or corrupt`,
    );
  }
  if (count * CENTRAL_BYTES > size) {
    throw new PthError(source, `zip: ${count} entries cannot fit a ${size}-byte central directory`);
  }
  return { count, size, offset, limit, zip64 };
}

/** Applies a ZIP64 extra field (id 1) to the saturated values of a central header. */
function readExtra(
  v: DataView,
  from: number,
  to: number,
  fields: { size: number; compressedSize: number; offset: number },
  where: string,
  source: string,
): void {
  let at = from;
  while (at < to) {
    if (at + 4 > to) throw new PthError(source, `${where}: malformed extra field`);
    const id = v.getUint16(at, true);
    const n = v.getUint16(at + 2, true);
    if (at + 4 + n > to) throw new PthError(source, `${where}: extra field runs past its header`);
    if (id === 1) {
      let p = at + 4;
      const take = (): number => {
        if (p + 8 > at + 4 + n) throw new PthError(source, `${where}: ZIP64 extra field is too short`);
        const x = u64(v, p);
        if (x === null) throw new PthError(source, `${where}: ZIP64 value past 2^53`);
        p += 8;
        return x;
      };
      if (fields.size === U32_MAX) fields.size = take();
      if (fields.compressedSize === U32_MAX) fields.compressedSize = take();
      if (fields.offset === U32_MAX) fields.offset = take();
    }
    at += 4 + n;
  }
}

/** Reads and checks the central directory and every entry's local header (not the data). */
export function readZipDirectory(b: Uint8Array, source: string): ZipDirectory {
  if (b.byteLength < END_BYTES) throw new PthError(source, `zip: file is ${b.byteLength} bytes: truncated`);
  const v = dv(b);
  const end = findEnd(b, v, source);
  const dir = directoryOf(b, v, end, source);
  const entries = new Map<string, ZipEntry>();
  let at = dir.offset;
  const stop = dir.offset + dir.size;
  for (let i = 0; i < dir.count; i++) {
    const where = `zip: central directory entry ${i}`;
    if (at + CENTRAL_BYTES > stop || v.getUint32(at, true) !== SIG_CENTRAL) {
      throw new PthError(source, `${where}: no header at byte ${at}: corrupt`);
    }
    const flags = v.getUint16(at + 8, true);
    const method = v.getUint16(at + 10, true);
    const nameLen = v.getUint16(at + 28, true);
    const extraLen = v.getUint16(at + 30, true);
    const commentLen = v.getUint16(at + 32, true);
    const next = at + CENTRAL_BYTES + nameLen + extraLen + commentLen;
    if (next > stop) throw new PthError(source, `${where}: runs past the central directory`);
    let name: string;
    try {
      name = utf8.decode(b.subarray(at + CENTRAL_BYTES, at + CENTRAL_BYTES + nameLen));
    } catch {
      throw new PthError(source, `${where}: name is not UTF-8`);
    }
    const named = `zip: entry '${name}'`;
    if (flags & 1) throw new PthError(source, `${named} is encrypted`);
    if (method !== 0 && method !== 8) {
      throw new PthError(source, `${named}: compression method ${method} is not supported (stored or deflate)`);
    }
    const fields = {
      size: v.getUint32(at + 24, true),
      compressedSize: v.getUint32(at + 20, true),
      offset: v.getUint32(at + 42, true),
    };
    readExtra(v, at + CENTRAL_BYTES + nameLen, at + CENTRAL_BYTES + nameLen + extraLen, fields, named, source);
    if (entries.has(name)) throw new PthError(source, `${named} appears twice`);
    const dataStart = localData(b, v, fields.offset, name, dir.offset, source);
    if (dataStart + fields.compressedSize > dir.offset) {
      throw new PthError(
        source,
        `${named}: data [${dataStart}, ${dataStart + fields.compressedSize}) runs past the central directory at byte ${dir.offset}: truncated or corrupt`,
      );
    }
    if (method === 0 && fields.size !== fields.compressedSize) {
      throw new PthError(
        source,
        `${named}: stored entry declares ${fields.size} bytes but holds ${fields.compressedSize}`,
      );
    }
    if (method === 8 && fields.size > fields.compressedSize * MAX_INFLATE_RATIO + 1024) {
      throw new PthError(
        source,
        `${named}: declares ${fields.size} bytes from ${fields.compressedSize} deflated: more than deflate can hold`,
      );
    }
    entries.set(name, {
      name,
      method,
      crc32: v.getUint32(at + 16, true),
      compressedSize: fields.compressedSize,
      size: fields.size,
      offset: fields.offset,
      dataStart,
    });
    at = next;
  }
  return { entries, zip64: dir.zip64 };
}

/** Checks an entry's local header and returns where its data starts. */
function localData(b: Uint8Array, v: DataView, at: number, name: string, limit: number, source: string): number {
  const where = `zip: entry '${name}'`;
  if (at + LOCAL_BYTES > limit || v.getUint32(at, true) !== SIG_LOCAL) {
    throw new PthError(source, `${where}: no local header at byte ${at}: corrupt`);
  }
  const nameLen = v.getUint16(at + 26, true);
  const extraLen = v.getUint16(at + 28, true);
  const start = at + LOCAL_BYTES + nameLen + extraLen;
  if (start > limit) throw new PthError(source, `${where}: local header runs past the central directory`);
  const local = b.subarray(at + LOCAL_BYTES, at + LOCAL_BYTES + nameLen);
  if (Buffer.compare(local, Buffer.from(name, 'utf8')) !== 0) {
    throw new PthError(source, `${where}: local header names another file: corrupt`);
  }
  return start;
}

// ---- CRC-32 -----------------------------------------------------------------------------------------------------

let table: Uint32Array | null = null;
// A namespace lookup, not a named import: a Node without zlib.crc32 would refuse to link a named import.
const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

/** CRC-32 (zip's), by node:zlib where it has it (Node 20.15+), else by a table. */
export function crc32(data: Uint8Array): number {
  if (typeof zlibCrc32 === 'function') return zlibCrc32(data) >>> 0;
  if (table === null) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = (table[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** An entry's bytes, checked against its CRC-32: a view into `b` for a stored entry, a new buffer for a deflated one. */
export function zipEntryData(b: Uint8Array, e: ZipEntry, source: string): Uint8Array {
  const raw = b.subarray(e.dataStart, e.dataStart + e.compressedSize);
  let data = raw;
  if (e.method === 8) {
    try {
      data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
    } catch (err) {
      throw new PthError(source, `zip: entry '${e.name}' does not inflate (${(err as Error).message})`);
    }
    if (data.byteLength !== e.size) {
      throw new PthError(source, `zip: entry '${e.name}' inflates to ${data.byteLength} bytes, not ${e.size}`);
    }
  }
  const sum = crc32(data);
  if (sum !== e.crc32) {
    throw new PthError(
      source,
      `zip: entry '${e.name}' fails its CRC-32 check (${sum.toString(16).padStart(8, '0')}, expected ${e.crc32.toString(16).padStart(8, '0')}): corrupt`,
    );
  }
  return data;
}
