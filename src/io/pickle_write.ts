// Writing Python pickles, protocol 2 (PEP 307), as torch.save does: the few opcodes a state dict and plain metadata
// need. Reference: CPython's Lib/pickle.py (_Pickler) and Lib/pickletools.py. Globals are memoized (BINPUT on first
// use, BINGET after); other values are written in full.

export class PickleWriter {
  private buf = new Uint8Array(1 << 12);
  private len = 0;
  private readonly globals = new Map<string, number>();
  private memoNext = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.byteLength) return;
    const next = new Uint8Array(Math.max(this.buf.byteLength * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  private byte(...bs: number[]): this {
    this.room(bs.length);
    for (const b of bs) this.buf[this.len++] = b;
    return this;
  }
  private u32(n: number): this {
    this.room(4);
    new DataView(this.buf.buffer).setUint32(this.len, n, true);
    this.len += 4;
    return this;
  }
  private raw(b: Uint8Array): this {
    this.room(b.byteLength);
    this.buf.set(b, this.len);
    this.len += b.byteLength;
    return this;
  }

  proto(): this {
    return this.byte(0x80, 2);
  }
  stop(): Uint8Array {
    this.byte(0x2e);
    return this.buf.slice(0, this.len);
  }
  mark(): this {
    return this.byte(0x28);
  }
  none(): this {
    return this.byte(0x4e);
  }
  bool(b: boolean): this {
    return this.byte(b ? 0x88 : 0x89);
  }
  int(n: number | bigint): this {
    if (typeof n === 'number' && !Number.isSafeInteger(n)) throw new Error(`pickle: ${n} is not an integer`);
    const x = BigInt(n);
    if (x >= 0n && x < 256n) return this.byte(0x4b, Number(x));
    if (x >= 0n && x < 65536n) return this.byte(0x4d, Number(x) & 0xff, Number(x) >> 8);
    if (x >= -(2n ** 31n) && x < 2n ** 31n) {
      this.byte(0x4a);
      this.room(4);
      new DataView(this.buf.buffer).setInt32(this.len, Number(x), true);
      this.len += 4;
      return this;
    }
    // LONG1: little-endian two's complement, as few bytes as hold the sign
    const bytes: number[] = [];
    let v = x;
    for (;;) {
      const b = Number(v & 0xffn);
      bytes.push(b);
      v >>= 8n;
      if ((v === 0n && (b & 0x80) === 0) || (v === -1n && (b & 0x80) !== 0)) break;
    }
    return this.byte(0x8a, bytes.length, ...bytes);
  }
  float(x: number): this {
    this.byte(0x47);
    this.room(8);
    new DataView(this.buf.buffer).setFloat64(this.len, x, false);
    this.len += 8;
    return this;
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    return this.byte(0x58).u32(b.byteLength).raw(b);
  }
  /** `module.name` (GLOBAL), memoized. */
  global(module: string, name: string): this {
    const key = `${module}\n${name}\n`;
    const at = this.globals.get(key);
    if (at !== undefined) return at < 256 ? this.byte(0x68, at) : this.byte(0x6a).u32(at);
    this.byte(0x63).raw(Buffer.from(key, 'utf8'));
    const i = this.memoNext++;
    this.globals.set(key, i);
    return i < 256 ? this.byte(0x71, i) : this.byte(0x72).u32(i);
  }
  /** TUPLE of the items pushed since the last mark() (EMPTY_TUPLE / TUPLE1-3 for short ones are not needed). */
  tuple(): this {
    return this.byte(0x74);
  }
  emptyTuple(): this {
    return this.byte(0x29);
  }
  emptyList(): this {
    return this.byte(0x5d);
  }
  appends(): this {
    return this.byte(0x65);
  }
  emptyDict(): this {
    return this.byte(0x7d);
  }
  setitems(): this {
    return this.byte(0x75);
  }
  reduce(): this {
    return this.byte(0x52);
  }
  binpersid(): this {
    return this.byte(0x51);
  }
}
