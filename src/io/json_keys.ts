// Duplicate keys in JSON objects. JSON.parse keeps the last of two equal keys without a word, so a file whose
// header names a tensor twice would load silently with one of them dropped; formats that must reject that
// scan the text once more with this.

export interface DuplicateKey {
  /** keys of the enclosing objects, outermost first ('[]' for an array element) */
  path: string[];
  /** the repeated key, decoded (so "a" and "\u0061" count as the same key) */
  key: string;
}

interface Frame {
  /** keys seen so far; null for an array */
  keys: Set<string> | null;
  /** true right after '{' or ',' in an object: the next string is a key */
  expectKey: boolean;
  lastKey: string;
  name: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The first key that occurs twice in one object of `text`, or null. `text` must already be valid JSON
 * (check with JSON.parse first): the scan only tracks strings and brackets.
 */
export function findDuplicateKey(text: string): DuplicateKey | null {
  const stack: Frame[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let j = i + 1;
      while (j < n && text.charCodeAt(j) !== QUOTE) j += text.charCodeAt(j) === BACKSLASH ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top !== undefined && top.keys !== null && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { path: stack.slice(1).map((f) => f.name), key };
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const parent = stack[stack.length - 1];
      const name = parent === undefined ? '' : parent.keys === null ? '[]' : parent.lastKey;
      stack.push({ keys: c === 0x7b ? new Set() : null, expectKey: true, lastKey: '', name });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top !== undefined) top.expectKey = true;
    }
    i++;
  }
  return null;
}
