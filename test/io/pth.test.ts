// PyTorch .pth reading and writing (src/io/pth.ts): the committed fixtures of test/io/fixtures/pth/ (made by torch
// 1.13, make_pth_fixtures.py) against the values torch read from them (expected.json), round trips, malicious and
// hostile files, and, where /usr/bin/python3 has torch, files ladet writes read by torch.load and load_state_dict
// and random files torch writes read back by ladet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  PickleObject,
  PthError,
  isPthTensor,
  parsePth,
  pickleToPlain,
  pthStateDictOf,
  readPth,
  readPthStateDict,
  serializePth,
  writePth,
  type RawTensor,
  type SafetensorsDtype,
} from '../../src/io/index.js';
import { serializePthZip64ForTest } from '../../src/io/pth.js';
import { unpickle } from '../../src/io/pickle.js';
import { readZipDirectory } from '../../src/io/zip_read.js';
import { zipStored } from '../../src/io/zip_write.js';

const dir = fileURLToPath(new URL('../../../test/io/fixtures/pth/', import.meta.url));

interface ExpectedTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  values: number[];
}
interface Expected {
  readable: Record<
    string,
    { format: 'zip' | 'legacy'; container: string; tensors: Record<string, ExpectedTensor>; meta?: unknown }
  >;
  refused: Record<string, string>;
  zip_directory: Record<string, { offset: number; size: number; crc32: number; method: number }>;
  plain_pickles: Record<string, string>;
}
const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;

function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** A tensor's elements as numbers (bool as 0/1). */
function values(t: RawTensor): number[] {
  const d = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out: number[] = [];
  const get: Record<SafetensorsDtype, ((i: number) => number) | null> = {
    F32: (i) => d.getFloat32(4 * i, true),
    F16: (i) => f16(d.getUint16(2 * i, true)),
    BF16: (i) => new Float32Array(new Uint32Array([d.getUint16(2 * i, true) << 16]).buffer)[0] as number,
    F64: (i) => d.getFloat64(8 * i, true),
    I64: (i) => Number(d.getBigInt64(8 * i, true)),
    I32: (i) => d.getInt32(4 * i, true),
    I16: (i) => d.getInt16(2 * i, true),
    I8: (i) => d.getInt8(i),
    U8: (i) => d.getUint8(i),
    BOOL: (i) => d.getUint8(i),
    U16: null,
    U32: null,
    U64: null,
    F8_E4M3: null,
    F8_E5M2: null,
  };
  const n = t.shape.reduce((a, b) => a * b, 1);
  const g = get[t.dtype];
  assert.ok(g !== null);
  for (let i = 0; i < n; i++) out.push(g(i));
  return out;
}

function checkTensors(got: Map<string, RawTensor>, want: Record<string, ExpectedTensor>, file: string): void {
  assert.deepEqual([...got.keys()], Object.keys(want), `${file}: names in order`);
  for (const [name, w] of Object.entries(want)) {
    const t = got.get(name) as RawTensor;
    assert.equal(t.dtype, w.dtype, `${file} ${name}: dtype`);
    assert.deepEqual(t.shape, w.shape, `${file} ${name}: shape`);
    assert.deepEqual(values(t), w.values, `${file} ${name}: values`);
  }
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'ladet-pth-'));
}

/** Only a PthError naming the file, or a result; never another error. */
function parseOrPthError(bytes: Uint8Array, source: string): void {
  try {
    const f = parsePth(bytes, source);
    try {
      pthStateDictOf(f, source);
    } catch (e) {
      if (!(e instanceof PthError)) throw e;
    }
    JSON.stringify(pickleToPlain(f.root));
  } catch (e) {
    if (!(e instanceof PthError)) throw new Error(`${source}: not a PthError: ${(e as Error).stack}`, { cause: e });
    assert.ok(e.message.startsWith(`${source}: `), e.message);
  }
}

test('fixtures written by torch read with the values torch reads', () => {
  for (const [file, want] of Object.entries(expected.readable)) {
    const path = join(dir, file);
    const f = readPth(path);
    assert.equal(f.format, want.format, file);
    const sd = readPthStateDict(path);
    assert.equal(sd.container, want.container, file);
    checkTensors(sd.tensors, want.tensors, file);
  }
});

test('the zip directory as Python zipfile reads it', () => {
  const { entries, zip64 } = readZipDirectory(readFileSync(join(dir, 'mmdet_like.pth')), 'mmdet_like.pth');
  assert.ok(zip64, 'torch writes ZIP64 end records');
  assert.deepEqual(
    Object.fromEntries(
      [...entries].map(([n, e]) => [n, { offset: e.offset, size: e.size, crc32: e.crc32, method: e.method }]),
    ),
    expected.zip_directory,
  );
  for (const [name, e] of entries) assert.equal(e.dataStart % 64, 0, `${name}: torch aligns records to 64 bytes`);
});

test('mmdetection-like checkpoint: the state dict, its meta as plain JSON, mmengine classes as placeholders', () => {
  const path = join(dir, 'mmdet_like.pth');
  const sd = readPthStateDict(path);
  const meta = sd.meta as Record<string, Record<string, unknown>>;
  assert.deepEqual(meta.meta, expected.readable['mmdet_like.pth']?.meta);
  const optimizer = meta.optimizer as { state: Record<string, { momentum_buffer: unknown }>; param_groups: unknown };
  assert.deepEqual(optimizer.state['0']?.momentum_buffer, { __tensor__: { dtype: 'F32', shape: [4, 3, 3, 3] } });
  assert.deepEqual(optimizer.param_groups, [{ lr: 0.01, momentum: 0.9, params: [0, 1, 2, 3] }]);
  const hub = meta.message_hub as { log_scalars: Record<string, Record<string, unknown>> };
  const buffer = hub.log_scalars['train/loss'] as { __global__: string; state: Record<string, unknown> };
  assert.equal(buffer.__global__, 'mmengine.logging.history_buffer.HistoryBuffer');
  assert.equal(buffer.state.max_length, 1000000);
  // the raw tree: the placeholder object itself
  const root = readPth(path).root as Map<string, Map<string, Map<string, unknown>>>;
  const raw = root.get('message_hub')?.get('log_scalars')?.get('train/loss');
  assert.ok(raw instanceof PickleObject && raw.global === 'mmengine.logging.history_buffer.HistoryBuffer');
});

test('contiguous tensors are views into the file buffer, shared storages share bytes, others are copies', () => {
  const bytes = readFileSync(join(dir, 'zip_views.pth'));
  const sd = pthStateDictOf(parsePth(bytes, 'zip_views.pth'), 'zip_views.pth').tensors;
  const base = sd.get('base') as RawTensor;
  const row = sd.get('row') as RawTensor;
  assert.equal(base.data.buffer, bytes.buffer);
  assert.equal(row.data.buffer, bytes.buffer);
  assert.equal(row.data.byteOffset, base.data.byteOffset + 12 * 4, 'row 2 of a 4x6 storage, no copy');
  assert.notEqual((sd.get('transposed') as RawTensor).data.buffer, bytes.buffer);
  assert.notEqual((sd.get('expanded') as RawTensor).data.buffer, bytes.buffer);
});

test('malicious and broken fixtures: a PthError naming the file and the global', () => {
  for (const [file, message] of Object.entries(expected.refused)) {
    const path = join(dir, file);
    assert.throws(
      () => readPthStateDict(path),
      (e: unknown) => {
        assert.ok(e instanceof PthError, `${file}: ${String(e)}`);
        assert.ok(e.message.startsWith(`${path}: `), e.message);
        assert.ok(e.message.includes(message), `${file}: '${e.message}' lacks '${message}'`);
        return true;
      },
    );
  }
  // the brief's example, word for word, on the call path
  assert.throws(
    () => readPth(join(dir, 'mal_tensor_size.pth')),
    /pickle calls global __main__\.make_size, which ladet/,
  );
});

test('plain pickles of protocols 0 to 5 unpickle to the same value', () => {
  const hooks = {
    persistentLoad: () => null,
    callable: () => undefined,
    forbiddenInPlaceholder: () => false,
  };
  const plains = Object.entries(expected.plain_pickles).map(([p, hex]) => {
    const b = Buffer.from(hex, 'hex');
    const r = unpickle(b, 0, 'plain', `protocol ${p}`, hooks);
    assert.equal(r.end, b.byteLength);
    return r.value as Map<string, unknown>;
  });
  const first = plains[0] as Map<string, unknown>;
  assert.equal(first.get('text'), 'ünïcode \\ \n €');
  assert.deepEqual([...(first.get('bytes') as Uint8Array)], [0, 255, 97, 98]);
  assert.deepEqual([...(first.get('bytearray') as Uint8Array)], [120, 121]);
  assert.deepEqual((first.get('ints') as unknown[]).slice(9), [2n ** 63n, -(2n ** 70n), 2n ** 53n + 1n]);
  assert.deepEqual(first.get('set'), new Set([1, 2]));
  const shared = first.get('shared') as unknown[];
  assert.equal(shared[0], shared[1], 'a memoized list stays one object');
  for (const v of plains.slice(1)) assert.deepEqual(pickleToPlain(v as never), pickleToPlain(first as never));
});

function randomTensors(seed: number): Map<string, RawTensor> {
  let s = seed >>> 0;
  const byte = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 24;
  };
  const make = (dtype: SafetensorsDtype, shape: number[], size: number): RawTensor => {
    const n = shape.reduce((a, b) => a * b, 1) * size;
    const data = Uint8Array.from({ length: n }, () => (dtype === 'BOOL' ? byte() & 1 : byte()));
    if (dtype === 'F32' || dtype === 'F16' || dtype === 'BF16' || dtype === 'F64') {
      // keep floats finite: clear the top exponent bit of each element
      for (let i = size - 1; i < n; i += size) data[i] = (data[i] as number) & 0xbf;
    }
    return { dtype, shape, data };
  };
  return new Map<string, RawTensor>([
    ['backbone.conv1.weight', make('F32', [4, 3, 3, 3], 4)],
    ['t_half', make('F16', [5], 2)],
    ['t_brain', make('BF16', [2, 3], 2)],
    ['t_double', make('F64', [1, 2], 8)],
    ['bn.num_batches_tracked', make('I64', [], 8)],
    ['i32', make('I32', [3], 4)],
    ['i16', make('I16', [2], 2)],
    ['i8', make('I8', [2, 2], 1)],
    ['u8', make('U8', [7], 1)],
    ['t_mask', make('BOOL', [3], 1)],
    ['t_empty', make('F32', [0, 4], 4)],
  ]);
}

test('round trip: serializePth then parsePth, with extra entries, and the ZIP64 layout', () => {
  const tensors = randomTensors(7);
  const extra = { meta: { classes: ['a', 'b'], epoch: 3, lr: 0.5, big: 2n ** 60n, ok: true, none: null } };
  for (const bytes of [serializePth(tensors, extra), serializePthZip64ForTest(tensors)]) {
    const f = parsePth(bytes, 'rt.pth');
    const sd = pthStateDictOf(f, 'rt.pth');
    assert.deepEqual([...sd.tensors.keys()], [...tensors.keys()]);
    for (const [k, t] of tensors) {
      const got = sd.tensors.get(k) as RawTensor;
      assert.equal(got.dtype, t.dtype);
      assert.deepEqual(got.shape, t.shape);
      assert.ok(Buffer.from(got.data).equals(Buffer.from(t.data)), k);
    }
    const { entries } = readZipDirectory(bytes, 'rt.pth');
    assert.deepEqual([...entries.keys()].slice(0, 2), ['archive/data.pkl', 'archive/byteorder']);
    for (const [name, e] of entries) assert.equal(e.dataStart % 64, 0, name);
  }
  const withExtra = pthStateDictOf(parsePth(serializePth(tensors, extra), 'x'), 'x');
  assert.equal(withExtra.container, 'state_dict');
  assert.deepEqual(withExtra.meta, { meta: { ...extra.meta, big: String(2n ** 60n) } });
  assert.equal(pthStateDictOf(parsePth(serializePth(tensors), 'x'), 'x').container, '');
});

test('writePth: atomic, no temp file left; refuses what torch cannot hold', () => {
  const d = tmp();
  try {
    const path = join(d, 'w.pth');
    writePth(path, randomTensors(1), { note: 'x' });
    assert.deepEqual(readdirSync(d), ['w.pth']);
    assert.equal(readPthStateDict(path).meta?.note, 'x');
    const bad = (t: RawTensor): Map<string, RawTensor> => new Map([['t', t]]);
    assert.throws(() => serializePth(bad({ dtype: 'U16', shape: [1], data: new Uint8Array(2) })), PthError);
    assert.throws(() => serializePth(bad({ dtype: 'F32', shape: [2], data: new Uint8Array(4) })), PthError);
    assert.throws(() => serializePth(new Map(), { state_dict: 1 }), PthError);
    assert.throws(() => serializePth(new Map(), { f: () => 1 }), PthError);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('hostile bytes: every truncation, bit flips and overwrites give a PthError or a sane result', () => {
  for (const file of ['zip_views.pth', 'legacy_views.pth', 'mmdet_like.pth']) {
    const good = readFileSync(join(dir, file));
    for (let n = 0; n < good.byteLength; n++) {
      assert.throws(() => parsePth(good.subarray(0, n), file), PthError, `${file} cut at ${n}`);
    }
    let seed = 12345;
    const rnd = (k: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % k;
    };
    for (let i = 0; i < good.byteLength; i++) {
      const b = Buffer.from(good);
      b[i] = (b[i] as number) ^ (1 << rnd(8));
      parseOrPthError(b, file);
    }
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(good);
      const at = rnd(b.byteLength);
      for (let j = 0; j < 1 + rnd(16) && at + j < b.byteLength; j++) b[at + j] = rnd(256);
      parseOrPthError(b, file);
    }
  }
  assert.throws(() => readPth('/nonexistent/x.pth'), {
    name: 'PthError',
    message: '/nonexistent/x.pth: cannot open the file (ENOENT)',
  });
  assert.throws(() => readPth(dir), { name: 'PthError', message: `${dir}: cannot read the file (EISDIR)` });
  for (const junk of [new Uint8Array(0), Buffer.from('PK\x03\x04'), Buffer.from([0x80, 2, 0x2e]), Buffer.from('{}')]) {
    assert.throws(() => parsePth(junk, 'junk'), PthError);
  }
});

// ---- hand-made pickles in a torch-layout zip -----------------------------------------------------------------------

type Part = string | number[] | Uint8Array | Part[];
const bytesOf = (p: Part): Buffer =>
  typeof p === 'string'
    ? Buffer.from(p, 'latin1')
    : p instanceof Uint8Array
      ? Buffer.from(p)
      : p.every((x) => typeof x === 'number')
        ? Buffer.from(p as number[])
        : Buffer.concat((p as Part[]).map(bytesOf));
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const S = (s: string): Part => [[0x58], u32(Buffer.byteLength(s)), Buffer.from(s, 'utf8')];
const I = (n: number): Part => {
  const b = Buffer.alloc(5);
  b[0] = 0x4a;
  b.writeInt32LE(n, 1);
  return b;
};
const G = (m: string, n: string): Part => `c${m}\n${n}\n`;
const T = (...items: Part[]): Part => ['(', ...items, 't'];

interface Rebuild {
  type?: string;
  key?: string;
  numel?: number;
  offset?: number;
  size?: number[];
  stride?: number[];
  storage?: Part;
}
function rebuild(r: Rebuild = {}): Part {
  const pid = [
    '(',
    S('storage'),
    G('torch', r.type ?? 'FloatStorage'),
    S(r.key ?? '0'),
    S('cpu'),
    I(r.numel ?? 6),
    't',
    'Q',
  ];
  return [
    G('torch._utils', '_rebuild_tensor_v2'),
    T(
      r.storage ?? pid,
      I(r.offset ?? 0),
      T(...(r.size ?? [2, 3]).map(I)),
      T(...(r.stride ?? [3, 1]).map(I)),
      [0x89],
      '}',
    ),
    'R',
  ];
}
const dict = (...entries: [string, Part][]): Part => ['\x80\x02}(', ...entries.map(([k, v]) => [S(k), v]), 'u.'];

function zipWith(pkl: Part, records: Record<string, Uint8Array> = { '0': new Uint8Array(24) }): Uint8Array {
  return Buffer.concat(
    zipStored([
      { name: 'a/data.pkl', data: bytesOf(pkl) },
      ...Object.entries(records).map(([k, data]) => ({ name: `a/data/${k}`, data })),
      { name: 'a/version', data: Buffer.from('3\n') },
    ]),
  );
}

function refuses(bytes: Uint8Array, message: RegExp | string): void {
  assert.throws(
    () => pthStateDictOf(parsePth(bytes, 'h.pth'), 'h.pth'),
    (e: unknown) => {
      assert.ok(e instanceof PthError, String((e as Error).stack));
      assert.ok(e.message.startsWith('h.pth: '));
      assert.ok(
        typeof message === 'string' ? e.message.includes(message) : message.test(e.message),
        `'${e.message}' does not match ${String(message)}`,
      );
      return true;
    },
  );
}

test('hand-made pickles: the baseline reads; each lie or hostile construct is a PthError saying why', () => {
  const ok = pthStateDictOf(parsePth(zipWith(dict(['w', rebuild()])), 'ok.pth'), 'ok.pth');
  assert.deepEqual(ok.tensors.get('w')?.shape, [2, 3]);

  refuses(zipWith(dict(['w', rebuild({ size: [2, 300000] })])), 'reaches element');
  refuses(zipWith(dict(['w', rebuild({ offset: 1 })])), 'reaches element 6');
  refuses(zipWith(dict(['w', rebuild({ stride: [3, -1] })])), 'holds -1, not a non-negative integer');
  refuses(zipWith(dict(['w', rebuild({ size: [2 ** 26, 2 ** 26, 16], stride: [0, 0, 0] })])), 'too large');
  refuses(zipWith(dict(['w', rebuild({ size: [2 ** 20, 2 ** 20], stride: [0, 0] })])), "more than the file's");
  refuses(zipWith(dict(['w', rebuild({ size: [2, 3, 1], stride: [3, 1] })])), 'size has 3 dims but stride 2');
  refuses(zipWith(dict(['w', rebuild({ storage: S('not a storage') })])), 'tensor storage is a string');
  refuses(zipWith(dict(['w', rebuild({ numel: 7 })])), "storage '0' holds 24 bytes, not 7 x F32");
  refuses(zipWith(dict(['w', rebuild({ type: 'ComplexFloatStorage' })])), 'global torch.ComplexFloatStorage');
  refuses(zipWith(dict(['w', rebuild({ key: '../../etc/passwd' })])), 'malformed storage key');
  refuses(zipWith(dict(['w', rebuild({ key: '1' })])), "storage '1' has no record a/data/1");
  refuses(zipWith(dict(['w', rebuild()]), {}), "storage '0' has no record");
  refuses(zipWith(['\x80\x02', 'h', [7], '.']), 'memo entry 7 was never stored');
  refuses(zipWith(['\x80\x02', 'R.']), 'stack underflow');
  refuses(zipWith(['\x80\x02N.N']), '1 bytes after its STOP');
  refuses(zipWith(['\x80\x02', [0x8b, 0xff, 0xff, 0xff, 0x7f], '.']), 'pickle ends early');
  refuses(zipWith(['\x80\x02', ']'.repeat(100_000), 'a'.repeat(99_999), '.']), 'nest deeper than 500');
  refuses(zipWith(['\x80\x02]q', [0], 'h', [0], 'a.']), 'contains itself');
  refuses(zipWith(['\x80\x02', G('builtins', 'getattr'), '.']), 'imports global builtins.getattr');
  refuses(zipWith(['\x80\x04', [0x8c, 2], 'os', [0x8c, 6], 'system', [0x93], '.']), 'imports global os.system');
  refuses(zipWith(['\x80\x02(', 'ios\nsystem\n', S('true'), '.']), 'imports global os.system');
  refuses(zipWith(['\x80\x02', G('mypkg', 'Model'), ')R.']), 'pickle calls global mypkg.Model, which ladet');
  refuses(zipWith(['\x80\x02', G('numpy', 'array'), '(', rebuild(), 'tR.']), 'builds numpy.array around a tensor');
  refuses(zipWith(['\x80\x06.']), 'protocol above 5');
  refuses(zipWith(['\x80\x02', [0x82, 1], '.']), 'extension registry');
  refuses(zipWith(['\x80\x02', S('x'), 'Nb.']), 'BUILD on a string');
  refuses(zipWith(['\x80\x02', ')K\x01a.']), 'APPEND on a list or tuple');

  // a DAG of 2^60 paths through 60 shared lists: validation stays linear, the plain meta (a tree) is refused
  const dag: Part[] = ['\x80\x02}(', S('w'), rebuild(), S('dag'), ']q', [0]];
  for (let i = 1; i <= 60; i++) dag.push('(h', [i - 1], 'h', [i - 1], 'lq', [i]);
  dag.push('u.');
  const t0 = performance.now();
  const file = parsePth(zipWith(dag), 'h.pth');
  refuses(zipWith(dag), 'metadata expands to more than');
  assert.throws(() => pickleToPlain(file.root, 'h.pth'), /^PthError: h\.pth: metadata expands/);
  assert.ok(performance.now() - t0 < 10_000);

  // zip-level lies
  const good = zipWith(dict(['w', rebuild()]));
  const twoPkl = Buffer.concat(
    zipStored([
      { name: 'a/data.pkl', data: Buffer.from('\x80\x02N.', 'latin1') },
      { name: 'b/data.pkl', data: Buffer.from('\x80\x02N.', 'latin1') },
    ]),
  );
  refuses(twoPkl, '2 data.pkl entries');
  const noVersion = Buffer.concat(zipStored([{ name: 'a/data.pkl', data: Buffer.from('\x80\x02N.', 'latin1') }]));
  refuses(noVersion, 'no a/version record');
  const v99 = Buffer.concat(
    zipStored([
      { name: 'a/data.pkl', data: Buffer.from('\x80\x02N.', 'latin1') },
      { name: 'a/version', data: Buffer.from('99\n') },
    ]),
  );
  refuses(v99, "format version '99'");
  const dup = Buffer.concat(
    zipStored([
      { name: 'a/data.pkl', data: Buffer.from('\x80\x02N.', 'latin1') },
      { name: 'a/data.pkl', data: Buffer.from('\x80\x02N.', 'latin1') },
    ]),
  );
  refuses(dup, 'appears twice');
  // an entry count that cannot fit the directory
  const lie = Buffer.from(good);
  lie.writeBigUInt64LE(10n ** 9n, lie.byteLength - 98 + 32);
  refuses(lie, 'entries cannot fit');
});

const python = ((): string | null => {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
  return r.status === 0 ? '/usr/bin/python3' : null;
})();
const noTorch = python === null ? '/usr/bin/python3 has no torch (Debian python3-torch)' : false;

function py(source: string, ...args: string[]): string {
  const r = spawnSync(python as string, ['-c', source, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test(
  'a state dict ladet writes loads into the torch model it names, load_state_dict(strict=True)',
  { skip: noTorch },
  () => {
    const d = tmp();
    try {
      // Sequential(Conv2d(3, 4, 3), BatchNorm2d(4)): its exact keys, shapes and dtypes (num_batches_tracked: int64 0-d)
      const all = randomTensors(5);
      const f32 = (shape: number[]): RawTensor => {
        const n = shape.reduce((a, b) => a * b, 1);
        const src = all.get('backbone.conv1.weight') as RawTensor;
        return { dtype: 'F32', shape, data: src.data.slice(0, 4 * n) };
      };
      const model = new Map<string, RawTensor>([
        ['0.weight', f32([4, 3, 3, 3])],
        ['0.bias', f32([4])],
        ['1.weight', f32([4])],
        ['1.bias', f32([4])],
        ['1.running_mean', f32([4])],
        ['1.running_var', f32([4])],
        ['1.num_batches_tracked', { dtype: 'I64', shape: [], data: new Uint8Array(new BigInt64Array([7n]).buffer) }],
      ]);
      const path = join(d, 'model.pth');
      writePth(path, model);
      const out = py(
        `
import json, sys, torch
m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
m.load_state_dict(torch.load(sys.argv[1]), strict=True)
print(json.dumps({k: v.double().flatten().tolist() for k, v in m.state_dict().items()}))
`,
        path,
      );
      const got = JSON.parse(out) as Record<string, number[]>;
      assert.deepEqual(Object.keys(got), [...model.keys()]);
      for (const [k, t] of model) assert.deepEqual(got[k], values(t), k);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
);

test('torch.load reads every dtype ladet writes, with extra entries and in the ZIP64 layout', { skip: noTorch }, () => {
  const d = tmp();
  try {
    const path = join(d, 'ladet.pth');
    const tensors = randomTensors(3);
    writePth(path, tensors, { meta: { CLASSES: ['cat'], epoch: 2 } });
    const zip64 = join(d, 'zip64.pth');
    writeFileSync(zip64, serializePthZip64ForTest(tensors));
    const out = py(
      `
import json, sys, torch
res = {}
for f in sys.argv[1:]:
    d = torch.load(f)
    sd = d['state_dict'] if 'state_dict' in d else d
    res[f] = {'meta': d.get('meta'), 'tensors': {k: [str(v.dtype), list(v.shape), v.double().flatten().tolist()] for k, v in sd.items()}}
print(json.dumps(res))
`,
      path,
      zip64,
    );
    const res = JSON.parse(out) as Record<
      string,
      { meta: unknown; tensors: Record<string, [string, number[], number[]]> }
    >;
    const torchName: Record<string, string> = {
      F32: 'torch.float32',
      F16: 'torch.float16',
      BF16: 'torch.bfloat16',
      F64: 'torch.float64',
      I64: 'torch.int64',
      I32: 'torch.int32',
      I16: 'torch.int16',
      I8: 'torch.int8',
      U8: 'torch.uint8',
      BOOL: 'torch.bool',
    };
    assert.deepEqual(res[path]?.meta, { CLASSES: ['cat'], epoch: 2 });
    for (const f of [path, zip64]) {
      for (const [k, t] of tensors) {
        const [dtype, shape, vals] = res[f]?.tensors[k] as [string, number[], number[]];
        assert.equal(dtype, torchName[t.dtype], `${f} ${k}`);
        assert.deepEqual(shape, t.shape);
        assert.deepEqual(vals, values(t), `${f} ${k}: values`);
      }
    }
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('ladet reads random checkpoints torch writes (zip and legacy, views included)', { skip: noTorch }, () => {
  const d = tmp();
  try {
    const out = py(
      `
import collections, json, os, sys, torch
d = sys.argv[1]
g = torch.Generator().manual_seed(11)
res = {}
for legacy in (False, True):
    sd = collections.OrderedDict()
    for i, dt in enumerate([torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool]):
        shape = [int(x) for x in torch.randint(1, 5, (1 + i % 3,), generator=g)]
        t = (torch.randn(shape, generator=g) * 50).to(dt)
        sd[f'layer{i}.weight'] = t
        if t.dim() >= 2:
            sd[f'layer{i}.t'] = t.transpose(0, 1)
        sd[f'layer{i}.slice'] = t.flatten()[1:]
    name = os.path.join(d, 'legacy.pth' if legacy else 'zip.pth')
    torch.save(sd, name, _use_new_zipfile_serialization=not legacy)
    res[name] = {k: [list(v.shape), v.double().flatten().tolist()] for k, v in sd.items()}
print(json.dumps(res))
`,
      d,
    );
    const res = JSON.parse(out) as Record<string, Record<string, [number[], number[]]>>;
    for (const [file, want] of Object.entries(res)) {
      const sd = readPthStateDict(file).tensors;
      assert.deepEqual([...sd.keys()], Object.keys(want));
      for (const [k, [shape, vals]] of Object.entries(want)) {
        const t = sd.get(k) as RawTensor;
        assert.ok(isPthTensor(t));
        assert.deepEqual(t.shape, shape, `${file} ${k}`);
        assert.deepEqual(values(t), vals, `${file} ${k}`);
      }
    }
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
