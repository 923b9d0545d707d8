// JSON reading for user-supplied files: errors carry the file name and a line:column, and the NaN / Infinity
// tokens that Python's json module writes (not valid JSON) are read as marker strings, so a validator can name the
// exact entry that holds them instead of failing on the whole file. A file too large for one string (Node's limit is
// about 512 MiB: LVIS- or Objects365-size annotation files) is parsed as a byte stream by @streamparser/json.
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { JSONParser } from '@streamparser/json';

/** What a bare NaN / Infinity / -Infinity token becomes after `parseJsonFile`. */
export const NON_FINITE_MARKER = '\u0000non-finite:';

/** The marked token ('NaN', 'Infinity', '-Infinity') if `v` is a marker, else null. */
export function nonFiniteToken(v: unknown): string | null {
  return typeof v === 'string' && v.startsWith(NON_FINITE_MARKER) ? v.slice(NON_FINITE_MARKER.length) : null;
}

/** A short description of a JSON value for error messages: 1.5, 'abc', NaN, an array, null. */
export function describeValue(v: unknown): string {
  const tok = nonFiniteToken(v);
  if (tok !== null) return tok;
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return 'an object';
}

export class JsonFileError extends Error {
  override name = 'JsonFileError';
}

/** Parses `text` (the content of `file`); throws JsonFileError `file: invalid JSON at line L, column C: why`. */
export function parseJsonFile(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    if (/NaN|Infinity/.test(text)) {
      const marked = markNonFinite(text);
      if (marked !== text) {
        try {
          return JSON.parse(marked) as unknown;
        } catch {
          // fall through: report the original error, which points at the real problem
        }
      }
    }
    throw new JsonFileError(`${file}: invalid JSON${where(text, (e as Error).message)}: ${(e as Error).message}`);
  }
}

function where(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  const pos = m ? Number(m[1]) : firstSyntaxError(text);
  if (pos === null) return '';
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return ` at line ${line}, column ${pos - lineStart + 1}`;
}

/** Replaces NaN / Infinity / -Infinity tokens outside strings with marker strings. */
function markNonFinite(text: string): string {
  const out: string[] = [];
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) {
      inString = true;
      continue;
    }
    for (const tok of ['NaN', 'Infinity', '-Infinity']) {
      if (text.startsWith(tok, i) && !/[\w$]/.test(text[i + tok.length] ?? '')) {
        out.push(text.slice(last, i), JSON.stringify(NON_FINITE_MARKER + tok));
        i += tok.length - 1;
        last = i + 1;
        break;
      }
    }
  }
  out.push(text.slice(last));
  return out.join('');
}

/**
 * Offset of the first JSON syntax error in `text` (V8 does not always say where), or null if none is found.
 * A plain recursive-descent scan that builds nothing.
 */
export function firstSyntaxError(text: string): number | null {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const literal = (word: string): void => {
    if (!text.startsWith(word, i)) fail();
    i += word.length;
  };
  const string = (): void => {
    i++; // opening quote
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return;
      }
      if (c < 32) fail();
      if (c === 92) {
        const e = text[i + 1] ?? '';
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
            i++;
            fail();
          }
          i += 6;
        } else if ('"\\/bfnrt'.includes(e) && e !== '') i += 2;
        else {
          i++;
          fail();
        }
      } else i++;
    }
    fail();
  };
  const number = (): void => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === '-') fail();
    i += (m as RegExpExecArray)[0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else fail();
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else fail();
      }
    } else if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) number();
    else fail();
  };
  try {
    value();
    ws();
    return i < text.length ? i : null;
  } catch (e) {
    return typeof e === 'number' ? e : null;
  }
}

/** Files from this size on are parsed as a byte stream (below it: one string and JSON.parse, which is faster). */
export const JSON_STREAM_BYTES = 256 * 1024 * 1024;

/**
 * Reads and parses a JSON file (see parseJsonFile). `streamFrom` (bytes) and `chunkBytes` are for tests: files of
 * `streamFrom` bytes or more go through the streaming parser, `chunkBytes` at a time; there, NaN / Infinity are
 * errors (at their byte offset) rather than markers.
 */
export function readJsonFile(file: string, opts: { streamFrom?: number; chunkBytes?: number } = {}): unknown {
  const size = statSync(file).size;
  if (size < (opts.streamFrom ?? JSON_STREAM_BYTES)) {
    return parseJsonFile(readFileSync(file, 'utf8'), file);
  }
  return parseJsonStream(file, opts.chunkBytes ?? 16 * 1024 * 1024);
}

function parseJsonStream(file: string, chunkBytes: number): unknown {
  const parser = new JSONParser({ paths: ['$'], keepStack: false });
  let root: { value: unknown } | null = null;
  let failure: Error | null = null;
  parser.onValue = ({ value }) => void (root = { value });
  parser.onError = (e) => void (failure ??= e);
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(chunkBytes);
  // where the parser was: the bytes of the chunk it was reading, or the end of the file
  let where = '';
  let offset = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, chunkBytes, offset);
      if (n === 0) break;
      where = ` in bytes ${offset}-${offset + n - 1}`;
      // the tokenizer keeps what it needs of a chunk (a token or a UTF-8 sequence cut at its end), so reuse buf
      parser.write(buf.subarray(0, n));
      if (failure) break;
      offset += n;
    }
    if (!failure) {
      where = ` at the end (byte ${offset})`;
      if (!parser.isEnded) parser.end();
    }
  } catch (e) {
    failure ??= e as Error;
  } finally {
    closeSync(fd);
  }
  if (failure !== null) {
    const message = (failure as Error).message;
    // the tokenizer names the byte; the parser only its state
    const at = /absolute position "(\d+)"/.exec(message);
    throw new JsonFileError(`${file}: invalid JSON${at ? ` at byte ${at[1]}` : where}: ${message}`);
  }
  if (root === null) throw new JsonFileError(`${file}: invalid JSON: no value (an empty or truncated file)`);
  return (root as { value: unknown }).value;
}
