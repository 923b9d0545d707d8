// COCO results files read streaming (src/eval/results_reader.ts): the same columns and messages as parsing the whole
// file, for files read in chunks smaller than one entry, and a 10-million-detection file (past V8's longest string).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  detectionsFromList,
  evaluateCoco,
  parseCocoGt,
  readDetections,
  type Detections,
} from '../../src/eval/index.js';
import { readResultsFile } from '../../src/eval/results_reader.js';
import { Rng } from '../../src/data/rng.js';

function withDir(f: (dir: string) => void): () => void {
  return () => {
    const dir = mkdtempSync(join(tmpdir(), 'ladet-results-'));
    try {
      f(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const gt = parseCocoGt(
  {
    images: [{ id: 3 }, { id: 1 }, { id: 700000 }],
    categories: [
      { id: 7, name: 'cat' },
      { id: 2, name: 'dog' },
    ],
    annotations: [{ id: 10, image_id: 1, category_id: 7, bbox: [0, 0, 4, 5] }],
  },
  'g.json',
);

function columns(d: Detections): unknown {
  return { count: d.count, image: [...d.image], category: [...d.category], scores: [...d.scores], boxes: [...d.boxes] };
}

/** Numbers in the forms JSON writers produce: shortest round-trip, fixed, exponent, 17 digits, integers. */
function numberText(rng: Rng, v: number): string {
  switch (rng.int(0, 5)) {
    case 0:
      return String(v);
    case 1:
      return v.toFixed(rng.int(0, 8));
    case 2:
      return v.toExponential(rng.int(0, 16)).replace('e+', rng.chance(0.5) ? 'e' : 'E+');
    case 3:
      return v.toPrecision(17);
    case 4:
      return v.toPrecision(rng.int(1, 16));
    default:
      return String(Math.round(v));
  }
}

test(
  'streaming reader: any chunk size (down to less than one entry) gives the columns JSON.parse gives, bit for bit',
  withDir((dir) => {
    const rng = new Rng(11);
    const ws = ['', ' ', '\n', '\t', '\r\n  '];
    const sp = (): string => ws[rng.int(0, ws.length - 1)]!;
    const entries: string[] = [];
    for (let i = 0; i < 400; i++) {
      const num = (v: number): string => numberText(rng, v);
      const fields = [
        `"image_id"${sp()}:${sp()}${[3, 1, 700000][rng.int(0, 2)]}`,
        `"category_id":${sp()}${rng.chance(0.5) ? 7 : 2}`,
        `"bbox":${sp()}[${sp()}${num(rng.uniform(-50, 1000))},${num(rng.uniform(0, 1e3))}${sp()},${num(rng.uniform(0, 300))},${sp()}${num(rng.uniform(0, 1e-3) * 10 ** rng.int(0, 6))}]`,
        `"score":${num(rng.uniform(0, 1) * 10 ** -rng.int(0, 30))}`,
      ];
      // extra keys a results file may carry, with any JSON in them (strings with escapes and non-ASCII too)
      if (rng.chance(0.3))
        fields.push(
          `"segmentation":{"counts":"a\\"b\\\\c\\u00e9ü✓","size":[${rng.int(1, 9)},2],"x":[[],{},null,true,false,-0.5e-3]}`,
        );
      if (rng.chance(0.2)) fields.push('"area":12.5');
      if (rng.chance(0.1)) fields.push('"\\u0073core":0.25'); // an escaped key: still "score"
      if (rng.chance(0.1)) fields.push('"score":-0'); // repeated: the last one counts, as JSON.parse
      rng.shuffle(fields);
      entries.push(`${sp()}{${sp()}${fields.join(`${sp()},${sp()}`)}${sp()}}`);
    }
    const text = `${sp()}[${entries.join(',')}]${sp()}\n`;
    const file = join(dir, 'dets.json');
    writeFileSync(file, text);
    const want = columns(detectionsFromList(JSON.parse(text), gt, file));
    for (const chunkBytes of [16, 17, 61, 1000, undefined]) {
      const got = readDetections(file, gt, chunkBytes === undefined ? {} : { chunkBytes });
      assert.deepEqual(columns(got), want, `chunkBytes ${chunkBytes}`);
      for (const [a, b] of [[got.scores, (want as { scores: number[] }).scores]] as const) {
        a.forEach((v, k) => assert.ok(Object.is(v, b[k]), `score ${k}: ${v} vs ${b[k]} (-0 kept)`));
      }
    }
    // Streaming: entries are handed over as they are read, 16 bytes at a time, so a file broken at its end has
    // delivered all its entries before the error.
    writeFileSync(file, `${text.trimEnd().slice(0, -1)}, oops]`);
    const at: number[] = [];
    assert.throws(
      () => readResultsFile(file, (_i, _e, bytesRead) => void at.push(bytesRead), 16),
      /dets\.json: \[400\]: expected an object \{image_id, category_id, bbox, score\}$/,
    );
    assert.equal(at.length, 400);
    assert.ok(at.every((b, k) => k === 0 || b > at[k - 1]!) && at[0]! < 400, `${at.slice(0, 3)}`);
    // An empty list is fine.
    writeFileSync(file, ' [ ] ');
    assert.equal(readDetections(file, gt, { chunkBytes: 16 }).count, 0);
  }),
);

test(
  'streaming reader: a bad entry names the file, the index and the field, as the list reader does',
  withDir((dir) => {
    const file = join(dir, 'd.json');
    const ok = { image_id: 1, category_id: 7, bbox: [0, 0, 4, 5], score: 0.5 };
    const cases: unknown[] = [
      { ...ok, image_id: 99 },
      { ...ok, image_id: 1.5 },
      { ...ok, image_id: '1' },
      { ...ok, category_id: 3 },
      { ...ok, score: '0.5' },
      { ...ok, score: null },
      { ...ok, score: '1e400' },
      { ...ok, bbox: [0, 0, 5, -1] },
      { ...ok, bbox: [0, 0, 5] },
      { ...ok, bbox: [0, 0, 5, 5, 5] },
      { ...ok, bbox: '0,0,5,5' },
      { ...ok, bbox: [0, null, 5, 5] },
      { ...ok, bbox: [0, 0, true, 5] },
      { image_id: 1, category_id: 7, score: 0.5 },
      7,
      [1, 2],
    ];
    for (const entry of cases) {
      writeFileSync(file, JSON.stringify([ok, entry]));
      let want = '';
      try {
        detectionsFromList([ok, entry], gt, file);
      } catch (e) {
        want = (e as Error).message;
      }
      assert.ok(want.startsWith(`${file}: [1]`), want);
      assert.throws(() => readDetections(file, gt, { chunkBytes: 16 }), { message: want }, JSON.stringify(entry));
    }
    // a number too large for a double is Infinity, as JSON.parse reads it
    writeFileSync(file, '[{"image_id":1,"category_id":7,"bbox":[0,0,1e400,1],"score":0.5}]');
    assert.throws(() => readDetections(file, gt), {
      message: `${file}: [0].bbox[2]: must be a finite number (got Infinity)`,
    });
    // an array or object where a number belongs is named as such
    writeFileSync(file, '[{"image_id":1,"category_id":7,"bbox":[0,0,1,1],"score":{"v":1}}]');
    assert.throws(() => readDetections(file, gt), {
      message: `${file}: [0].score: must be a finite number (got an object)`,
    });
    writeFileSync(file, '{"annotations": []}');
    assert.throws(() => readDetections(file, gt), {
      message: `${file}: expected a JSON array of detections {image_id, category_id, bbox, score}`,
    });
  }),
);

test(
  'streaming reader: JSON errors name the file, line, column and detection; NaN and Infinity are named',
  withDir((dir) => {
    const file = join(dir, 'd.json');
    const good = '{"image_id": 1, "category_id": 7, "bbox": [0, 0, 4, 5], "score": 0.5}';
    const bad = (text: string, message: string): void => {
      writeFileSync(file, text);
      for (const chunkBytes of [16, 1 << 20])
        assert.throws(() => readDetections(file, gt, { chunkBytes }), { message: `${file}: ${message}` });
    };
    bad(
      `[${good},\n${good.replace('0.5}', 'NaN}')}]`,
      'not valid JSON (it contains NaN or Infinity, which JSON cannot hold): [1].score is NaN at line 2, column 66',
    );
    bad(
      `[${good.replace('[0, 0', '[-Infinity, 0')}]`,
      'not valid JSON (it contains NaN or Infinity, which JSON cannot hold): [0].bbox[0] is -Infinity at line 1, column 46',
    );
    bad(`[${good}\n${good}]`, "not valid JSON at line 2, column 1: expected ',' or ']' after detection [0] (got '{')");
    bad(`[${good},]`, "not valid JSON at line 1, column 72 (in detection [1]): expected a detection (got ']')");
    bad(
      `[${good.replace(', "score"', ' "score"')}]`,
      "not valid JSON at line 1, column 57 (in detection [0]): expected ',' or '}' in the detection (got '\"')",
    );
    bad(
      `[${good.replace('"bbox"', '"bbox')}]`,
      "not valid JSON at line 1, column 58 (in detection [0]): expected ':' after the key (got 's')",
    );
    bad(
      `[${good.replace('0.5', '05')}]`,
      "not valid JSON at line 1, column 68 (in detection [0], score): a number may not start with 0 (got '5')",
    );
    bad(
      `[${good.replace('0.5', '.5')}]`,
      "not valid JSON at line 1, column 67 (in detection [0], score): expected a value (got '.')",
    );
    bad(
      `[${good}`,
      "not valid JSON at line 1, column 71: expected ',' or ']' after detection [0] (got the end of the file)",
    );
    bad(
      `[${good.slice(0, 30)}`,
      'not valid JSON at line 1, column 32 (in detection [0], category_id): expected a value (got the end of the file)',
    );
    bad(
      `[${good.replace('"bbox"', '"bb\u0001ox"')}]`,
      'not valid JSON at line 1, column 39 (in detection [0]): a control character in a string (got byte 0x01)',
    );
    bad(`[${good}] x`, "not valid JSON at line 1, column 73: unexpected data after the array of detections (got 'x')");
    bad('', 'not valid JSON at line 1, column 1: the file is empty; expected a JSON array of detections');
    bad(
      `[${good.replace('0.5}', 'tru}')}]`,
      "not valid JSON at line 1, column 70 (in detection [0], score): expected 'true' (got '}')",
    );
  }),
);

/**
 * Pattern image j of the 10M test: one GT of category 1 (and one of category 2 on even j) and 100 detections: the
 * GT's detection, shifted by (j % 10) * 2 px so its IoU varies, with a score no other image of the pattern has; and
 * 98-99 detections away from every GT. Repeating the pattern R times repeats each score R times: the precision /
 * recall curves keep their corners, so the 12 COCO numbers of R copies are those of one.
 */
function patternDetections(j: number): { c: number; b: number[]; s: number }[] {
  const e = [{ c: 1, b: [10 + (j % 10) * 2, 10, 40, 40], s: 0.5 + j / 200 + 0.001 }];
  if (j % 2 === 0) e.push({ c: 2, b: [60, 60 + (j % 5), 20, 30], s: 0.5 + j / 200 + 0.002 });
  for (let k = e.length; k < 100; k++) {
    const w = 4 + ((k * 7 + j) % 60);
    const h = 4 + ((k * 13 + j) % 50);
    e.push({
      c: 1 + (k % 2),
      b: [200 + k * 3, 150 + (k % 17) * 5, w, h],
      s: Math.round(0.45 * ((k * 31 + j * 17) % 1000) * 10) / 1e4 + 0.00005,
    });
  }
  return e;
}

const PATTERN = 100;
const ID0 = 100000; // six-digit image ids: every copy of a pattern image has the same length in bytes

function patternGt(images: number): unknown {
  const annotations: unknown[] = [];
  const ids: { id: number }[] = [];
  for (let i = 0; i < images; i++) {
    const id = ID0 + i;
    ids.push({ id });
    annotations.push({ id: annotations.length + 1, image_id: id, category_id: 1, bbox: [10, 10, 40, 40] });
    if ((i % PATTERN) % 2 === 0)
      annotations.push({ id: annotations.length + 1, image_id: id, category_id: 2, bbox: [60, 60, 20, 30] });
  }
  return {
    images: ids,
    annotations,
    categories: [
      { id: 1, name: 'a' },
      { id: 2, name: 'b' },
    ],
  };
}

/** Writes the results of `images` images (the pattern repeated), streaming; returns the file size. */
function writePatternResults(file: string, images: number): number {
  const blocks = Array.from({ length: PATTERN }, (_, j) => {
    const text = patternDetections(j)
      .map((d) => `{"image_id":XXXXXX,"category_id":${d.c},"bbox":[${d.b.join(',')}],"score":${d.s}}`)
      .join(',');
    const buf = Buffer.from(text, 'latin1');
    const slots: number[] = [];
    for (let at = buf.indexOf('XXXXXX'); at >= 0; at = buf.indexOf('XXXXXX', at + 6)) slots.push(at);
    return { buf, slots };
  });
  const fd = openSync(file, 'w');
  try {
    const out = Buffer.allocUnsafe(8 << 20);
    let used = 0;
    out[used++] = 0x5b;
    for (let i = 0; i < images; i++) {
      const { buf, slots } = blocks[i % PATTERN]!;
      if (used + buf.length + 2 > out.length) {
        writeSync(fd, out, 0, used);
        used = 0;
      }
      if (i > 0) out[used++] = 0x2c;
      buf.copy(out, used);
      const id = String(ID0 + i);
      for (const s of slots) out.write(id, used + s, 'latin1');
      used += buf.length;
    }
    out[used++] = 0x5d;
    writeSync(fd, out, 0, used);
  } finally {
    closeSync(fd);
  }
  return statSync(file).size;
}

// ~770 MB in the temporary folder and ~1 GB of memory; about 20 s on 2 cores (write 2 s, read 6 s, evaluate 8 s).
const BIG_IMAGES = 100_000;
const freeBytes = ((): number => {
  try {
    const s = statfsSync(tmpdir());
    return s.bavail * s.bsize;
  } catch {
    return Infinity;
  }
})();
const skipBig = process.env.LADET_SKIP_BIG_TESTS
  ? 'LADET_SKIP_BIG_TESTS is set'
  : freeBytes < 2e9
    ? `only ${(freeBytes / 1e9).toFixed(1)} GB free in ${tmpdir()}`
    : false;

test(
  'ladet eval reads a 10-million-detection results file (past the longest JS string) and scores it as its 10,000-detection twin',
  { skip: skipBig },
  withDir((dir) => {
    const big = join(dir, 'big.json');
    const bytes = writePatternResults(big, BIG_IMAGES);
    assert.ok(bytes > 0x1fffffe8, `${bytes} bytes: more characters than one JS string can hold`);
    const bigGt = parseCocoGt(patternGt(BIG_IMAGES), 'big_gt.json');
    const dets = readDetections(big, bigGt);
    rmSync(big);
    assert.equal(dets.count, 10_000_000);
    // spot checks of the columns: first and last detection
    const first = patternDetections(0)[0]!;
    assert.deepEqual(
      [dets.image[0], dets.category[0], dets.scores[0], ...dets.boxes.subarray(0, 4)],
      [0, 0, first.s, ...first.b],
    );
    const lastPattern = patternDetections(PATTERN - 1);
    const last = lastPattern[lastPattern.length - 1]!;
    const n = dets.count - 1;
    assert.deepEqual(
      [dets.image[n], dets.category[n], dets.scores[n], ...dets.boxes.subarray(4 * n, 4 * n + 4)],
      [BIG_IMAGES - 1, last.c - 1, last.s, ...last.b],
    );
    const got = evaluateCoco(bigGt, dets);

    const small = join(dir, 'small.json');
    writePatternResults(small, PATTERN);
    const smallGt = parseCocoGt(patternGt(PATTERN), 'small_gt.json');
    const want = evaluateCoco(smallGt, readDetections(small, smallGt));
    assert.deepEqual(got.stats, want.stats);
    assert.deepEqual(got.perClassAP, want.perClassAP);
    // not a trivial case: APs away from 0 and 1
    assert.ok(want.stats[0]! > 0.3 && want.stats[0]! < 0.8, `AP ${want.stats[0]}`);
  }),
);
