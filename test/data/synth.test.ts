import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { readCoco } from '../../src/data/coco.js';
import { paintBackground } from '../../src/data/synth/canvas.js';
import { boxIou, type Box } from '../../src/data/synth/compose.js';
import { canvasRngs, type Split } from '../../src/data/synth/generator.js';
import { fashionMnistMissing, readIdx } from '../../src/data/synth/idx.js';
import { makeDataset, splitPaths } from '../../src/data/synth/make.js';
import { generator } from '../../src/data/synth/registry.js';
import { tempDir } from './fixtures.js';

const root = tempDir();
const small = { train: 10, val: 4, maxIou: 0.4 };

/** An IDX file of unsigned bytes. */
function idx(dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.set([0, 0, 0x08, dims.length]);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, data]);
}

/** A Fashion-MNIST look-alike: train items all of class 2, test items all of class 7, each a filled block. */
function fakeFashionMnist(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const [split, count, label] of [['train', 6, 2], ['t10k', 4, 7]] as const) {
    const images = new Uint8Array(count * 28 * 28);
    for (let i = 0; i < count; i++) {
      for (let y = 4 + i; y < 24; y++) for (let x = 6; x < 22 - i; x++) images[i * 784 + y * 28 + x] = 120 + 20 * i;
    }
    writeFileSync(join(dir, `${split}-images-idx3-ubyte.gz`), gzipSync(idx([count, 28, 28], images)));
    writeFileSync(join(dir, `${split}-labels-idx1-ubyte.gz`), gzipSync(idx([count], new Uint8Array(count).fill(label))));
  }
}

test('IDX files read back, and malformed ones name the file', () => {
  const dir = join(root, 'idx');
  mkdirSync(dir);
  const data = Uint8Array.from({ length: 24 }, (_, i) => i * 3);
  const plain = join(dir, 'a.idx');
  writeFileSync(plain, idx([2, 3, 4], data));
  assert.deepEqual(readIdx(plain), { dims: [2, 3, 4], data: Buffer.from(data) });
  const gz = join(dir, 'a.idx.gz');
  writeFileSync(gz, gzipSync(idx([2, 3, 4], data)));
  assert.deepEqual(readIdx(gz).dims, [2, 3, 4]);
  const short = join(dir, 'short.idx');
  writeFileSync(short, idx([2, 3, 4], data.subarray(0, 20)));
  assert.throws(() => readIdx(short), { message: `${short}: IDX data has 20 bytes but the header says 2x3x4 = 24` });
  const magic = join(dir, 'magic.idx');
  writeFileSync(magic, Buffer.from([1, 0, 8, 1, 0, 0, 0, 0]));
  assert.throws(() => readIdx(magic), { message: `${magic}: not an IDX file (bad magic number)` });
  const notGz = join(dir, 'x.gz');
  writeFileSync(notGz, 'plain text');
  assert.throws(() => readIdx(notGz), (e: Error) => e.message.startsWith(`${notGz}: not a valid gzip file`));
});

/** Checks every canvas of a split: boxes tightly enclose the drawn pixels, limited overlap, item counts. */
async function checkTight(name: string, out: string, split: Split, seed: number, maxItems: number): Promise<number> {
  const gen = generator(name);
  const { annotations, images } = splitPaths(out, split);
  const ds = readCoco(annotations);
  assert.deepEqual(ds.problems, []);
  let boxes = 0;
  for (const im of ds.images) {
    const { data, info } = await sharp(join(images, im.fileName)).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [im.width, im.height, 3]);
    // the same background, painted again from the canvas's seed: pixels that differ are object pixels
    const bg = paintBackground(canvasRngs(seed, split, im.id - 1).background, im.width, im.height, gen.background);
    const anns = ds.annotationsOf(im.id);
    assert.ok(anns.length >= 1 && anns.length <= maxItems, `${anns.length} objects`);
    const xyxy: Box[] = anns.map((a) => [a.bbox[0], a.bbox[1], a.bbox[0] + a.bbox[2], a.bbox[1] + a.bbox[3]]);
    const drawn = (x: number, y: number): boolean => {
      const p = (y * im.width + x) * 3;
      return data[p] !== bg.data[p] || data[p + 1] !== bg.data[p + 1] || data[p + 2] !== bg.data[p + 2];
    };
    for (let y = 0; y < im.height; y++) {
      for (let x = 0; x < im.width; x++) {
        if (drawn(x, y)) assert.ok(xyxy.some((b) => x >= b[0] && x < b[2] && y >= b[1] && y < b[3]), `${name} ${split} image ${im.id}: drawn pixel (${x}, ${y}) outside every box`);
      }
    }
    for (const b of xyxy) {
      const [x1, y1, x2, y2] = b;
      assert.ok(Number.isInteger(x1) && Number.isInteger(y2) && x2 > x1 && y2 > y1);
      const row = (y: number): boolean => Array.from({ length: x2 - x1 }, (_, k) => drawn(x1 + k, y)).some(Boolean);
      const col = (x: number): boolean => Array.from({ length: y2 - y1 }, (_, k) => drawn(x, y1 + k)).some(Boolean);
      assert.ok(row(y1) && row(y2 - 1) && col(x1) && col(x2 - 1), `${name} ${split} image ${im.id}: box [${b.join(', ')}] is not tight`);
      for (const c of xyxy) if (c !== b) assert.ok(boxIou(b, c) <= 0.4 + 1e-12, `IoU ${boxIou(b, c)} > 0.4`);
    }
    boxes += anns.length;
  }
  return boxes;
}

function files(dir: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  const walk = (d: string, prefix: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${prefix}${e.name}/`);
      else m.set(`${prefix}${e.name}`, readFileSync(join(d, e.name)));
    }
  };
  walk(dir, '');
  return m;
}

test('shapes: the same seed gives the same bytes whatever the worker count; another seed differs', async () => {
  const a = join(root, 'shapes-a');
  const b = join(root, 'shapes-b');
  const c = join(root, 'shapes-c');
  await makeDataset('shapes', { out: a, seed: 11, params: small, workers: 0 });
  await makeDataset('shapes', { out: b, seed: 11, params: small, workers: 2 });
  await makeDataset('shapes', { out: c, seed: 12, params: small, workers: 0 });
  const fa = files(a);
  const fb = files(b);
  assert.deepEqual([...fa.keys()].sort(), [...fb.keys()].sort());
  assert.equal(fa.size, 10 + 4 + 3); // images, two annotation files, manifest
  for (const [k, v] of fa) assert.ok(v.equals(fb.get(k)!), `${k} differs`);
  const ann = 'annotations/instances_train.json';
  assert.notEqual(files(c).get(ann)!.toString(), fa.get(ann)!.toString());
});

test('shapes: boxes tightly enclose the drawn pixels, overlap is limited, classes are the 8 shapes', async () => {
  const out = join(root, 'shapes-a');
  const boxes = (await checkTight('shapes', out, 'train', 11, 8)) + (await checkTight('shapes', out, 'val', 11, 8));
  assert.ok(boxes >= 14);
  const ds = readCoco(splitPaths(out, 'train').annotations);
  assert.deepEqual(ds.categories.map((c) => c.name), ['circle', 'square', 'triangle', 'star', 'ring', 'cross', 'hexagon', 'heart']);
});

test('make refuses to overwrite other data, skips an identical dataset, and replaces its own with force', async () => {
  const out = join(root, 'shapes-a');
  const again = await makeDataset('shapes', { out, seed: 11, params: small });
  assert.equal(again.made, false);
  await assert.rejects(makeDataset('shapes', { out, seed: 99, params: small }), {
    message: `${out} already holds a shapes dataset made with other settings; choose another out=DIR or pass force=true to replace it`,
  });
  const foreign = join(root, 'foreign');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'thesis.tex'), 'precious');
  await assert.rejects(makeDataset('shapes', { out: foreign, params: small, force: true }), {
    message: `${foreign} holds files that are not a ladet dataset (no ladet-dataset.json); force=true only replaces a ladet dataset`,
  });
  // a user's own COCO dataset has make's folder names (train/, annotations/): force=true must not delete it
  const coco = join(root, 'users-coco');
  mkdirSync(join(coco, 'train'), { recursive: true });
  mkdirSync(join(coco, 'annotations'));
  writeFileSync(join(coco, 'train', 'photo.jpg'), 'only copy');
  writeFileSync(join(coco, 'annotations', 'instances_train.json'), '{}');
  await assert.rejects(makeDataset('shapes', { out: coco, params: small, force: true }), /holds files that are not a ladet dataset/);
  assert.equal(readFileSync(join(coco, 'train', 'photo.jpg'), 'utf8'), 'only copy');
  assert.equal(readFileSync(join(coco, 'annotations', 'instances_train.json'), 'utf8'), '{}');
  const replaced = await makeDataset('shapes', { out, seed: 99, params: { ...small, train: 3 }, force: true });
  assert.equal(replaced.made, true);
  assert.equal(readdirSync(join(out, 'train')).length, 3);
  await assert.rejects(makeDataset('shapes', { out: join(root, 'bad'), params: { maxSide: 400 } }), { message: 'maxSide (400) must not exceed the canvas size (160)' });
  await assert.rejects(makeDataset('nope', { out: join(root, 'bad') }), { message: "no built-in dataset 'nope' (have: fashion-det, shapes)" });
});

test('two makers of one dataset at once (two trainings starting together): one makes it, the other waits and finds it', async () => {
  const out = join(root, 'shapes-twice');
  const waits: string[][] = [[], []];
  const [a, b] = await Promise.all(
    [0, 1].map((k) => makeDataset('shapes', { out, seed: 11, params: small, workers: 1, onWait: (l) => waits[k]!.push(l) })),
  );
  assert.deepEqual([a!.made, b!.made], [true, false]);
  assert.deepEqual(waits[0], []);
  assert.deepEqual(waits[1], [`waiting for ladet data make (pid ${process.pid} on ${hostname()}) to finish making ${out}`]);
  assert.deepEqual(b!.splits, a!.splits);
  // the same files as a dataset made alone, and no lock left behind
  const alone = join(root, 'shapes-alone');
  await makeDataset('shapes', { out: alone, seed: 11, params: small, workers: 1 });
  assert.deepEqual(readdirSync(out).sort(), readdirSync(alone).sort());
  assert.ok(!readdirSync(out).includes('.lock'));
  for (const split of ['train', 'val'] as const)
    assert.equal(readFileSync(splitPaths(out, split).annotations, 'utf8'), readFileSync(splitPaths(alone, split).annotations, 'utf8'));
});

test('fashion-det: train canvases use only training items, val canvases only test items', async (t) => {
  const dir = join(root, 'fake-fmnist');
  fakeFashionMnist(dir);
  const saved = process.env.LADET_FASHION_MNIST;
  process.env.LADET_FASHION_MNIST = dir;
  t.after(() => {
    if (saved === undefined) delete process.env.LADET_FASHION_MNIST;
    else process.env.LADET_FASHION_MNIST = saved;
  });
  const out = join(root, 'fake-det');
  await makeDataset('fashion-det', { out, seed: 4, params: small, workers: 2 });
  const train = readCoco(splitPaths(out, 'train').annotations);
  const val = readCoco(splitPaths(out, 'val').annotations);
  assert.deepEqual(new Set(train.annotations.map((a) => a.categoryId)), new Set([3])); // label 2 -> category id 3
  assert.deepEqual(new Set(val.annotations.map((a) => a.categoryId)), new Set([8]));
  assert.equal(train.categories.length, 10);
  await checkTight('fashion-det', out, 'train', 4, 8);
  process.env.LADET_FASHION_MNIST = join(root, 'nowhere');
  await assert.rejects(makeDataset('fashion-det', { out: join(root, 'x'), params: small }), /^Error: cannot make fashion-det: Fashion-MNIST not found \(missing .*nowhere\/train-images-idx3-ubyte.gz/);
});

test('fashion-det from the Debian package: deterministic, tight boxes, the 10 classes', async (t) => {
  const why = fashionMnistMissing();
  if (why) {
    t.skip(`Fashion-MNIST is not installed: ${why}`);
    return;
  }
  const a = join(root, 'fd-a');
  const b = join(root, 'fd-b');
  await makeDataset('fashion-det', { out: a, seed: 2, params: small, workers: 1 });
  await makeDataset('fashion-det', { out: b, seed: 2, params: small, workers: 0 });
  for (const split of ['train', 'val'] as const) {
    const ja = readFileSync(splitPaths(a, split).annotations);
    assert.ok(ja.equals(readFileSync(splitPaths(b, split).annotations)), `${split} annotations differ`);
    await checkTight('fashion-det', a, split, 2, 8);
  }
  const ds = readCoco(splitPaths(a, 'train').annotations);
  assert.deepEqual(ds.labels.names, ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
});
