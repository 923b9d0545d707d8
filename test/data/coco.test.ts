import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkCocoFile, CocoError, readCoco } from '../../src/data/coco.js';
import { firstSyntaxError } from '../../src/data/json.js';
import { LabelMap } from '../../src/data/label_map.js';
import { smallCoco, tempDir, writeJson, type CocoLike } from './fixtures.js';

const dir = tempDir();

/** Writes `value` as ann.json and returns the message readCoco throws. */
function errorOf(value: unknown): { file: string; message: string } {
  const file = writeJson(dir, 'ann.json', value);
  try {
    readCoco(file);
  } catch (e) {
    assert.ok(e instanceof CocoError, `expected a CocoError, got ${String(e)}`);
    return { file, message: e.message };
  }
  assert.fail('readCoco accepted a bad file');
}

function mutated(f: (c: CocoLike) => void): CocoLike {
  const c = smallCoco();
  f(c);
  return c;
}

test('a valid file reads back with its images, annotations and categories', () => {
  const ds = readCoco(writeJson(dir, 'ok.json', smallCoco()));
  assert.equal(ds.images.length, 2);
  assert.deepEqual(ds.image(2), { id: 2, fileName: 'b.png', width: 64, height: 48, index: 1 });
  assert.equal(ds.annotations.length, 3);
  assert.deepEqual(ds.annotationsOf(1).map((a) => a.id), [10, 11]);
  assert.deepEqual(ds.problems, []);
});

test('invalid JSON names the file, line and column', () => {
  const { file, message } = errorOf('{\n  "images": [],\n  "annotations": [,]\n}');
  assert.match(message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid JSON at line 3, column 19: `));
});

test('the JSON error position is found where V8 does not give one', () => {
  for (const [text, pos] of [
    ['{"a": [1, 2,]}', 12],
    ['{"a": 1 "b": 2}', 8],
    ['[1, 2', 5],
    ['{"a": tru}', 6],
    ['{"a": "x\\q"}', 9],
    ['{"a": -}', 6],
    ['{"a": [1, {"b": null}], "c": "\\u00e9"} x', 39],
  ] as const) {
    assert.equal(firstSyntaxError(text), pos, text);
    assert.throws(() => JSON.parse(text));
  }
  assert.equal(firstSyntaxError('{"a": [1, {"b": null}], "c": -1.5e3}'), null);
});

test('missing and mistyped fields name the entry and the field', () => {
  let r = errorOf(mutated((c) => delete c.images[1]!.width));
  assert.equal(r.message, `${r.file}: images[1] (id 2): missing field 'width'`);
  r = errorOf(mutated((c) => (c.annotations[2]!.image_id = '2')));
  assert.equal(r.message, `${r.file}: annotations[2] (id 12): 'image_id' must be a number (got "2")`);
  r = errorOf(mutated((c) => (c.images[0]!.height = 0)));
  assert.equal(r.message, `${r.file}: images[0] (id 1): 'height' must be > 0 (got 0)`);
  r = errorOf(mutated((c) => delete c.categories[0]!.name));
  assert.equal(r.message, `${r.file}: categories[0] (id 7): missing field 'name'`);
  r = errorOf({ images: [], categories: [] , annotations: 5 });
  assert.equal(r.message, `${r.file}: 'annotations' must be an array (got 5)`);
  r = errorOf({ annotations: [], categories: [] });
  assert.equal(r.message, `${r.file}: missing field 'images'`);
  r = errorOf(mutated((c) => (c.annotations[0]!.id = 1.5)));
  assert.equal(r.message, `${r.file}: annotations[0] (id 1.5): 'id' must be an integer (got 1.5)`);
});

test('duplicate ids name both entries', () => {
  let r = errorOf(mutated((c) => (c.images[1]!.id = 1)));
  // the second image is dropped, so annotation 12 (image 2) is then unknown: reported after it
  assert.equal(r.message, `${r.file}: images[1] (id 1): duplicate image id 1 (first at images[0]) (and 1 more; \`ladet data check ${r.file}\` lists them all)`);
  r = errorOf(mutated((c) => (c.annotations[2]!.id = 10)));
  assert.equal(r.message, `${r.file}: annotations[2] (id 10): duplicate annotation id 10 (first at annotations[0])`);
  r = errorOf(mutated((c) => (c.categories[1]!.id = 7)));
  assert.match(r.message, /: categories\[1\] \(id 7\): duplicate category id 7 \(first at categories\[0\]\)/);
});

test('annotations pointing at unknown images or categories', () => {
  let r = errorOf(mutated((c) => (c.annotations[1]!.image_id = 99)));
  assert.equal(r.message, `${r.file}: annotations[1] (id 11): unknown image_id 99`);
  r = errorOf(mutated((c) => (c.annotations[0]!.category_id = 1)));
  assert.equal(r.message, `${r.file}: annotations[0] (id 10): unknown category_id 1`);
});

test('NaN, negative and zero-size boxes', () => {
  const cases: [unknown[], string][] = [
    [[4, 6, -20, 10], 'bbox has negative width'],
    [[4, 6, 20, -1], 'bbox has negative height'],
    [[4, 6, 0, 10], 'bbox has zero width'],
    [[4, 6, 20, 0], 'bbox has zero height'],
    [[4, 6, 20], 'bbox must have 4 numbers [x, y, w, h] (got 3)'],
    [[4, '6', 20, 10], 'bbox[1] must be a number (got "6")'],
    // finite in JSON, infinite or overflowing as numbers (found by the fuzz suite)
    [[0, 0, 1e200, 1e200], 'bbox is too large: its corner (x + w, y + h) or area (w * h) overflows'],
    [[1e308, 0, 1e308, 5], 'bbox is too large: its corner (x + w, y + h) or area (w * h) overflows'],
  ];
  for (const [bbox, why] of cases) {
    const r = errorOf(mutated((c) => (c.annotations[0]!.bbox = bbox)));
    assert.equal(r.message, `${r.file}: annotations[0] (id 10): ${why}`);
  }
  // Python's json writes NaN / Infinity, which is not JSON: the entry is still named
  const text = JSON.stringify(smallCoco()).replace('[30,20,16,12]', '[30,20,NaN,12]').replace('[0,0,30,30]', '[0,0,30,-Infinity]');
  const r = errorOf(text);
  assert.equal(r.message, `${r.file}: annotations[1] (id 11): bbox[2] is NaN (and 1 more; \`ladet data check ${r.file}\` lists them all)`);
  const all = checkCocoFile(r.file).problems.map((p) => `${p.where}: ${p.message}`);
  assert.deepEqual(all, ['annotations[1] (id 11): bbox[2] is NaN', 'annotations[2] (id 12): bbox[3] is -Infinity']);
  // 1e400 is valid JSON that parses to Infinity
  const huge = errorOf(JSON.stringify(smallCoco()).replace('[30,20,16,12]', '[30,20,1e400,12]'));
  assert.equal(huge.message, `${huge.file}: annotations[1] (id 11): bbox[2] is not a finite number (Infinity)`);
});

test('file names that escape the image folder are rejected', () => {
  let r = errorOf(mutated((c) => (c.images[0]!.file_name = '../secret.png')));
  assert.equal(r.message, `${r.file}: images[0] (id 1): file_name "../secret.png" escapes the image folder`);
  r = errorOf(mutated((c) => (c.images[0]!.file_name = 'sub/../../x.png')));
  assert.equal(r.message, `${r.file}: images[0] (id 1): file_name "sub/../../x.png" escapes the image folder`);
  r = errorOf(mutated((c) => (c.images[1]!.file_name = '/etc/passwd')));
  assert.equal(r.message, `${r.file}: images[1] (id 2): file_name "/etc/passwd" is an absolute path; it must be relative to the image folder`);
  // a sub-folder that stays inside is fine
  const ok = readCoco(writeJson(dir, 'sub.json', mutated((c) => (c.images[0]!.file_name = 'sub/../a.png'))));
  assert.equal(ok.image(1).fileName, 'sub/../a.png');
});

test('boxes outside the image are clipped, counted and reported as warnings', () => {
  const c = mutated((c) => {
    c.annotations[0]!.bbox = [-4, 40, 20, 10]; // left and bottom outside the 64x48 image
    c.annotations[1]!.bbox = [70, 0, 5, 5]; // entirely outside
  });
  const ds = readCoco(writeJson(dir, 'clip.json', c));
  assert.deepEqual(
    ds.problems.map((p) => [p.severity, p.kind, p.where, p.message]),
    [
      ['warning', 'clipped', 'annotations[0] (id 10)', 'bbox [-4, 40, 20, 10] extends outside the 64x48 image; clipped to [0, 40, 16, 8]'],
      ['warning', 'outside', 'annotations[1] (id 11)', 'bbox [70, 0, 5, 5] lies entirely outside the 64x48 image; not trained on'],
    ],
  );
  const t = ds.targets(1);
  assert.deepEqual([...t.boxes], [0, 40, 16, 48]);
  assert.deepEqual([...t.labels], [1]);
});

test('crowd boxes are kept for evaluation and left out of training targets', () => {
  const ds = readCoco(writeJson(dir, 'crowd.json', smallCoco()));
  assert.equal(ds.targets(2).labels.length, 0);
  assert.deepEqual([...ds.crowdBoxes(2)], [0, 0, 30, 30]);
  // clipped to the 64x48 image like training boxes (1e300 would be Infinity in float32; found by the fuzz suite)
  const far = smallCoco();
  far.annotations[2]!.bbox = [1e300, 10, 5, 1e300];
  assert.deepEqual([...readCoco(writeJson(dir, 'crowd_far.json', far)).crowdBoxes(2)], [64, 10, 64, 48]);
  assert.equal(ds.annotationsOf(2).length, 1);
  assert.equal(ds.annotationsOf(2)[0]!.iscrowd, true);
  // image 2 has only a crowd box: filterEmpty drops it
  assert.deepEqual(ds.trainImages({ filterEmpty: true }).map((im) => im.id), [1]);
  assert.deepEqual(ds.trainImages().map((im) => im.id), [1, 2]);
  // targets: labels follow ascending category id (3 -> 0, 7 -> 1); boxes as x1, y1, x2, y2
  const t = ds.targets(1);
  assert.deepEqual([...t.boxes], [4, 6, 24, 16, 30, 20, 46, 32]);
  assert.deepEqual([...t.labels], [1, 0]);
});

test('missing area and iscrowd default to w*h and 0', () => {
  const ds = readCoco(
    writeJson(dir, 'defaults.json', mutated((c) => {
      delete c.annotations[0]!.area;
      delete c.annotations[0]!.iscrowd;
    })),
  );
  const a = ds.annotationsOf(1)[0]!;
  assert.equal(a.area, 200);
  assert.equal(a.iscrowd, false);
});

test('category ids map to contiguous labels and back', () => {
  const ids = [90, 1, 7, 3, 44];
  const map = new LabelMap(ids.map((id) => ({ id, name: `c${id}` })));
  assert.equal(map.size, 5);
  assert.deepEqual([...map.categoryIds], [1, 3, 7, 44, 90]);
  assert.deepEqual([...map.names], ['c1', 'c3', 'c7', 'c44', 'c90']);
  for (const id of ids) assert.equal(map.categoryId(map.label(id)), id);
  for (let l = 0; l < 5; l++) assert.equal(map.label(map.categoryId(l)), l);
  assert.throws(() => map.label(2), /LabelMap: unknown category id 2/);
  assert.throws(() => map.categoryId(5), /LabelMap: label 5 is outside 0..4/);
});

test('a file that cannot be read names itself', () => {
  const file = join(dir, 'nope.json');
  assert.throws(() => readCoco(file), (e: Error) => e.message.startsWith(`${file}: cannot read the annotation file: ENOENT`));
});
