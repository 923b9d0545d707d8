// Hostile header values found by test/fuzz/safetensors: a deeply nested or very long value where a dtype, shape,
// offsets or metadata string belongs must give a SafetensorsError naming the file with a short message, not a bare
// RangeError from JSON.stringify (stack overflow) nor a megabyte-long message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensorsRaw, readSafetensorsHeader } from '../../src/io/index.js';

function build(header: string): Uint8Array {
  const text = Buffer.from(header, 'utf8');
  const out = Buffer.alloc(8 + text.length);
  out.writeBigUInt64LE(BigInt(text.length));
  text.copy(out, 8);
  return out;
}

const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
const deepObject = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;

test('deeply nested header values: a SafetensorsError naming the file, with the value abbreviated', () => {
  const cases: [string, string][] = [
    [`{"t":{"dtype":${deep},"shape":[],"data_offsets":[0,0]}}`, `header: tensor 't': unknown dtype [[…]] (known: `],
    [`{"t":{"dtype":${deepObject},"shape":[],"data_offsets":[0,0]}}`, `header: tensor 't': unknown dtype {…} (known: `],
    [
      `{"t":{"dtype":"F32","shape":[1,${deep}],"data_offsets":[0,4]}}`,
      `header: tensor 't': shape [1, […]] has […], not a non-negative integer`,
    ],
    [
      `{"t":{"dtype":"F32","shape":[],"data_offsets":[0,${deep}]}}`,
      `header: tensor 't': data_offsets must be [begin, end] with integers 0 <= begin <= end, got [0,[…]]`,
    ],
    [
      `{"t":{"dtype":"F32","shape":[],"data_offsets":${deepObject}}}`,
      `header: tensor 't': data_offsets must be [begin, end] with integers 0 <= begin <= end, got {…}`,
    ],
    [`{"__metadata__":{"m":${deep}}}`, `header: "__metadata__" value of 'm' must be a string, got [[…]]`],
  ];
  const dir = mkdtempSync(join(tmpdir(), 'ladet-st-hostile-'));
  for (const [header, message] of cases) {
    const bytes = build(header);
    assert.throws(
      () => parseSafetensorsRaw(bytes, 'mem.safetensors'),
      (e: Error) => e.name === 'SafetensorsError' && e.message.startsWith(`mem.safetensors: ${message}`),
    );
    const path = join(dir, 'hostile.safetensors');
    writeFileSync(path, bytes);
    assert.throws(
      () => readSafetensorsHeader(path),
      (e: Error) => e.name === 'SafetensorsError' && e.message.startsWith(`${path}: ${message}`),
    );
  }
});

test('long header values are shown in a few items', () => {
  const long = `[${new Array(100_000).fill(7).join(',')}]`;
  assert.throws(() => parseSafetensorsRaw(build(`{"t":{"dtype":"F32","shape":[],"data_offsets":${long}}}`), 'm.st'), {
    name: 'SafetensorsError',
    message: `m.st: header: tensor 't': data_offsets must be [begin, end] with integers 0 <= begin <= end, got [7,7,7,7,7,7,7,7,… (100000 items)]`,
  });
  assert.throws(
    () =>
      parseSafetensorsRaw(
        build(`{"t":{"dtype":"F32","shape":${long.replace('7', '-1')},"data_offsets":[0,4]}}`),
        'm.st',
      ),
    {
      name: 'SafetensorsError',
      message: `m.st: header: tensor 't': shape [-1, 7, 7, 7, 7, 7, 7, 7, … (100000 dimensions)] has -1, not a non-negative integer`,
    },
  );
  assert.throws(
    () => parseSafetensorsRaw(build(`{"t":{"dtype":"${'F'.repeat(1000)}","shape":[],"data_offsets":[0,0]}}`), 'm.st'),
    (e: Error) => e.message.length < 300,
  );
});
