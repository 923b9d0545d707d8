// A minimal TensorBoard event-file writer (scalars only), so training curves open in TensorBoard without Python.
// Format: TFRecord framing (u64 length, masked CRC32C of the length, payload, masked CRC32C of the payload) around
// `tensorflow.Event` protobufs, hand-encoded: wall_time=1 (double), step=2 (int64), file_version=3 (string),
// summary=5 { value=1 { tag=1 (string), simple_value=2 (float) } }.
import { openSync, writeSync, fsyncSync, closeSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli), as TFRecord uses. */
export function crc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = (CRC_TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function maskedCrc(data: Uint8Array): number {
  const c = crc32c(data);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

class ProtoWriter {
  private parts: number[] = [];

  varint(v: bigint | number): this {
    let x = BigInt(v);
    if (x < 0n) x += 1n << 64n;
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x > 0n) b |= 0x80;
      this.parts.push(b);
    } while (x > 0n);
    return this;
  }

  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }

  double(field: number, v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.tag(field, 1).parts.push(...b);
    return this;
  }

  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.tag(field, 5).parts.push(...b);
    return this;
  }

  bytes(field: number, v: Uint8Array): this {
    this.tag(field, 2)
      .varint(v.length)
      .parts.push(...v);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  int64(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export function encodeScalarEvent(tag: string, value: number, step: number, wallTime: number): Uint8Array {
  const val = new ProtoWriter().string(1, tag).float(2, value).finish();
  const summary = new ProtoWriter().bytes(1, val).finish();
  return new ProtoWriter().double(1, wallTime).int64(2, step).bytes(5, summary).finish();
}

export function frameRecord(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + payload.length + 4);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(payload.length), true);
  dv.setUint32(8, maskedCrc(out.subarray(0, 8)), true);
  out.set(payload, 12);
  dv.setUint32(12 + payload.length, maskedCrc(payload), true);
  return out;
}

/** Appends scalar events to `events.out.tfevents.<time>.<host>` in a run directory. */
export class EventWriter {
  readonly path: string;
  #fd: number;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, `events.out.tfevents.${Math.floor(Date.now() / 1000)}.${hostname()}`);
    this.#fd = openSync(this.path, 'a');
    const header = new ProtoWriter()
      .double(1, Date.now() / 1000)
      .string(3, 'brain.Event:2')
      .finish();
    writeSync(this.#fd, frameRecord(header));
  }

  scalar(tag: string, value: number, step: number): void {
    if (!Number.isFinite(value)) return; // TensorBoard cannot plot NaN/inf; the CSV/JSONL logs still have them
    writeSync(this.#fd, frameRecord(encodeScalarEvent(tag, value, step, Date.now() / 1000)));
  }

  flush(): void {
    fsyncSync(this.#fd);
  }

  close(): void {
    if (this.#fd >= 0) {
      fsyncSync(this.#fd);
      closeSync(this.#fd);
      this.#fd = -1;
    }
  }
}
