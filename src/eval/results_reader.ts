// A streaming reader of COCO results files, `[{"image_id": .., "category_id": .., "bbox": [x, y, w, h],
// "score": ..}, ...]`: the file is read in chunks and tokenised byte by byte, so its size is not bounded by the
// longest string V8 can make (0x1fffffe8 characters, about 512 MiB, which a file of ~7 million detections passes)
// and no object is built per detection. Each entry's four fields are handed to a callback; other keys (any JSON)
// are checked and skipped, keys may come in any order, and a repeated key keeps its last value (as JSON.parse).
//
// Hand-written rather than an npm streaming parser: those are asynchronous (ladet eval reads synchronously) and build
// a JS object per entry, several times slower on tens of millions of small entries; this one is a strict JSON
// tokeniser (RFC 8259) for one fixed shape. Numbers are converted exactly as JSON.parse does: integers and decimals
// of at most 15 significant digits and a power of ten within ±22 by one correctly rounded IEEE multiplication or
// division (Clinger's fast path), every other number by Number() of its text.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** What a field held when it was not a scalar: named in messages ("got an array"), never a number. */
export class SkippedValue {
  constructor(readonly kind: 'an array' | 'an object') {}
  toString(): string {
    return this.kind;
  }
}

/** A scalar JSON value, or a SkippedValue for an array or object. */
export type ResultValue = number | string | boolean | null | SkippedValue;

/** Slots of ResultEntry's columns: the four fields, bbox's four numbers. */
export const enum Field {
  ImageId = 0,
  CategoryId = 1,
  Score = 2,
  X = 3,
  Y = 4,
  W = 5,
  H = 6,
}

/** What a slot of a ResultEntry holds. */
export const enum Held {
  Missing = 0,
  Number = 1,
  /** another JSON value, in `other` */
  Other = 2,
}

/**
 * The fields of one entry, reused from entry to entry. Numbers sit in a Float64Array (tens of millions of them,
 * never boxed); anything else (a string, true, null, an array: a mistake to report) in `other`.
 */
export interface ResultEntry {
  /** per Field: Held.* */
  held: Uint8Array;
  /** per Field: the number when held is Held.Number */
  num: Float64Array;
  /** per Field: the value when held is Held.Other */
  other: ResultValue[];
  /** bbox: Held.Missing, Held.Other (not an array: in other[Field.X]), or Held.Number for an array */
  bbox: Held;
  /** when bbox is an array: its length (its first four values fill X, Y, W, H) */
  bboxLength: number;
}

/** An error in the file's JSON (not in a field's value): names the file, the place and the entry. */
export class ResultsSyntaxError extends Error {
  override name = 'ResultsSyntaxError';
}

const MIN_CHUNK = 16;
/** Bytes of the shortest valid entry `{"image_id":1,"category_id":1,"bbox":[0,0,0,0],"score":0}` and its comma. */
export const MIN_ENTRY_BYTES = 58;

const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k); // exact doubles up to 1e22
const KEY_IMAGE_ID = Buffer.from('image_id');
const KEY_CATEGORY_ID = Buffer.from('category_id');
const KEY_BBOX = Buffer.from('bbox');
const KEY_SCORE = Buffer.from('score');
const enum Key {
  ImageId,
  CategoryId,
  Bbox,
  Score,
  Other,
}
const BBOX_FIELDS = ['bbox[0]', 'bbox[1]', 'bbox[2]', 'bbox[3]'];
const ARRAY = new SkippedValue('an array');
const OBJECT = new SkippedValue('an object');

/**
 * Reads `path` entry by entry, calling `onEntry(index, entry, bytesRead)` after each complete entry. Throws a
 * ResultsSyntaxError naming the file, line, column and entry for malformed JSON (or a top level that is not an
 * array); errors thrown by onEntry pass through. `chunkBytes` (default 1 MiB) is how much is read at a time; a token
 * longer than that is kept whole by growing the buffer.
 */
export function readResultsFile(
  path: string,
  onEntry: (index: number, entry: ResultEntry, bytesRead: number) => void,
  chunkBytes = 1 << 20,
): number {
  const fd = openSync(path, 'r');
  try {
    return new Parser(path, fd, Math.max(MIN_CHUNK, chunkBytes), onEntry).run();
  } finally {
    closeSync(fd);
  }
}

/** Size of the file in bytes (for sizing the columns before reading). */
export function fileBytes(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

class Parser {
  private buf: Buffer;
  private pos = 0;
  private end = 0;
  /** file offset of buf[0] */
  private base = 0;
  /** start of a token that must stay in the buffer while it is scanned (-1: none) */
  private mark = -1;
  private eof = false;
  private entry = -1;
  private field = '';
  private readonly e: ResultEntry = {
    held: new Uint8Array(7),
    num: new Float64Array(7),
    other: [null, null, null, null, null, null, null],
    bbox: Held.Missing,
    bboxLength: 0,
  };

  constructor(
    private readonly path: string,
    private readonly fd: number,
    private readonly chunk: number,
    private readonly onEntry: (index: number, entry: ResultEntry, bytesRead: number) => void,
  ) {
    this.buf = Buffer.allocUnsafe(chunk);
  }

  run(): number {
    let c = this.ws();
    if (c === -1) this.syntax('the file is empty; expected a JSON array of detections');
    if (c !== 0x5b) {
      this.skipValue(); // a syntax error in it is reported as such
      throw new Error(`${this.path}: expected a JSON array of detections {image_id, category_id, bbox, score}`);
    }
    this.pos++;
    let n = 0;
    c = this.ws();
    if (c === 0x5d) this.pos++;
    else {
      for (;;) {
        this.entry = n;
        this.readEntry();
        this.onEntry(n, this.e, this.base + this.pos);
        n++;
        c = this.ws();
        if (c === 0x2c) {
          this.pos++;
          continue;
        }
        if (c === 0x5d) {
          this.pos++;
          break;
        }
        this.entry = -1;
        this.syntax(`expected ',' or ']' after detection [${n - 1}]`, c);
      }
    }
    this.entry = -1;
    c = this.ws();
    if (c !== -1) this.syntax('unexpected data after the array of detections', c);
    return n;
  }

  // --- bytes ----------------------------------------------------------------------------------------------------

  /** Makes at least one more byte available at `end`; false at the end of the file. */
  private fill(): boolean {
    if (this.eof) return false;
    const keep = this.mark >= 0 ? this.mark : this.pos;
    if (keep > 0) {
      this.buf.copyWithin(0, keep, this.end);
      this.base += keep;
      this.pos -= keep;
      this.end -= keep;
      if (this.mark >= 0) this.mark -= keep;
    }
    if (this.end === this.buf.length) {
      const bigger = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.end);
      this.buf = bigger;
    }
    const n = readSync(this.fd, this.buf, this.end, Math.min(this.chunk, this.buf.length - this.end), null);
    if (n === 0) {
      this.eof = true;
      return false;
    }
    this.end += n;
    return true;
  }

  /** The byte at pos, or -1 at the end of the file. */
  private peek(): number {
    if (this.pos < this.end || this.fill()) return this.buf[this.pos]!;
    return -1;
  }

  /** Skips whitespace; returns the next byte (not consumed) or -1. */
  private ws(): number {
    for (;;) {
      const c = this.pos < this.end ? this.buf[this.pos]! : this.peek();
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.pos++;
      else return c;
    }
  }

  private expect(byte: number, what: string): void {
    const c = this.ws();
    if (c !== byte) this.syntax(what, c);
    this.pos++;
  }

  // --- one entry ------------------------------------------------------------------------------------------------

  private readEntry(): void {
    const e = this.e;
    e.held.fill(Held.Missing);
    e.bbox = Held.Missing;
    e.bboxLength = 0;
    this.field = '';
    let c = this.ws();
    if (c !== 0x7b) {
      if (c === -1 || c === 0x5d || c === 0x2c) this.syntax('expected a detection', c);
      throw new Error(`${this.path}: [${this.entry}]: expected an object {image_id, category_id, bbox, score}`);
    }
    this.pos++;
    c = this.ws();
    if (c === 0x7d) {
      this.pos++;
      return;
    }
    for (;;) {
      const key = this.readKey();
      this.expect(0x3a, "expected ':' after the key");
      switch (key) {
        case Key.ImageId:
          this.field = 'image_id';
          this.readScalar(Field.ImageId);
          break;
        case Key.CategoryId:
          this.field = 'category_id';
          this.readScalar(Field.CategoryId);
          break;
        case Key.Score:
          this.field = 'score';
          this.readScalar(Field.Score);
          break;
        case Key.Bbox:
          this.field = 'bbox';
          this.readBbox();
          break;
        default:
          this.field = '';
          this.skipValue();
      }
      this.field = '';
      c = this.ws();
      if (c === 0x2c) {
        this.pos++;
        continue;
      }
      if (c === 0x7d) {
        this.pos++;
        return;
      }
      this.syntax("expected ',' or '}' in the detection", c);
    }
  }

  private readBbox(): void {
    const e = this.e;
    let c = this.ws();
    e.held[Field.X] = e.held[Field.Y] = e.held[Field.W] = e.held[Field.H] = Held.Missing;
    e.bboxLength = 0;
    if (c !== 0x5b) {
      this.readScalar(Field.X);
      e.bbox = Held.Other;
      return;
    }
    this.pos++;
    let n = 0;
    c = this.ws();
    if (c === 0x5d) this.pos++;
    else {
      for (;;) {
        this.field = BBOX_FIELDS[n] ?? `bbox[${n}]`;
        this.readScalar(n < 4 ? Field.X + n : -1);
        n++;
        c = this.ws();
        if (c === 0x2c) {
          this.pos++;
          continue;
        }
        if (c === 0x5d) {
          this.pos++;
          break;
        }
        this.syntax("expected ',' or ']' in bbox", c);
      }
    }
    e.bboxLength = n;
    e.bbox = Held.Number;
  }

  /** The key at pos (a string), matched against the four fields without building a string for them. */
  private readKey(): Key {
    let c = this.ws();
    if (c !== 0x22) this.syntax('expected a key in double quotes', c);
    this.mark = this.pos;
    this.pos++;
    for (;;) {
      c = this.pos < this.end ? this.buf[this.pos]! : this.peek();
      if (c === 0x22 || c === 0x5c || c < 0x20) break;
      this.pos++;
    }
    if (c === 0x22) {
      const start = this.mark + 1;
      const len = this.pos - start;
      this.pos++;
      this.mark = -1;
      const b = this.buf;
      if (len === 8 && same(b, start, KEY_IMAGE_ID)) return Key.ImageId;
      if (len === 11 && same(b, start, KEY_CATEGORY_ID)) return Key.CategoryId;
      if (len === 4 && same(b, start, KEY_BBOX)) return Key.Bbox;
      if (len === 5 && same(b, start, KEY_SCORE)) return Key.Score;
      return Key.Other;
    }
    // escapes (or a bad character): decode the whole string, then compare
    this.pos = this.mark;
    const s = this.readString();
    return s === 'image_id'
      ? Key.ImageId
      : s === 'category_id'
        ? Key.CategoryId
        : s === 'bbox'
          ? Key.Bbox
          : s === 'score'
            ? Key.Score
            : Key.Other;
  }

  // --- values ---------------------------------------------------------------------------------------------------

  /**
   * One value into slot `slot` of the entry (-1: checked and dropped): a number into num, anything else into other
   * (an array or object is checked, skipped and kept as a SkippedValue).
   */
  private readScalar(slot: number): void {
    const c = this.ws();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const v = this.readNumber();
      if (slot >= 0) {
        this.e.num[slot] = v;
        this.e.held[slot] = Held.Number;
      }
      return;
    }
    let v: ResultValue;
    if (c === 0x22) v = this.readString();
    else if (c === 0x7b || c === 0x5b) {
      this.skipValue();
      v = c === 0x7b ? OBJECT : ARRAY;
    } else if (c === 0x74) v = this.literal('true', true);
    else if (c === 0x66) v = this.literal('false', false);
    else if (c === 0x6e) v = this.literal('null', null);
    else if (c === 0x4e || c === 0x49) this.nonFinite(c === 0x4e ? 'NaN' : 'Infinity');
    else this.syntax('expected a value', c);
    if (slot >= 0) {
      this.e.other[slot] = v;
      this.e.held[slot] = Held.Other;
    }
  }

  private literal<T>(word: string, value: T): T {
    for (let k = 0; k < word.length; k++) {
      const c = this.peek();
      if (c !== word.charCodeAt(k)) this.syntax(`expected '${word}'`, c);
      this.pos++;
    }
    return value;
  }

  private nonFinite(token: string): never {
    const where = this.field ? `${this.entryName()}.${this.field}` : this.entryName();
    throw new ResultsSyntaxError(
      `${this.path}: not valid JSON (it contains NaN or Infinity, which JSON cannot hold): ${where} is ${token} ${this.locate(false)}`,
    );
  }

  /** A JSON number, converted exactly as JSON.parse converts it. */
  private readNumber(): number {
    this.mark = this.pos;
    let c = this.peek();
    let negative = false;
    if (c === 0x2d) {
      negative = true;
      this.pos++;
      c = this.peek();
      if (c === 0x49) this.nonFinite('-Infinity');
    }
    let mantissa = 0;
    let digits = 0; // significant digits in mantissa
    let exp10 = 0;
    if (c === 0x30) {
      this.pos++;
      c = this.peek();
      if (c >= 0x30 && c <= 0x39) this.syntax('a number may not start with 0', c);
    } else if (c >= 0x31 && c <= 0x39) {
      while (c >= 0x30 && c <= 0x39) {
        if (digits < 16) {
          mantissa = mantissa * 10 + (c - 0x30);
          digits++;
        } else exp10++;
        this.pos++;
        c = this.pos < this.end ? this.buf[this.pos]! : this.peek();
      }
    } else this.syntax('expected a digit', c);
    if (c === 0x2e) {
      this.pos++;
      c = this.peek();
      if (!(c >= 0x30 && c <= 0x39)) this.syntax("expected a digit after '.'", c);
      while (c >= 0x30 && c <= 0x39) {
        if (digits < 16 && (mantissa > 0 || c !== 0x30)) {
          mantissa = mantissa * 10 + (c - 0x30);
          digits++;
          exp10--;
        } else if (mantissa === 0)
          exp10--; // leading zeros of 0.000x
        else digits = 99; // more digits than the fast path takes
        this.pos++;
        c = this.pos < this.end ? this.buf[this.pos]! : this.peek();
      }
    }
    let expOk = true;
    if (c === 0x65 || c === 0x45) {
      this.pos++;
      c = this.peek();
      let expNeg = false;
      if (c === 0x2b || c === 0x2d) {
        expNeg = c === 0x2d;
        this.pos++;
        c = this.peek();
      }
      if (!(c >= 0x30 && c <= 0x39)) this.syntax('expected a digit in the exponent', c);
      let e = 0;
      while (c >= 0x30 && c <= 0x39) {
        if (e < 1e6) e = e * 10 + (c - 0x30);
        else expOk = false;
        this.pos++;
        c = this.pos < this.end ? this.buf[this.pos]! : this.peek();
      }
      exp10 += expNeg ? -e : e;
    }
    let v: number;
    if (expOk && digits <= 15 && exp10 >= -22 && exp10 <= 22) {
      // Clinger's fast path: the mantissa (< 10^15 < 2^53) and 10^|exp10| are exact doubles, so one IEEE operation
      // rounds correctly, as JSON.parse does
      v = exp10 >= 0 ? mantissa * POW10[exp10]! : mantissa / POW10[-exp10]!;
      if (negative) v = -v;
    } else {
      v = Number(this.buf.toString('latin1', this.mark, this.pos));
    }
    this.mark = -1;
    return v;
  }

  /** A JSON string at pos (opening quote), decoded. */
  private readString(): string {
    this.mark = this.pos;
    this.pos++;
    let plain = true;
    for (;;) {
      const c = this.pos < this.end ? this.buf[this.pos]! : this.peek();
      if (c === -1) this.syntax('unterminated string', c);
      if (c === 0x22) break;
      if (c < 0x20) this.syntax('a control character in a string', c);
      if (c === 0x5c) {
        plain = false;
        this.pos++;
        const d = this.peek();
        if (d === -1) this.syntax('unterminated string', d);
      } else if (c >= 0x80) plain = false;
      this.pos++;
    }
    this.pos++;
    const start = this.mark;
    this.mark = -1;
    if (plain) return this.buf.toString('latin1', start + 1, this.pos - 1);
    try {
      return JSON.parse(this.buf.toString('utf8', start, this.pos)) as string;
    } catch (e) {
      this.pos = start;
      return this.syntax(`a bad string (${(e as Error).message})`);
    }
  }

  /** Checks and skips one JSON value of any kind (iteratively: nesting depth is not limited by the stack). */
  private skipValue(): void {
    const stack: number[] = []; // 0x7b or 0x5b per open container
    for (;;) {
      // a value is expected here
      let c = this.ws();
      if (c === 0x7b || c === 0x5b) {
        this.pos++;
        const close = c === 0x7b ? 0x7d : 0x5d;
        const d = this.ws();
        if (d === close) this.pos++;
        else {
          stack.push(c);
          if (c === 0x7b) {
            if (d !== 0x22) this.syntax('expected a key in double quotes', d);
            this.readString();
            this.expect(0x3a, "expected ':' after the key");
          }
          continue;
        }
      } else if (c === 0x22) this.readString();
      else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) this.readNumber();
      else if (c === 0x74) this.literal('true', true);
      else if (c === 0x66) this.literal('false', false);
      else if (c === 0x6e) this.literal('null', null);
      else if (c === 0x4e || c === 0x49) this.nonFinite(c === 0x4e ? 'NaN' : 'Infinity');
      else this.syntax('expected a value', c);
      // after a value: close containers or go to the next element
      for (;;) {
        if (stack.length === 0) return;
        const top = stack[stack.length - 1]!;
        c = this.ws();
        if (c === 0x2c) {
          this.pos++;
          if (top === 0x7b) {
            const d = this.ws();
            if (d !== 0x22) this.syntax('expected a key in double quotes', d);
            this.readString();
            this.expect(0x3a, "expected ':' after the key");
          }
          break;
        }
        if ((top === 0x7b && c === 0x7d) || (top === 0x5b && c === 0x5d)) {
          this.pos++;
          stack.pop();
          continue;
        }
        this.syntax(top === 0x7b ? "expected ',' or '}'" : "expected ',' or ']'", c);
      }
    }
  }

  // --- errors ---------------------------------------------------------------------------------------------------

  private entryName(): string {
    return this.entry >= 0 ? `[${this.entry}]` : '(top level)';
  }

  /** `at line L, column C (in detection [i])`, from the file offset of pos (read again from the start: errors only). */
  private locate(inEntry = true): string {
    const offset = this.base + this.pos;
    let line = 1;
    let lineStart = 0;
    const chunk = Buffer.allocUnsafe(1 << 16);
    for (let at = 0; at < offset;) {
      const n = readSync(this.fd, chunk, 0, Math.min(chunk.length, offset - at), at);
      if (n === 0) break;
      for (let k = 0; k < n; k++) {
        if (chunk[k] === 0x0a) {
          line++;
          lineStart = at + k + 1;
        }
      }
      at += n;
    }
    const where =
      inEntry && this.entry >= 0 ? ` (in detection ${this.entryName()}${this.field ? `, ${this.field}` : ''})` : '';
    return `at line ${line}, column ${offset - lineStart + 1}${where}`;
  }

  private syntax(what: string, c?: number): never {
    const got = c === undefined ? '' : c === -1 ? ' (got the end of the file)' : ` (got ${describeByte(c)})`;
    throw new ResultsSyntaxError(`${this.path}: not valid JSON ${this.locate()}: ${what}${got}`);
  }
}

/** buf[at .. at + key.length) equals key (a plain loop: Buffer.compare's range checks cost more on 8 bytes). */
function same(buf: Uint8Array, at: number, key: Uint8Array): boolean {
  for (let k = 0; k < key.length; k++) if (buf[at + k] !== key[k]) return false;
  return true;
}

function describeByte(c: number): string {
  if (c >= 0x21 && c < 0x7f) return `'${String.fromCharCode(c)}'`;
  return `byte 0x${c.toString(16).padStart(2, '0')}`;
}
