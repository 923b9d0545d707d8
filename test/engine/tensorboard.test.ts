import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventWriter, crc32c, maskedCrc, encodeScalarEvent } from '../../src/engine/tensorboard.js';

test('crc32c matches the standard check value', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
});

test('scalar event protobuf bytes are as encoded by hand', () => {
  const ev = encodeScalarEvent('a', 1, 3, 0);
  // wall_time=0.0 (field 1, wire 1), step=3 (field 2, varint), summary (field 5, len 10): value (field 1, len 8):
  // tag "a" (0a 01 61), simple_value 1.0f (15 00 00 80 3f)
  assert.deepEqual(
    [...ev],
    [0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 3, 0x2a, 10, 0x0a, 8, 0x0a, 1, 0x61, 0x15, 0, 0, 0x80, 0x3f],
  );
});

test('EventWriter writes framed records that parse back with valid CRCs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-tb-'));
  const w = new EventWriter(dir);
  w.scalar('train/loss', 0.5, 1);
  w.scalar('train/loss', 0.25, 2);
  w.scalar('bad', Number.NaN, 3);
  w.close();
  const buf = readFileSync(w.path);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  const records: Uint8Array[] = [];
  while (off < buf.length) {
    const len = Number(dv.getBigUint64(off, true));
    assert.equal(dv.getUint32(off + 8, true), maskedCrc(buf.subarray(off, off + 8)));
    const payload = buf.subarray(off + 12, off + 12 + len);
    assert.equal(dv.getUint32(off + 12 + len, true), maskedCrc(payload));
    records.push(payload);
    off += 16 + len;
  }
  assert.equal(off, buf.length);
  assert.equal(records.length, 3); // header + two finite scalars
  assert.ok(Buffer.from(records[0]!).includes(Buffer.from('brain.Event:2')));
  const last = records[2]!;
  // simple_value 0.25f is the last 4 bytes
  assert.equal(new DataView(last.buffer, last.byteOffset + last.length - 4, 4).getFloat32(0, true), 0.25);
});
