// JSON reading for user-supplied files: errors carry the file name and a line:column, and the NaN / Infinity
// tokens that Python's json module writes (not valid JSON) are read as marker strings, so a validator can name the
// exact entry that holds them instead of failing on the whole file.

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
  if (!m) return '';
  const pos = Number(m[1]);
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
