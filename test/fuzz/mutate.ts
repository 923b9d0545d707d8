// Structured mutations for the fuzz suite: a valid base value (JSON-like tree) gets a few targeted corruptions
// (wrong types, missing or unknown fields, huge / negative / non-finite numbers, NaN strings, deep nesting, long
// strings, subtrees moved to the wrong place), is serialized (JSON or YAML), and the text may then be corrupted at
// the byte level (truncation, inserted tokens, random bytes, a BOM, a duplicated span). Every mutation is plain data,
// so fast-check can shrink a failing case to the one corruption that matters.
import fc from 'fast-check';
import { stringify as stringifyYaml } from 'yaml';

/** A value written verbatim into the serialized text: tokens JSON.stringify cannot produce (NaN, 1e400, deep nesting). */
export class Raw {
  constructor(
    readonly json: string,
    readonly yaml: string,
    readonly label: string,
  ) {}

  /** fast-check prints counterexamples with this (not the possibly megabyte-long text) */
  [fc.toStringMethod](): string {
    return `Raw(${this.label})`;
  }
}

export type Tree = null | boolean | number | string | Raw | Tree[] | { [key: string]: Tree };

const isObject = (v: Tree): v is { [key: string]: Tree } =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Raw);

// ---- values that break things --------------------------------------------------------------------------------

function deep(depth: number, kind: 'array' | 'object'): Raw {
  if (kind === 'array')
    return new Raw(
      `${'['.repeat(depth)}${']'.repeat(depth)}`,
      `${'['.repeat(depth)}${']'.repeat(depth)}`,
      `[…${depth} deep]`,
    );
  return new Raw(
    `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
    `${'{a: '.repeat(depth)}1${'}'.repeat(depth)}`,
    `{a:…${depth} deep}`,
  );
}

const rawTokens: Raw[] = [
  new Raw('NaN', '.nan', 'NaN'),
  new Raw('Infinity', '.inf', 'Infinity'),
  new Raw('-Infinity', '-.inf', '-Infinity'),
  new Raw('1e400', '1e400', '1e400'),
  new Raw('-1e400', '-1e400', '-1e400'),
  new Raw('1e-400', '1e-400', '1e-400'),
  new Raw('-0', '-0', '-0'),
  new Raw('123456789012345678901234567890', '123456789012345678901234567890', 'long integer'),
  new Raw('0.30000000000000004', '0x1F', 'hex (YAML) / float'),
  new Raw('"\\ud800"', '"\\ud800"', 'lone surrogate'),
  new Raw('"\\u0000"', '"\\0"', 'NUL string'),
  new Raw('[NaN, 1]', '[.nan, 1]', 'array with NaN'),
  new Raw('{"__proto__": {"polluted": 1}}', '{__proto__: {polluted: 1}}', '__proto__ object'),
  new Raw('"x"', '!!binary aGVsbG8=', 'binary tag'),
  new Raw('"x"', '!!set {a, b}', 'set tag'),
  new Raw('"x"', '!!js/function "f() {}"', 'unknown tag'),
  new Raw('"x"', '*nowhere', 'undefined alias'),
  new Raw('"x"', '!!int "seven"', 'bad int tag'),
  new Raw('"x"', '!!float "x"', 'bad float tag'),
  new Raw('"2001-12-14t21:59:43.10-05:00"', '2001-12-14t21:59:43.10-05:00', 'timestamp'),
];

const strangeStrings = [
  '',
  'NaN',
  'Infinity',
  '-Infinity',
  'nan',
  'inf',
  '1',
  '-1',
  '1e400',
  '0x10',
  'null',
  'true',
  '~',
  '..',
  '../../x.json',
  '/abs/path.json',
  'C:\\x.json',
  'a\u0000b',
  '__proto__',
  'constructor',
  'prototype',
  '\u202eevil',
  '💥',
  ' ',
  '\t',
  '\n',
  '"',
  "'",
  '\\',
  '{',
  '[',
  'a.b',
  'x'.repeat(300),
];

const strangeNumbers = [
  0,
  -0,
  -1,
  1,
  0.5,
  -0.5,
  2,
  3,
  4,
  1e-7,
  2 ** 31,
  -(2 ** 31),
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  1e15,
  1e21,
  1e308,
  -1e308,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  Number.EPSILON,
];

/** Scalars and small trees of the wrong kind. */
export const hostileScalar: fc.Arbitrary<Tree> = fc.oneof(
  fc.constantFrom<Tree>(null, true, false),
  fc.constantFrom(...strangeNumbers),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(...strangeStrings),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom(...rawTokens),
);

/** Anything, including big and deep values. */
export const hostileValue: fc.Arbitrary<Tree> = fc.oneof(
  { arbitrary: hostileScalar, weight: 8 },
  { arbitrary: fc.array(hostileScalar, { maxLength: 6 }), weight: 2 },
  {
    arbitrary: fc.dictionary(fc.constantFrom('id', 'a', 'x', 'name', '__proto__', 'bbox', ''), hostileScalar, {
      maxKeys: 3,
    }),
    weight: 2,
  },
  {
    arbitrary: fc
      .tuple(fc.integer({ min: 2, max: 20000 }), fc.constantFrom<'array' | 'object'>('array', 'object'))
      .map(([d, k]) => deep(d, k)),
    weight: 1,
  },
  { arbitrary: fc.integer({ min: 1000, max: 200_000 }).map((n) => 'x'.repeat(n)), weight: 1 },
  { arbitrary: fc.integer({ min: 100, max: 20_000 }).map((n) => new Array<Tree>(n).fill(0)), weight: 1 },
);

// ---- tree mutations --------------------------------------------------------------------------------------------

export type TreeMutation =
  | { kind: 'replace'; at: number; value: Tree }
  | { kind: 'delete'; at: number }
  | { kind: 'add'; at: number; key: string; value: Tree }
  | { kind: 'duplicate'; at: number }
  | { kind: 'move'; at: number; from: number }
  | { kind: 'number'; at: number; how: 'negate' | 'zero' | 'huge' | 'fraction' | 'string' | 'nan' | 'inf' | 'plus-one' }
  | { kind: 'string'; at: number; how: 'empty' | 'number' | 'long' | 'nul' | 'path' };

export const treeMutation: fc.Arbitrary<TreeMutation> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: hostileValue }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }), weight: 3 },
  {
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      at: fc.nat(),
      key: fc.constantFrom('extra', 'id', '__proto__', 'constructor', '', 'x.y', 'images'),
      value: hostileValue,
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('move' as const), at: fc.nat(), from: fc.nat() }), weight: 2 },
  {
    arbitrary: fc.record({
      kind: fc.constant('number' as const),
      at: fc.nat(),
      how: fc.constantFrom('negate', 'zero', 'huge', 'fraction', 'string', 'nan', 'inf', 'plus-one') as fc.Arbitrary<
        'negate' | 'zero' | 'huge' | 'fraction' | 'string' | 'nan' | 'inf' | 'plus-one'
      >,
    }),
    weight: 6,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('string' as const),
      at: fc.nat(),
      how: fc.constantFrom('empty', 'number', 'long', 'nul', 'path') as fc.Arbitrary<
        'empty' | 'number' | 'long' | 'nul' | 'path'
      >,
    }),
    weight: 2,
  },
);

type Path = (string | number)[];

/** Every path of the tree (the root is []), depth first; Raw values are leaves. */
function paths(t: Tree, pre: Path = [], out: Path[] = []): Path[] {
  out.push(pre);
  if (Array.isArray(t)) t.forEach((v, i) => paths(v, [...pre, i], out));
  else if (isObject(t)) for (const k of Object.keys(t)) paths(t[k] as Tree, [...pre, k], out);
  return out;
}

function get(t: Tree, p: Path): Tree {
  let v: Tree = t;
  for (const k of p) v = (v as Record<string | number, Tree>)[k] as Tree;
  return v;
}

/** Sets (or with value undefined deletes) the value at p; returns the new root. */
function set(root: Tree, p: Path, value: Tree | undefined): Tree {
  if (p.length === 0) return value === undefined ? null : value;
  const parent = get(root, p.slice(0, -1));
  const k = p[p.length - 1] as string | number;
  if (Array.isArray(parent)) {
    if (value === undefined) parent.splice(k as number, 1);
    else parent[k as number] = value;
  } else if (isObject(parent)) {
    if (value === undefined) delete parent[k as string];
    // defineProperty: a key '__proto__' stays an own data property, as JSON.parse makes it
    else Object.defineProperty(parent, k as string, { value, enumerable: true, writable: true, configurable: true });
  }
  return root;
}

function clone(t: Tree): Tree {
  if (Array.isArray(t)) return t.map(clone);
  if (isObject(t)) {
    const o: { [key: string]: Tree } = {};
    for (const k of Object.keys(t))
      Object.defineProperty(o, k, { value: clone(t[k] as Tree), enumerable: true, writable: true, configurable: true });
    return o;
  }
  return t;
}

function mutateNumber(v: number, how: string): Tree {
  switch (how) {
    case 'negate':
      return v === 0 ? -1 : -v;
    case 'zero':
      return 0;
    case 'huge':
      return v >= 0 ? 1e300 : -1e300;
    case 'fraction':
      return v + 0.5;
    case 'string':
      return String(v);
    case 'nan':
      return rawTokens[0] as Raw;
    case 'inf':
      return rawTokens[3] as Raw;
    default:
      return v + 1;
  }
}

function mutateString(how: string): Tree {
  switch (how) {
    case 'empty':
      return '';
    case 'number':
      return 7;
    case 'long':
      return 'y'.repeat(100_000);
    case 'nul':
      return 'a\u0000.json';
    default:
      return '../../outside';
  }
}

/** Applies the mutations in order to a copy of `base`. */
export function applyTreeMutations(base: Tree, muts: readonly TreeMutation[]): Tree {
  let t = clone(base);
  for (const m of muts) {
    const all = paths(t);
    const pick = (n: number, filter?: (v: Tree) => boolean): Path | null => {
      const list = filter ? all.filter((p) => filter(get(t, p))) : all;
      return list.length ? (list[n % list.length] as Path) : null;
    };
    switch (m.kind) {
      case 'replace': {
        const p = pick(m.at);
        if (p) t = set(t, p, clone(m.value));
        break;
      }
      case 'delete': {
        const p = pick(m.at, () => true);
        if (p && p.length) t = set(t, p, undefined);
        break;
      }
      case 'add': {
        const p = pick(m.at, (v) => Array.isArray(v) || isObject(v));
        if (!p) break;
        const c = get(t, p);
        if (Array.isArray(c)) c.push(clone(m.value));
        else t = set(t, [...p, m.key], clone(m.value));
        break;
      }
      case 'duplicate': {
        const p = pick(m.at, (v) => Array.isArray(v) && v.length > 0);
        if (p) {
          const arr = get(t, p) as Tree[];
          arr.push(clone(arr[m.at % arr.length] as Tree));
        }
        break;
      }
      case 'move': {
        const to = pick(m.at);
        const from = pick(m.from);
        if (to && from) t = set(t, to, clone(get(t, from)));
        break;
      }
      case 'number': {
        const p = pick(m.at, (v) => typeof v === 'number');
        if (p) t = set(t, p, mutateNumber(get(t, p) as number, m.how));
        break;
      }
      case 'string': {
        const p = pick(m.at, (v) => typeof v === 'string');
        if (p) t = set(t, p, mutateString(m.how));
        break;
      }
    }
  }
  return t;
}

// ---- serialization ---------------------------------------------------------------------------------------------

/** Replaces Raw values by placeholder strings; returns the tree and the placeholder -> Raw table. */
function withPlaceholders(t: Tree, table: Map<string, Raw>): unknown {
  if (t instanceof Raw) {
    const key = `zzRAW${table.size}zz`;
    table.set(key, t);
    return key;
  }
  if (Array.isArray(t)) return t.map((v) => withPlaceholders(v, table));
  if (isObject(t)) {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(t))
      Object.defineProperty(o, k, {
        value: withPlaceholders(t[k] as Tree, table),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return o;
  }
  return t;
}

export function toJson(t: Tree, indent?: number): string {
  const table = new Map<string, Raw>();
  let s = JSON.stringify(withPlaceholders(t, table), null, indent);
  for (const [k, raw] of table) s = s.split(JSON.stringify(k)).join(raw.json);
  return s;
}

export function toYaml(t: Tree): string {
  const table = new Map<string, Raw>();
  let s = stringifyYaml(withPlaceholders(t, table), { lineWidth: 0 });
  for (const [k, raw] of table) {
    // the placeholder is written plain or quoted, depending on the yaml writer's choice
    s = s.split(JSON.stringify(k)).join(raw.yaml).split(k).join(raw.yaml);
  }
  return s;
}

// ---- byte mutations --------------------------------------------------------------------------------------------

const tokens = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  "'",
  '\\',
  '\n',
  '\t',
  ' ',
  '#',
  'NaN',
  '-Infinity',
  'null',
  '1e999',
  '\uFEFF',
  '\u0000',
  '\u2028',
  // YAML structure
  ': ',
  '- ',
  '? ',
  '&a ',
  '*a',
  '<<: *a',
  '!!binary ',
  '---\n',
  '...\n',
  '%YAML 1.1\n',
  '|\n',
  '>-\n',
  '\n\t',
  '\n  -',
];

export type ByteMutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'overwrite'; at: number; bytes: Uint8Array }
  | { kind: 'bom' }
  | { kind: 'repeat'; at: number; length: number; times: number };

export const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }), weight: 3 },
  {
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      text: fc.oneof(fc.constantFrom(...tokens), fc.string({ unit: 'binary', maxLength: 8 })),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('delete' as const),
      at: fc.nat(),
      length: fc.integer({ min: 1, max: 16 }),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('overwrite' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
    weight: 3,
  },
  { arbitrary: fc.constant({ kind: 'bom' as const }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant('repeat' as const),
      at: fc.nat(),
      length: fc.integer({ min: 1, max: 64 }),
      times: fc.integer({ min: 2, max: 50 }),
    }),
    weight: 1,
  },
);

export function applyByteMutations(input: Uint8Array, muts: readonly ByteMutation[]): Uint8Array {
  let b = Buffer.from(input);
  for (const m of muts) {
    const at = b.length === 0 ? 0 : ('at' in m ? m.at : 0) % (b.length + 1);
    switch (m.kind) {
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.text, 'utf8'), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
        break;
      case 'overwrite':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at + m.bytes.length)]);
        break;
      case 'bom':
        b = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]);
        break;
      case 'repeat': {
        const span = b.subarray(at, at + m.length);
        b = Buffer.concat([b.subarray(0, at), ...new Array<Buffer>(m.times).fill(span), b.subarray(at + m.length)]);
        break;
      }
    }
  }
  return new Uint8Array(b);
}

/** Tree mutations then byte mutations; mostly few of each, and about one case in eight leaves the base valid. */
export interface Mutations {
  tree: readonly TreeMutation[];
  bytes: readonly ByteMutation[];
}

export const mutations: fc.Arbitrary<Mutations> = fc.oneof(
  { arbitrary: fc.constant({ tree: [], bytes: [] }), weight: 1 },
  {
    arbitrary: fc.record({ tree: fc.array(treeMutation, { minLength: 1, maxLength: 3 }), bytes: fc.constant([]) }),
    weight: 5,
  },
  {
    arbitrary: fc.record({
      tree: fc.array(treeMutation, { maxLength: 2 }),
      bytes: fc.array(byteMutation, { minLength: 1, maxLength: 2 }),
    }),
    weight: 2,
  },
);

export const isUnmutated = (m: Mutations): boolean => m.tree.length === 0 && m.bytes.length === 0;
