// readJsonFile's streaming path (files too large for one string: data/json.ts), forced on small files: the value is
// JSON.parse's for any chunk size (tokens and multi-byte UTF-8 cut at chunk ends), and malformed, truncated or empty
// files give a JsonFileError naming the file (and the byte where the parser stopped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonFileError, readJsonFile } from '../../src/data/json.js';

const dir = mkdtempSync(join(tmpdir(), 'ladet-json-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const COCO_LIKE = {
  info: { description: 'Été 漢字 🎉 "quoted" \\ back\\slash', year: 2026 },
  images: Array.from({ length: 40 }, (_, i) => ({ id: i + 1, file_name: `img_${i}_é.png`, width: 640, height: 480 })),
  annotations: Array.from({ length: 60 }, (_, i) => ({
    id: i + 1,
    image_id: (i % 40) + 1,
    category_id: (i % 3) + 1,
    bbox: [i * 1.5, -0.25, 1e-7 * i, 3.25e5],
    area: i * 0.125,
    iscrowd: 0,
    segmentation: [],
  })),
  categories: [
    { id: 1, name: 'a', supercategory: null },
    { id: 2, name: 'ü', keypoints: [true, false] },
    { id: 3, name: '😀' },
  ],
};

test('the streaming path gives JSON.parse’s value at every chunk size, UTF-8 and tokens cut at chunk ends', () => {
  const text = JSON.stringify(COCO_LIKE, null, 1);
  const f = file('coco.json', text);
  const want = JSON.parse(text) as unknown;
  for (const chunkBytes of [1, 2, 3, 7, 64, 4096, 1 << 20])
    assert.deepEqual(readJsonFile(f, { streamFrom: 0, chunkBytes }), want, `chunk ${chunkBytes}`);
  // below the threshold: the one-string path, the same value
  assert.deepEqual(readJsonFile(f), want);
});

test('malformed, truncated and empty files: a JsonFileError naming the file (and the byte) on the streaming path', () => {
  const bad = '{"images": [1, 2,, 3]}';
  const f = file('bad.json', bad);
  assert.throws(
    () => readJsonFile(f, { streamFrom: 0, chunkBytes: 5 }),
    (e: unknown) =>
      e instanceof JsonFileError &&
      // the parser names no byte: the 5-byte chunk holding the second comma (bytes 15-19)
      bad.indexOf(',,') + 1 === 17 &&
      e.message.startsWith(`${f}: invalid JSON in bytes 15-19: `) &&
      e.message.length < 400,
  );
  const cut = JSON.stringify(COCO_LIKE).slice(0, 500);
  const t = file('truncated.json', cut);
  assert.throws(
    () => readJsonFile(t, { streamFrom: 0, chunkBytes: 64 }),
    (e: unknown) => e instanceof JsonFileError && e.message.startsWith(`${t}: invalid JSON at the end (byte ${Buffer.byteLength(cut)}): `),
  );
  const empty = file('empty.json', '');
  assert.throws(
    () => readJsonFile(empty, { streamFrom: 0 }),
    (e: unknown) => e instanceof JsonFileError && e.message === `${empty}: invalid JSON: no value (an empty or truncated file)`,
  );
  const nan = file('nan.json', '{"bbox": [1, NaN]}');
  assert.throws(
    () => readJsonFile(nan, { streamFrom: 0 }),
    (e: unknown) => e instanceof JsonFileError && e.message.startsWith(`${nan}: invalid JSON at byte 13`),
  );
});
