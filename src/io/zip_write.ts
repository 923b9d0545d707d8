// Writing the zip container of PyTorch checkpoints: stored (uncompressed) entries whose data starts on a 64-byte
// boundary, as PyTorch's writer lays them out (caffe2/serialize/inline_container.cc: a 'FB' extra field of 'Z'
// padding), and ZIP64 end records always (torch writes them too). Reference: PKWARE's APPNOTE.TXT 6.3.
//
// Written without a zip library: the ones on npm (yazl, archiver) stream asynchronously and cannot pad entries to
// an alignment, and this layout is about a hundred lines. Entries or offsets past 4 GiB get ZIP64 extra fields.
import { crc32 } from './zip_read.js';

export interface ZipInput {
  name: string;
  data: Uint8Array;
}

const ALIGN = 64;
const U32_MAX = 0xffffffff;
const DOS_DATE_1980_01_01 = 0x21;

interface Placed {
  name: Buffer;
  crc: number;
  size: number;
  offset: number;
  zip64: boolean;
}

/**
 * The archive as a list of chunks (headers and the entries' own buffers, not copied). `forceZip64` writes ZIP64
 * extra fields on every entry (tests: the path files past 4 GiB take).
 */
export function zipStored(entries: readonly ZipInput[], forceZip64 = false): Uint8Array[] {
  const out: Uint8Array[] = [];
  const placed: Placed[] = [];
  let pos = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const size = e.data.byteLength;
    const zip64 = forceZip64 || size >= U32_MAX || pos >= U32_MAX;
    const z64Len = zip64 ? 4 + 16 : 0;
    // the 'FB' padding field brings the data to the next multiple of ALIGN
    const unpadded = pos + 30 + name.byteLength + z64Len + 4;
    const pad = (ALIGN - (unpadded % ALIGN)) % ALIGN;
    const head = Buffer.alloc(30 + name.byteLength + z64Len + 4 + pad, 'Z'.charCodeAt(0));
    const crc = crc32(e.data);
    head.writeUInt32LE(0x04034b50, 0);
    head.writeUInt16LE(zip64 ? 45 : 20, 4);
    head.writeUInt16LE(0, 6); // flags
    head.writeUInt16LE(0, 8); // stored
    head.writeUInt16LE(0, 10); // time
    head.writeUInt16LE(DOS_DATE_1980_01_01, 12);
    head.writeUInt32LE(crc, 14);
    head.writeUInt32LE(zip64 ? U32_MAX : size, 18);
    head.writeUInt32LE(zip64 ? U32_MAX : size, 22);
    head.writeUInt16LE(name.byteLength, 26);
    head.writeUInt16LE(z64Len + 4 + pad, 28);
    name.copy(head, 30);
    let at = 30 + name.byteLength;
    if (zip64) {
      head.writeUInt16LE(1, at);
      head.writeUInt16LE(16, at + 2);
      head.writeBigUInt64LE(BigInt(size), at + 4);
      head.writeBigUInt64LE(BigInt(size), at + 12);
      at += z64Len;
    }
    head.write('FB', at, 'latin1');
    head.writeUInt16LE(pad, at + 2);
    placed.push({ name, crc, size, offset: pos, zip64: zip64 || pos >= U32_MAX });
    out.push(head, e.data);
    pos += head.byteLength + size;
  }
  const cdStart = pos;
  for (const p of placed) {
    const fields: bigint[] = [];
    if (p.zip64) fields.push(BigInt(p.size), BigInt(p.size), BigInt(p.offset));
    const extra = fields.length ? 4 + 8 * fields.length : 0;
    const h = Buffer.alloc(46 + p.name.byteLength + extra);
    h.writeUInt32LE(0x02014b50, 0);
    h.writeUInt16LE((3 << 8) | 45, 4); // made by: unix, 4.5
    h.writeUInt16LE(p.zip64 ? 45 : 20, 6);
    h.writeUInt16LE(0, 8);
    h.writeUInt16LE(0, 10);
    h.writeUInt16LE(0, 12);
    h.writeUInt16LE(DOS_DATE_1980_01_01, 14);
    h.writeUInt32LE(p.crc, 16);
    h.writeUInt32LE(p.zip64 ? U32_MAX : p.size, 20);
    h.writeUInt32LE(p.zip64 ? U32_MAX : p.size, 24);
    h.writeUInt16LE(p.name.byteLength, 28);
    h.writeUInt16LE(extra, 30);
    h.writeUInt32LE(0o100644 * 0x10000, 38); // external attributes: a regular file, rw-r--r--
    h.writeUInt32LE(p.zip64 ? U32_MAX : p.offset, 42);
    p.name.copy(h, 46);
    if (extra) {
      h.writeUInt16LE(1, 46 + p.name.byteLength);
      h.writeUInt16LE(8 * fields.length, 48 + p.name.byteLength);
      fields.forEach((f, i) => h.writeBigUInt64LE(f, 50 + p.name.byteLength + 8 * i));
    }
    out.push(h);
    pos += h.byteLength;
  }
  const cdSize = pos - cdStart;
  const tail = Buffer.alloc(56 + 20 + 22);
  // ZIP64 end of central directory record
  tail.writeUInt32LE(0x06064b50, 0);
  tail.writeBigUInt64LE(44n, 4);
  tail.writeUInt16LE((3 << 8) | 45, 12);
  tail.writeUInt16LE(45, 14);
  tail.writeBigUInt64LE(BigInt(placed.length), 24);
  tail.writeBigUInt64LE(BigInt(placed.length), 32);
  tail.writeBigUInt64LE(BigInt(cdSize), 40);
  tail.writeBigUInt64LE(BigInt(cdStart), 48);
  // its locator
  tail.writeUInt32LE(0x07064b50, 56);
  tail.writeBigUInt64LE(BigInt(pos), 64);
  tail.writeUInt32LE(1, 72);
  // end of central directory record, saturated where ZIP64 holds the value
  tail.writeUInt32LE(0x06054b50, 76);
  tail.writeUInt16LE(Math.min(placed.length, 0xffff), 84);
  tail.writeUInt16LE(Math.min(placed.length, 0xffff), 86);
  tail.writeUInt32LE(Math.min(cdSize, U32_MAX), 88);
  tail.writeUInt32LE(Math.min(cdStart, U32_MAX), 92);
  out.push(tail);
  return out;
}
