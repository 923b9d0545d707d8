import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tensor, fromBytes, toBytes, dispose, memory, type Tensor } from '../../src/torch/index.js';
import {
  MAX_HEADER_BYTES,
  loadSafetensors,
  loadSafetensorsRaw,
  parseSafetensors,
  parseSafetensorsRaw,
  readSafetensorsHeader,
  saveSafetensors,
  saveSafetensorsRaw,
  serializeSafetensors,
  serializeSafetensorsRaw,
  type RawTensor,
} from '../../src/io/index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const fixtures = fileURLToPath(new URL('../../../test/io/fixtures/', import.meta.url));

/** A file from header text and data, built here without ladet's writer: u64 LE length, text, data. */
function build(header: string, data: Uint8Array = new Uint8Array(0), n?: bigint): Uint8Array {
  const text = enc.encode(header);
  const out = new Uint8Array(8 + text.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, n ?? BigInt(text.byteLength), true);
  out.set(text, 8);
  out.set(data, 8 + text.byteLength);
  return out;
}

/** An independent reader: header length, header JSON and the data section, checked only for shape. */
function readByHand(bytes: Uint8Array): { n: number; text: string; header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const text = dec.decode(bytes.subarray(8, 8 + n));
  return { n, text, header: JSON.parse(text) as Record<string, unknown>, data: bytes.subarray(8 + n) };
}

function f32le(...xs: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(xs).buffer);
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'ladet-st-'));
}

const F32x2 = '{"dtype":"F32","shape":[2],"data_offsets":';

function rejects(bytes: Uint8Array, message: string | RegExp): void {
  assert.throws(() => parseSafetensorsRaw(bytes, 'bad.safetensors'), {
    name: 'SafetensorsError',
    message: typeof message === 'string' ? `bad.safetensors: ${message}` : message,
  });
}

// ---- byte layout ----------------------------------------------------------------------------------------------

test('one F32 tensor: exact bytes, header needing no padding', () => {
  const t = tensor([0, 1, 2, 3, 4, 5], [1, 2, 3]);
  const bytes = serializeSafetensors({ 'attn.0': t });
  t.dispose();
  const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
  assert.equal(header.length, 64);
  assert.deepEqual(bytes, build(header, f32le(0, 1, 2, 3, 4, 5)));
});

test('header is padded with spaces to a multiple of 8', () => {
  const t = tensor([0, 1, 2, 3, 4, 5], [1, 1, 2, 3]);
  const bytes = serializeSafetensors({ attn0: t });
  t.dispose();
  const header = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
  assert.equal(header.length, 65);
  assert.deepEqual(bytes, build(header + ' '.repeat(7), f32le(0, 1, 2, 3, 4, 5)));
  assert.equal(readByHand(bytes).n, 72);
});

test('empty file and metadata-only file', () => {
  assert.deepEqual(serializeSafetensors({}), build('{}      '));
  assert.deepEqual(serializeSafetensors({}, { framework: 'pt' }), build('{"__metadata__":{"framework":"pt"}}     '));
  const parsed = parseSafetensors(build('{"__metadata__":{"framework":"pt"}}     '), 'm');
  assert.equal(parsed.tensors.size, 0);
  assert.deepEqual(parsed.metadata, { framework: 'pt' });
  assert.equal(parseSafetensors(build('{}'), 'e').metadata, null);
});

test('tensors are laid out by descending dtype alignment, then by name (UTF-8 byte order)', () => {
  const u8 = (k: number): RawTensor => ({ dtype: 'U8', shape: [k], data: new Uint8Array(k).fill(k) });
  const raw = new Map<string, RawTensor>([
    ['b', { dtype: 'F32', shape: [1], data: f32le(2) }],
    ['a', { dtype: 'I64', shape: [1], data: new Uint8Array(8).fill(1) }],
    ['d', { dtype: 'F64', shape: [1], data: new Uint8Array(8).fill(4) }],
    ['z', { dtype: 'BOOL', shape: [1], data: new Uint8Array([1]) }],
    ['h', { dtype: 'F16', shape: [1], data: new Uint8Array([0, 0x3c]) }],
    ['g', { dtype: 'BF16', shape: [1], data: new Uint8Array([0x80, 0x3f]) }],
    ['é', u8(1)],
    ['\u{1F600}', u8(2)],
    ['\uFFFF', u8(3)],
    ['B', u8(4)],
    ['c', u8(5)],
  ]);
  const bytes = serializeSafetensorsRaw(raw);
  const { n, text, header, data } = readByHand(bytes);
  assert.equal(n % 8, 0);
  assert.match(text, /\} *$/);
  const order = Object.keys(header);
  // I64 > F64 > F32 > BF16 > F16 > U8 > BOOL; U8 names by UTF-8 bytes: 'B' < 'c' < 'é' (C3 A9) < U+FFFF (EF BF BF) < U+1F600 (F0 ...).
  assert.deepEqual(order, ['a', 'd', 'b', 'g', 'h', 'B', 'c', 'é', '\uFFFF', '\u{1F600}', 'z']);
  let pos = 0;
  for (const name of order) {
    const e = header[name] as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const t = raw.get(name) as RawTensor;
    assert.deepEqual(e, { dtype: t.dtype, shape: [...t.shape], data_offsets: [pos, pos + t.data.byteLength] });
    assert.deepEqual(data.subarray(pos, pos + t.data.byteLength), t.data);
    pos += t.data.byteLength;
  }
  assert.equal(pos, data.byteLength);
  // Every tensor of the 8-byte dtypes starts 8-aligned in the file.
  assert.equal((8 + n) % 8, 0);
});

test('metadata goes first in the header and keeps its key order', () => {
  const bytes = serializeSafetensorsRaw(
    { w: { dtype: 'U8', shape: [1], data: new Uint8Array([9]) } },
    new Map([
      ['z', '1'],
      ['a', 'two "quoted"\n'],
    ]),
  );
  const { text } = readByHand(bytes);
  assert.equal(
    text.trimEnd(),
    '{"__metadata__":{"z":"1","a":"two \\"quoted\\"\\n"},"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
  );
});

// ---- reading files built independently ------------------------------------------------------------------------

test('parses a hand-built file with two dtypes, offsets out of name order and extra whitespace', () => {
  const data = new Uint8Array(8 + 4 * 3);
  new DataView(data.buffer).setBigInt64(0, -5n, true);
  data.set(f32le(1.5, -2, 0.25), 8);
  const header =
    '{ "w": {"shape": [3], "dtype": "F32", "data_offsets": [8, 20]},\n' +
    '  "__metadata__": {"note": "hand built", "__proto__": "kept"},\n' +
    '  "n": {"data_offsets": [0, 8], "dtype": "I64", "shape": []} }   ';
  const { tensors, metadata } = parseSafetensors(build(header, data), 'hand');
  assert.deepEqual([...tensors.keys()], ['n', 'w']);
  const w = tensors.get('w') as Tensor;
  const n = tensors.get('n') as Tensor;
  assert.deepEqual(w.shape, [3]);
  assert.equal(w.dtype, 'float32');
  assert.deepEqual(w.toArray(), [1.5, -2, 0.25]);
  assert.deepEqual(n.shape, []);
  assert.equal(n.dtype, 'int64');
  assert.deepEqual(Array.from(n.toTypedArray<'int64'>()), [-5n]);
  assert.equal(metadata?.note, 'hand built');
  assert.deepEqual(Object.getOwnPropertyDescriptor(metadata, '__proto__')?.value, 'kept');
  dispose(tensors);
});

test('a file written by an independent Python writer loads and re-serialises to the same bytes', () => {
  const path = join(fixtures, 'python.safetensors');
  const { tensors, metadata } = loadSafetensors(path);
  assert.deepEqual(metadata, { format: 'pt', written_by: 'safetensors_peer.py' });
  const get = (k: string): Tensor => tensors.get(k) as Tensor;
  assert.deepEqual(get('conv.weight').shape, [2, 3, 2, 2]);
  assert.deepEqual(
    get('conv.weight').toArray(),
    Array.from({ length: 24 }, (_, i) => i / 8 - 1),
  );
  assert.deepEqual(get('conv.bias').toArray(), Array.from(Float32Array.from([0.1, -0.2])));
  assert.deepEqual(Array.from(get('bn.num_batches_tracked').toTypedArray<'int64'>()), [7n]);
  assert.deepEqual(get('bn.num_batches_tracked').shape, []);
  const half = get('half').to('float32');
  assert.deepEqual(half.toArray(), [1, -2.5, 65504, 5.960464477539063e-8]);
  const brain = get('brain').to('float32');
  assert.deepEqual(brain.toArray(), [1, -3, 3.140625]);
  dispose([half, brain]);
  assert.deepEqual(get('double').toArray(), [3.141592653589793, -1e-300]);
  assert.deepEqual(get('ints').toArray(), [-2147483648, 2147483647, 5]);
  assert.equal(get('shorts').dtype, 'int16');
  assert.deepEqual(get('shorts').toArray(), [-32768, 32767]);
  assert.deepEqual(get('bytes').toArray(), [0, 128, 255]);
  assert.equal(get('sbytes').dtype, 'int8');
  assert.deepEqual(get('sbytes').toArray(), [-128, 127]);
  assert.equal(get('mask').dtype, 'bool');
  assert.deepEqual(get('mask').toArray(), [1, 0, 1]);
  assert.deepEqual(get('empty').shape, [2, 0]);
  assert.deepEqual(serializeSafetensors(tensors, metadata), new Uint8Array(readFileSync(path)));
  dispose(tensors);
});

const python = spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;

test(
  'an independent Python reader reads what ladet writes',
  { skip: !python && 'no /usr/bin/python3 with torch' },
  () => {
    const dir = tmp();
    try {
      const path = join(dir, 'ladet.safetensors');
      const a = tensor([1.25, -0.5], [2, 1]);
      const b = tensor(BigInt64Array.from([-(2n ** 63n), 3n]));
      const c = fromBytes(new Uint8Array([0x00, 0x3c, 0x00, 0xc0]), 'float16', [2]);
      saveSafetensors(path, { 'layer.a': a, b, c }, { epoch: '3' });
      dispose([a, b, c]);
      const r = spawnSync('/usr/bin/python3', [join(fixtures, 'safetensors_peer.py'), 'read', path], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), {
        __metadata__: { epoch: '3' },
        'layer.a': { dtype: 'F32', shape: [2, 1], hex: '0000a03f000000bf' },
        b: { dtype: 'I64', shape: [2], hex: '00000000000000800300000000000000' },
        c: { dtype: 'F16', shape: [2], hex: '003c00c0' },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

// ---- round trips ----------------------------------------------------------------------------------------------

/** Round-trips through bytes and checks dtype, shape and every byte of the elements. */
function roundTrip(t: Tensor): Tensor {
  const { tensors } = parseSafetensors(serializeSafetensors({ t }), 'rt');
  const back = tensors.get('t') as Tensor;
  assert.equal(back.dtype, t.dtype);
  assert.deepEqual(back.shape, t.shape);
  assert.deepEqual(toBytes(back), toBytes(t));
  return back;
}

test('round trip of every dtype, values compared exactly', () => {
  const before = memory().numTensors;
  const cases: Tensor[] = [
    tensor([1.5, -2.25, 3.4028234663852886e38, 1.401298464324817e-45, -0, Infinity, NaN], [7], { dtype: 'float32' }),
    tensor(Float64Array.from([Math.PI, -0, 5e-324, -Infinity, NaN, 1e308]), [2, 3]),
    fromBytes(
      new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x8000]).buffer),
      'float16',
      [3, 2],
    ),
    fromBytes(new Uint8Array(new Uint16Array([0x3f80, 0xc040, 0x7f7f, 0x4049]).buffer), 'bfloat16', [4]),
    tensor(BigInt64Array.from([2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 0n, -1n])),
    tensor(Int32Array.from([2147483647, -2147483648, 0, 7]), [2, 2]),
    tensor(Int16Array.from([32767, -32768, 1])),
    tensor(Int8Array.from([127, -128, 0])),
    tensor(Uint8Array.from([255, 0, 128])),
    tensor([true, false, true, true], [2, 2]),
    tensor([42], []),
    tensor([], [0, 3]),
  ];
  const expected: unknown[] = [
    [1.5, -2.25, 3.4028234663852886e38, 1.401298464324817e-45, -0, Infinity, NaN],
    [Math.PI, -0, 5e-324, -Infinity, NaN, 1e308],
    [1, -2, 65504, 5.960464477539063e-8, Infinity, -0],
    [1, -3, 3.3895313892515355e38, 3.140625],
    [2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 0n, -1n],
    [2147483647, -2147483648, 0, 7],
    [32767, -32768, 1],
    [127, -128, 0],
    [255, 0, 128],
    [1, 0, 1, 1],
    [42],
    [],
  ];
  for (let i = 0; i < cases.length; i++) {
    const t = cases[i] as Tensor;
    const back = roundTrip(t);
    let values: unknown[];
    if (back.dtype === 'int64') values = Array.from(back.toTypedArray<'int64'>());
    else if (back.dtype === 'float16' || back.dtype === 'bfloat16') {
      const f = back.to('float32');
      values = f.toArray();
      f.dispose();
    } else values = back.toArray();
    // deepEqual uses Object.is: -0 and NaN are checked too.
    assert.deepEqual(values, expected[i], `case ${i} (${t.dtype})`);
    back.dispose();
  }
  dispose(cases);
  assert.equal(memory().numTensors, before);
});

test('non-contiguous and grad-requiring tensors are written as their values', () => {
  const base = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  base.requiresGrad = true;
  const tr = base.transpose(0, 1);
  const { tensors } = parseSafetensors(serializeSafetensors(new Map([['t', tr]])), 'nc');
  const back = tensors.get('t') as Tensor;
  assert.deepEqual(back.shape, [3, 2]);
  assert.deepEqual(back.toArray(), [1, 4, 2, 5, 3, 6]);
  assert.equal(back.requiresGrad, false);
  dispose([base, tr, back]);
});

test('save and load a file: atomic write, metadata, header only, raw dtypes', () => {
  const dir = tmp();
  try {
    const path = join(dir, 'sub', 'w.safetensors');
    const a = tensor([1, 2, 3]);
    const b = tensor(Int32Array.from([4, 5]), [1, 2]);
    // fromEntries makes '__proto__' a plain key, as a file may have it.
    saveSafetensors(
      path,
      { a, b },
      Object.fromEntries([
        ['epoch', '12'],
        ['__proto__', 'x'],
      ]),
    );
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['w.safetensors']);
    const h = readSafetensorsHeader(path);
    assert.deepEqual(
      h.entries.map((e) => [e.name, e.dtype, e.shape, e.begin, e.end]),
      [
        ['a', 'F32', [3], 0, 12],
        ['b', 'I32', [1, 2], 12, 20],
      ],
    );
    assert.equal(h.dataStart, 8 + h.headerBytes);
    assert.equal(h.dataBytes, 20);
    const { tensors, metadata } = loadSafetensors(path);
    assert.deepEqual(Object.entries(metadata ?? {}), [
      ['epoch', '12'],
      ['__proto__', 'x'],
    ]);
    assert.ok((tensors.get('a') as Tensor).equal(a));
    assert.ok((tensors.get('b') as Tensor).equal(b));
    dispose([a, b, tensors]);
    // Overwriting keeps a single file.
    saveSafetensorsRaw(path, { u: { dtype: 'U16', shape: [2], data: new Uint8Array([1, 0, 255, 255]) } });
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['w.safetensors']);
    const raw = loadSafetensorsRaw(path);
    assert.deepEqual(raw.tensors.get('u'), { dtype: 'U16', shape: [2], data: new Uint8Array([1, 0, 255, 255]) });
    assert.equal(raw.metadata, null);
    // U16 has no libtorch dtype: the tensor-level loader refuses it before reading data.
    assert.throws(() => loadSafetensors(path), {
      message: `${path}: tensor 'u' has dtype U16, which ladet tensors do not support (loadSafetensorsRaw reads it as bytes)`,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- malformed input ------------------------------------------------------------------------------------------

test('truncated: shorter than the 8-byte length', () => {
  rejects(
    new Uint8Array(5),
    'file is 5 bytes, too short for the 8-byte header length: truncated or not a safetensors file',
  );
  rejects(new Uint8Array(0), /file is 0 bytes/);
});

test('truncated: header length past the end of the file', () => {
  rejects(
    build('{}', new Uint8Array(0), 100n),
    'header length 100 bytes runs past the end of the 10-byte file: truncated or not a safetensors file',
  );
});

test('oversized header length', () => {
  rejects(
    build('{}', new Uint8Array(0), 2n ** 40n),
    `header length ${2 ** 40} bytes exceeds the limit of ${MAX_HEADER_BYTES}: corrupt or not a safetensors file`,
  );
  rejects(build('{}', new Uint8Array(0), 2n ** 64n - 1n), /header length 18446744073709551615 bytes exceeds the limit/);
  rejects(build('{}', new Uint8Array(0), BigInt(MAX_HEADER_BYTES + 1)), /exceeds the limit of 100000000/);
});

test('truncated: data shorter than the offsets', () => {
  rejects(
    build(`{"w":${F32x2}[0,8]}}`, f32le(1)),
    "header: tensor 'w': data_offsets [0, 8] run past the end of the 4-byte data section: truncated file?",
  );
});

test('a truncated file on disk is reported with its path', () => {
  const dir = tmp();
  try {
    const path = join(dir, 'cut.safetensors');
    const t = tensor([1, 2, 3, 4]);
    saveSafetensors(path, { t });
    t.dispose();
    truncateSync(path, readFileSync(path).byteLength - 3);
    assert.throws(() => loadSafetensors(path), {
      message: `${path}: header: tensor 't': data_offsets [0, 16] run past the end of the 13-byte data section: truncated file?`,
    });
    writeFileSync(path, new Uint8Array(3));
    assert.throws(() => loadSafetensors(path), {
      message: new RegExp(`^${path.replace(/[.\\]/g, '\\$&')}: file is 3 bytes`),
    });
    assert.throws(() => readSafetensorsHeader(path), /file is 3 bytes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('header that is not UTF-8, not JSON or not an object', () => {
  const bad = build('{"a":1}');
  bad[10] = 0xff;
  rejects(bad, 'header is not valid UTF-8');
  rejects(build('{not json}'), /^bad\.safetensors: header is not valid JSON \(.+\)$/);
  rejects(build('[1,2]   '), 'header is not a JSON object (got an array)');
  rejects(build('42'), 'header is not a JSON object (got number)');
  rejects(build('null'), 'header is not a JSON object (got null)');
  rejects(build('"{}"'), 'header is not a JSON object (got string)');
});

test('duplicate keys are refused although JSON.parse would accept them', () => {
  rejects(
    build(`{"w":${F32x2}[0,8]},"w":${F32x2}[0,8]}}`, f32le(1, 2)),
    `header: key 'w' appears twice (a tensor or "__metadata__" listed twice)`,
  );
  rejects(build(`{"w":${F32x2}[0,8]},"\\u0077":${F32x2}[0,8]}}`, f32le(1, 2)), /key 'w' appears twice/);
  rejects(
    build(`{"w":{"dtype":"F32","dtype":"F64","shape":[2],"data_offsets":[0,8]}}`, f32le(1, 2)),
    "header: key 'dtype' appears twice in 'w'",
  );
  rejects(build('{"__metadata__":{"a":"1","a":"2"}}'), "header: key 'a' appears twice in '__metadata__'");
  rejects(build('{"__metadata__":{},"__metadata__":{}}'), /key '__metadata__' appears twice/);
});

test('overlapping offsets', () => {
  rejects(
    build(`{"a":${F32x2}[0,8]},"b":${F32x2}[4,12]}}`, f32le(1, 2, 3)),
    "header: tensor 'b' (data_offsets [4, 12]) overlaps tensor 'a' (data_offsets [0, 8])",
  );
  rejects(build(`{"a":${F32x2}[0,8]},"b":${F32x2}[0,8]}}`, f32le(1, 2)), /overlaps tensor/);
});

test('holes and uncovered trailing data', () => {
  rejects(
    build(`{"a":${F32x2}[4,12]}}`, f32le(0, 1, 2)),
    "header: hole of 4 bytes before tensor 'a' (data_offsets [4, 12]): the data must be packed",
  );
  rejects(
    build(`{"a":${F32x2}[0,8]},"b":${F32x2}[12,20]}}`, f32le(0, 1, 2, 3, 4)),
    "header: hole of 4 bytes before tensor 'b' (data_offsets [12, 20]): the data must be packed",
  );
  rejects(
    build(`{"a":${F32x2}[0,8]}}`, f32le(0, 1, 2)),
    "4 bytes after the last tensor's data are not covered by any header entry (data section is 12 bytes)",
  );
  rejects(build('{}', new Uint8Array(1)), /1 bytes after the last tensor's data are not covered/);
});

test('out-of-range and malformed data_offsets', () => {
  const msg = (got: string): string =>
    `header: tensor 'a': data_offsets must be [begin, end] with integers 0 <= begin <= end, got ${got}`;
  rejects(build('{"a":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}}'), msg('[8,0]'));
  rejects(build('{"a":{"dtype":"U8","shape":[0],"data_offsets":[-1,-1]}}'), msg('[-1,-1]'));
  rejects(build('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0.5,1.5]}}', new Uint8Array(2)), msg('[0.5,1.5]'));
  rejects(build('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}}'), msg('[0]'));
  rejects(build('{"a":{"dtype":"U8","shape":[1],"data_offsets":"0,1"}}'), msg('"0,1"'));
  rejects(build('{"a":{"dtype":"U8","shape":[1]}}'), msg('undefined'));
  rejects(
    build('{"a":{"dtype":"U8","shape":[1],"data_offsets":[9007199254740991,9007199254740992]}}'),
    msg('[9007199254740991,9007199254740992]'),
  );
  rejects(
    build('{"a":{"dtype":"U8","shape":[1],"data_offsets":[1000,1001]}}', new Uint8Array(1)),
    "header: tensor 'a': data_offsets [1000, 1001] run past the end of the 1-byte data section: truncated file?",
  );
});

test('unknown or missing dtype', () => {
  rejects(
    build(`{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}`, new Uint8Array(16)),
    'header: tensor \'a\': unknown dtype "F128" (known: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64)',
  );
  rejects(build(`{"a":{"dtype":"float32","shape":[1],"data_offsets":[0,4]}}`, f32le(1)), /unknown dtype "float32"/);
  rejects(build(`{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, f32le(1)), /unknown dtype 4 /);
  rejects(build(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, f32le(1)), "header: tensor 'a': dtype is missing");
});

test('shape and offsets that disagree on the byte count', () => {
  rejects(
    build(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, f32le(1, 2)),
    "header: tensor 'a': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] span 8",
  );
  rejects(
    build(`{"a":{"dtype":"I64","shape":[2,0],"data_offsets":[0,8]}}`, new Uint8Array(8)),
    "header: tensor 'a': shape [2, 0] of I64 needs 0 bytes but data_offsets [0, 8] span 8",
  );
});

test('negative, fractional, non-numeric or overflowing shape entries', () => {
  const e = (shape: string): Uint8Array => build(`{"a":{"dtype":"U8","shape":${shape},"data_offsets":[0,0]}}`);
  rejects(e('[-1]'), "header: tensor 'a': shape [-1] has -1, not a non-negative integer");
  rejects(e('[2, 1.5]'), "header: tensor 'a': shape [2, 1.5] has 1.5, not a non-negative integer");
  rejects(e('["2"]'), `header: tensor 'a': shape ["2"] has "2", not a non-negative integer`);
  rejects(e('[null]'), "header: tensor 'a': shape [null] has null, not a non-negative integer");
  rejects(e('2'), "header: tensor 'a': shape must be an array of integers");
  rejects(e('[4294967296, 4294967296]'), "header: tensor 'a': shape [4294967296, 4294967296] has too many elements");
  rejects(build('{"a":[1,2]}'), "header: tensor 'a': entry must be an object with dtype, shape and data_offsets");
});

test('metadata that is not a map of strings', () => {
  rejects(build('{"__metadata__":{"epoch":3}}'), `header: "__metadata__" value of 'epoch' must be a string, got 3`);
  rejects(
    build('{"__metadata__":{"a":{"b":"c"}}}'),
    `header: "__metadata__" value of 'a' must be a string, got {"b":"c"}`,
  );
  rejects(build('{"__metadata__":["a"]}'), 'header: "__metadata__" must be an object of strings');
  rejects(build('{"__metadata__":"x"}'), 'header: "__metadata__" must be an object of strings');
});

test('bool tensors must hold 0 or 1', () => {
  assert.throws(
    () =>
      parseSafetensors(
        build('{"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}}', new Uint8Array([1, 0, 2])),
        'm.st',
      ),
    {
      message: "m.st: tensor 'm': BOOL element 2 is byte 2, not 0 or 1",
    },
  );
});

test('the writer refuses invalid tensors and metadata', () => {
  const bad = (tensors: Record<string, RawTensor>, message: string, metadata?: Record<string, string>): void => {
    assert.throws(() => serializeSafetensorsRaw(tensors, metadata), {
      name: 'SafetensorsError',
      message: `safetensors: ${message}`,
    });
  };
  bad(
    { w: { dtype: 'F32', shape: [3], data: new Uint8Array(8) } },
    "tensor 'w': shape [3] of F32 needs 12 bytes, data has 8",
  );
  bad(
    { w: { dtype: 'F32', shape: [-1], data: new Uint8Array(0) } },
    "tensor 'w': shape [-1] must list non-negative integers",
  );
  bad({ w: { dtype: 'X' as 'F32', shape: [], data: new Uint8Array(0) } }, `tensor 'w': unknown dtype "X"`);
  bad(
    { __metadata__: { dtype: 'U8', shape: [], data: new Uint8Array(1) } },
    'a tensor may not be named "__metadata__"',
  );
  bad({}, "metadata value of 'n' must be a string, got number", { n: 1 as unknown as string });
  const t = tensor([1]);
  const dir = tmp();
  try {
    const path = join(dir, 'x.safetensors');
    assert.throws(() => saveSafetensors(path, { t }, { n: 2 as unknown as string }), {
      message: `${path}: metadata value of 'n' must be a string, got number`,
    });
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    t.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
