// Fuzz target: safetensors files (weights and checkpoints) through src/io and readCheckpoint. The base is a valid
// file written here by hand (not by ladet's writer), with random tensors of every format dtype and optional metadata;
// mutations relabel dtypes, bend shapes and offsets, corrupt the length prefix, the padding, the header JSON and the
// bytes, or put NaN into a float tensor (which readCheckpoint must refuse and plain safetensors reading accept).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  SAFETENSORS_DTYPES,
  SAFETENSORS_DTYPE_BYTES,
  ladetDtypeOf,
  loadSafetensors,
  loadSafetensorsRaw,
  parseSafetensors,
  readSafetensorsHeader,
  type SafetensorsDtype,
  type SafetensorsHeader,
} from '../../../src/io/index.js';
import { readCheckpoint, readCheckpointHeader } from '../../../src/build/checkpoint.js';
import { dispose, isFloating, tidy, toBytes, type Tensor } from '../../../src/torch/index.js';
import { checkCall, preview, type FuzzTarget } from '../harness.js';
import {
  applyByteMutations,
  applyTreeMutations,
  byteMutation,
  hostileScalar,
  toJson,
  treeMutation,
  type ByteMutation,
  type Tree,
  type TreeMutation,
} from '../mutate.js';

interface GenTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: Uint8Array;
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

const names = [
  'backbone.conv1.weight',
  'bbox_head.atss_cls.bias',
  'bn1.num_batches_tracked',
  'optimizer.state.0.momentum_buffer',
  'a',
  'ü n',
  '',
];

const tensorArb: fc.Arbitrary<GenTensor> = fc
  .record({
    name: fc.oneof(
      fc.constantFrom(...names),
      fc.string({ maxLength: 8 }).filter((s) => s !== '__metadata__'),
    ),
    // ladet's float and integer dtypes mostly, the ones it cannot hold (U16, F8_*) sometimes
    dtype: fc.oneof(
      {
        arbitrary: fc.constantFrom<SafetensorsDtype>('F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'U8', 'BOOL'),
        weight: 6,
      },
      { arbitrary: fc.constantFrom(...SAFETENSORS_DTYPES), weight: 1 },
    ),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  })
  .chain((t) => {
    const n = numel(t.shape) * SAFETENSORS_DTYPE_BYTES[t.dtype];
    return fc
      .uint8Array({ minLength: n, maxLength: n })
      .map((data) => ({ ...t, data: t.dtype === 'BOOL' ? data.map((b) => b & 1) : data }));
  });

const ladetMeta = fc.record({
  format: fc.constant('ladet-checkpoint'),
  version: fc.constant(1),
  kind: fc.constantFrom('last', 'best', 'weights'),
  info: fc.option(
    fc.record({
      classes: fc.array(fc.record({ id: fc.nat(90), name: fc.string({ maxLength: 6 }) }), {
        minLength: 1,
        maxLength: 3,
      }),
    }),
    { nil: undefined },
  ),
});

const metadataArb: fc.Arbitrary<Record<string, string> | null> = fc.oneof(
  fc.constant(null),
  ladetMeta.map((m) => ({ ladet: JSON.stringify(m) })),
  fc.dictionary(
    fc.string({ maxLength: 6 }).filter((k) => k !== 'ladet'),
    fc.string({ maxLength: 8 }),
    { maxKeys: 3 },
  ),
);

/** Corruptions that know the format. */
type FormatMutation =
  | { kind: 'relabel'; at: number; dtype: string }
  | { kind: 'shape'; at: number; shape: Tree }
  | { kind: 'offsets'; at: number; offsets: Tree }
  | { kind: 'length'; how: 'plus' | 'minus' | 'zero' | 'huge' | 'max' | 'limit'; by: number }
  | { kind: 'padding'; byte: number }
  | { kind: 'nan'; at: number; which: number; value: 'nan' | 'inf' | '-inf' }
  | { kind: 'ladet'; text: string };

const formatMutation: fc.Arbitrary<FormatMutation> = fc.oneof(
  fc.record({
    kind: fc.constant('relabel' as const),
    at: fc.nat(),
    dtype: fc.oneof(
      fc.constantFrom<string>(...SAFETENSORS_DTYPES),
      fc.constantFrom('f32', 'F8', 'float32', '', 'I128'),
    ),
  }),
  fc.record({
    kind: fc.constant('shape' as const),
    at: fc.nat(),
    shape: fc.oneof(
      fc.array(fc.oneof(fc.integer({ min: -2, max: 8 }), hostileScalar), { maxLength: 4 }),
      fc.integer({ min: 30, max: 200 }).map((n) => new Array<Tree>(n).fill(1)),
      fc.constantFrom<Tree>(
        [0, 2 ** 40, 2 ** 40],
        [2 ** 31, 2 ** 31, 0],
        [0, 9007199254740991],
        [2 ** 26, 2 ** 26],
        [-1],
        [1.5],
        ['2'],
        null,
        4,
      ),
    ),
  }),
  fc.record({
    kind: fc.constant('offsets' as const),
    at: fc.nat(),
    offsets: fc.oneof(
      fc.array(fc.oneof(fc.integer({ min: -8, max: 64 }), hostileScalar), { maxLength: 3 }),
      hostileScalar,
    ),
  }),
  fc.record({
    kind: fc.constant('length' as const),
    how: fc.constantFrom('plus', 'minus', 'zero', 'huge', 'max', 'limit') as fc.Arbitrary<
      'plus' | 'minus' | 'zero' | 'huge' | 'max' | 'limit'
    >,
    by: fc.integer({ min: 1, max: 64 }),
  }),
  fc.record({ kind: fc.constant('padding' as const), byte: fc.constantFrom(0, 0x09, 0x0a, 0x7b, 0xff, 0x41) }),
  fc.record({
    kind: fc.constant('nan' as const),
    at: fc.nat(),
    which: fc.nat(),
    value: fc.constantFrom('nan', 'inf', '-inf') as fc.Arbitrary<'nan' | 'inf' | '-inf'>,
  }),
  fc.record({
    kind: fc.constant('ladet' as const),
    text: fc.constantFrom(
      '5',
      'null',
      '[]',
      '"x"',
      '{',
      '{"trainer": 5}',
      '{"info": "x"}',
      '{"info": {"classes": 5}}',
      '{"info": {"classes": [{"id": "a"}]}}',
      '{"trainer": {"epoch": "x"}}',
      '[[[[[[[[[[[[[[[[[[[[',
      `${'['.repeat(50_000)}${']'.repeat(50_000)}`,
    ),
  }),
);

interface Case {
  file: string;
  tensors: GenTensor[];
  metadata: Record<string, string> | null;
  format: readonly FormatMutation[];
  tree: readonly TreeMutation[];
  bytes: readonly ByteMutation[];
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  file: fc.constantFrom('w.safetensors', 'weights file.safetensors', 'ünï [1].safetensors', 'last'),
  tensors: fc.uniqueArray(tensorArb, { selector: (t) => t.name, maxLength: 4 }),
  metadata: metadataArb,
  format: fc.oneof(
    { arbitrary: fc.constant([]), weight: 2 },
    { arbitrary: fc.array(formatMutation, { minLength: 1, maxLength: 2 }), weight: 5 },
  ),
  tree: fc.oneof(
    { arbitrary: fc.constant([]), weight: 4 },
    { arbitrary: fc.array(treeMutation, { minLength: 1, maxLength: 2 }), weight: 1 },
  ),
  bytes: fc.oneof(
    { arbitrary: fc.constant([]), weight: 5 },
    { arbitrary: fc.array(byteMutation, { minLength: 1, maxLength: 2 }), weight: 1 },
  ),
});

const NAN_BYTES: Partial<Record<SafetensorsDtype, Record<'nan' | 'inf' | '-inf', number[]>>> = {
  F32: { nan: [0, 0, 0xc0, 0x7f], inf: [0, 0, 0x80, 0x7f], '-inf': [0, 0, 0x80, 0xff] },
  F16: { nan: [0x00, 0x7e], inf: [0x00, 0x7c], '-inf': [0x00, 0xfc] },
  BF16: { nan: [0xc0, 0x7f], inf: [0x80, 0x7f], '-inf': [0x80, 0xff] },
  F64: {
    nan: [0, 0, 0, 0, 0, 0, 0xf8, 0x7f],
    inf: [0, 0, 0, 0, 0, 0, 0xf0, 0x7f],
    '-inf': [0, 0, 0, 0, 0, 0, 0xf0, 0xff],
  },
};

/** Whether element bytes of a float dtype hold NaN or ±Infinity (exponent bits all ones). */
function hasNonFinite(t: GenTensor): boolean {
  const b = t.data;
  const size = SAFETENSORS_DTYPE_BYTES[t.dtype];
  for (let i = 0; i < b.length; i += size) {
    if (t.dtype === 'F32' && (b[i + 3]! & 0x7f) === 0x7f && (b[i + 2]! & 0x80) === 0x80) return true;
    if (t.dtype === 'F64' && (b[i + 7]! & 0x7f) === 0x7f && (b[i + 6]! & 0xf0) === 0xf0) return true;
    if (t.dtype === 'F16' && (b[i + 1]! & 0x7c) === 0x7c) return true;
    if (t.dtype === 'BF16' && (b[i + 1]! & 0x7f) === 0x7f && (b[i]! & 0x80) === 0x80) return true;
  }
  return false;
}

/** The file, written by hand; the format mutations that act on values are applied on the way. */
function build(c: Case): { bytes: Uint8Array; tensors: GenTensor[]; formatOnlyNan: boolean } {
  const tensors = c.tensors.map((t) => ({ ...t, data: new Uint8Array(t.data) }));
  let header: Tree = {};
  const h = header as Record<string, Tree>;
  if (c.metadata !== null) h.__metadata__ = { ...c.metadata };
  let off = 0;
  for (const t of tensors) {
    Object.defineProperty(h, t.name, {
      value: { dtype: t.dtype, shape: [...t.shape], data_offsets: [off, off + t.data.length] },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    off += t.data.length;
  }
  let lengthMut: Extract<FormatMutation, { kind: 'length' }> | null = null;
  let pad = 0x20;
  for (const m of c.format) {
    const t = tensors.length
      ? tensors[m.kind === 'length' || m.kind === 'padding' || m.kind === 'ladet' ? 0 : m.at % tensors.length]
      : undefined;
    const entry = t === undefined ? undefined : (h[t.name] as Record<string, Tree>);
    if (m.kind === 'relabel' && entry) entry.dtype = m.dtype;
    else if (m.kind === 'shape' && entry) entry.shape = m.shape;
    else if (m.kind === 'offsets' && entry) entry.data_offsets = m.offsets;
    else if (m.kind === 'length') lengthMut = m;
    else if (m.kind === 'padding') pad = m.byte;
    else if (m.kind === 'ladet')
      h.__metadata__ = { ...((h.__metadata__ as Record<string, Tree> | undefined) ?? {}), ladet: m.text };
    else if (m.kind === 'nan') {
      const floats = tensors.filter((x) => NAN_BYTES[x.dtype] !== undefined && x.data.length > 0);
      const f = floats[m.at % Math.max(1, floats.length)];
      if (f) {
        const size = SAFETENSORS_DTYPE_BYTES[f.dtype];
        f.data.set(NAN_BYTES[f.dtype]![m.value], (m.which % (f.data.length / size)) * size);
      }
    }
  }
  header = applyTreeMutations(header, c.tree);
  const json = Buffer.from(
    typeof header === 'object' && header !== null ? toJson(header) : JSON.stringify(header),
    'utf8',
  );
  const n = Math.ceil(json.length / 8) * 8;
  const head = Buffer.alloc(8 + n, pad);
  let len = BigInt(n);
  if (lengthMut) {
    const by = BigInt(lengthMut.by);
    len = {
      plus: len + by,
      minus: len > by ? len - by : 0n,
      zero: 0n,
      huge: 1n << 62n,
      max: (1n << 64n) - 1n,
      limit: 100_000_001n,
    }[lengthMut.how];
  }
  head.writeBigUInt64LE(len, 0);
  json.copy(head, 8);
  const bytes = applyByteMutations(Buffer.concat([head, ...tensors.map((t) => t.data)]), c.bytes);
  return {
    bytes,
    tensors,
    formatOnlyNan: c.tree.length === 0 && c.bytes.length === 0 && c.format.every((m) => m.kind === 'nan'),
  };
}

function checkHeader(h: SafetensorsHeader, bytes: Uint8Array): void {
  assert.equal(h.dataStart, 8 + h.headerBytes);
  assert.equal(h.dataStart + h.dataBytes, bytes.length);
  let pos = 0;
  for (const e of h.entries) {
    assert.equal(e.begin, pos, `entry ${e.name} does not start where the previous ended`);
    assert.equal(e.end - e.begin, numel(e.shape) * SAFETENSORS_DTYPE_BYTES[e.dtype], `entry ${e.name}: byte size`);
    assert.ok(e.shape.every((d) => Number.isSafeInteger(d) && d >= 0));
    pos = e.end;
  }
  assert.equal(pos, h.dataBytes);
}

function sameAsGenerated(h: SafetensorsHeader, gen: GenTensor[], meta: Record<string, string> | null): void {
  const byName = (a: [string, ...unknown[]], b: [string, ...unknown[]]): number =>
    a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
  assert.deepEqual(
    h.entries.map((e): [string, string, number[]] => [e.name, e.dtype, e.shape]).sort(byName),
    gen.map((t): [string, string, number[]] => [t.name, t.dtype, t.shape]).sort(byName),
  );
  assert.deepEqual(
    h.metadata === null ? null : Object.entries(h.metadata),
    meta === null ? null : Object.entries(meta),
  );
}

function checkTensors(tensors: Map<string, Tensor>, h: SafetensorsHeader, bytes: Uint8Array): void {
  assert.equal(tensors.size, h.entries.length);
  for (const e of h.entries) {
    const t = tensors.get(e.name);
    assert.ok(t !== undefined, `tensor ${e.name} missing`);
    assert.equal(t.dtype, ladetDtypeOf(e.dtype));
    assert.deepEqual(t.shape, e.shape);
    assert.ok(
      Buffer.from(toBytes(t)).equals(Buffer.from(bytes.subarray(h.dataStart + e.begin, h.dataStart + e.end))),
      `tensor ${e.name}: bytes differ from the file`,
    );
  }
}

export const safetensorsTarget: FuzzTarget = {
  name: 'safetensors',
  ciRuns: 6000,
  property: ({ dir, onCase }) =>
    fc.asyncProperty(caseArb, async (c) => {
      const { bytes, tensors, formatOnlyNan } = build(c);
      const path = join(dir, c.file);
      writeFileSync(path, bytes);
      onCase(`${c.file} ${preview(bytes)} format=${JSON.stringify(c.format).slice(0, 300)}`);
      const supported = tensors.every((t) => ladetDtypeOf(t.dtype) !== null);
      const valid = c.format.length === 0 && c.tree.length === 0 && c.bytes.length === 0;
      const finite = !tensors.some((t) => hasNonFinite(t));
      // the header as a reference for the result checks (when it reads)
      let header: SafetensorsHeader | null = null;
      await checkCall({
        path,
        dir,
        label: 'readSafetensorsHeader',
        call: () => readSafetensorsHeader(path),
        expectOk: valid || formatOnlyNan,
        verify: (h) => {
          checkHeader(h, bytes);
          if (valid || formatOnlyNan) sameAsGenerated(h, tensors, c.metadata);
          header = h;
        },
      });
      await checkCall({
        path,
        dir,
        label: 'loadSafetensorsRaw',
        call: () => loadSafetensorsRaw(path),
        expectOk: valid || formatOnlyNan,
        verify: (r) => {
          assert.ok(header !== null, 'loadSafetensorsRaw read a file whose header did not read');
          for (const e of (header as SafetensorsHeader).entries) {
            const raw = r.tensors.get(e.name);
            assert.ok(
              raw !== undefined &&
                Buffer.from(raw.data).equals(
                  Buffer.from(
                    bytes.subarray(
                      (header as SafetensorsHeader).dataStart + e.begin,
                      (header as SafetensorsHeader).dataStart + e.end,
                    ),
                  ),
                ),
            );
          }
        },
      });
      for (const [label, read] of [
        ['loadSafetensors', () => loadSafetensors(path)],
        ['parseSafetensors', () => parseSafetensors(readFileSync(path), path)],
      ] as const) {
        await checkCall({
          path,
          dir,
          label,
          call: read,
          expectOk: (valid || formatOnlyNan) && supported,
          expectError: (valid || formatOnlyNan) && !supported,
          verify: (r) => {
            assert.ok(header !== null, `${label} read a file whose header did not read`);
            checkTensors(r.tensors, header as SafetensorsHeader, bytes);
          },
          release: (r) => dispose([...r.tensors.values()]),
        });
      }
      await checkCall({
        path,
        dir,
        label: 'readCheckpoint',
        call: () => readCheckpoint(path),
        expectOk: (valid || formatOnlyNan) && supported && finite,
        expectError: (valid || formatOnlyNan) && (!supported || !finite),
        verify: (ck) => {
          assert.ok(header !== null);
          const all = new Map<string, Tensor>([
            ...ck.model,
            ...Object.entries(ck.optimizer).map(([k, v]) => [`optimizer.${k}`, v] as [string, Tensor]),
          ]);
          checkTensors(all, header as SafetensorsHeader, bytes);
          for (const [k, t] of all) {
            if (isFloating(t.dtype))
              assert.ok(
                tidy(() => t.to('float64').toArray()).every(Number.isFinite),
                `readCheckpoint returned non-finite '${k}'`,
              );
          }
          assert.ok(
            ck.meta === null || (typeof ck.meta === 'object' && !Array.isArray(ck.meta)),
            'meta is not an object',
          );
        },
        release: (ck) => dispose([[...ck.model.values()], ck.optimizer]),
      });
      await checkCall({
        path,
        dir,
        label: 'readCheckpointHeader',
        call: () => readCheckpointHeader(path),
        expectOk: valid || formatOnlyNan,
        verify: (r) => assert.ok(r.meta === null || (typeof r.meta === 'object' && !Array.isArray(r.meta))),
      });
    }),
};
