// `ladet test` and `ladet predict` against a real (tiny) training run made by `ladet train` in before().
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { formatSummary, IOU_THRESHOLDS, STAT_NAMES } from '../../src/eval/index.js';
import { predictSources, tinyConfig } from './fixture.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ladet = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });

let dir = '';
let run = '';
let configFile = '';
let dataRoot = '';
let source = '';

const CONFIG = (root: string, runs: string): string => tinyConfig('tiny', root, runs);

interface Summary {
  stats: Record<string, number>;
  images: number;
  weights: string;
}

const readJson = <T>(p: string): T => JSON.parse(readFileSync(p, 'utf8')) as T;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ladet-cli-test-'));
  dataRoot = join(dir, 'shapes');
  configFile = join(dir, 'tiny.yaml');
  writeFileSync(configFile, CONFIG(dataRoot, join(dir, 'runs')));
  const r = ladet('train', configFile);
  assert.equal(r.status, 0, r.stderr);
  run = join(dir, 'runs', 'tiny');

  // predict's source folder: a val image as it is, one resized to a non-square JPEG, one with EXIF orientation 6
  // (stored 120x80, shown 80x120), a file that is no image, a truncated PNG, and a text file (ignored).
  source = join(dir, 'source');
  await predictSources(dataRoot, source);
  const val = (n: number): string => join(dataRoot, 'val', `00000${n}.png`);
  writeFileSync(join(source, 'broken.png'), 'this is not an image');
  const png = readFileSync(val(4));
  writeFileSync(join(source, 'trunc.png'), png.subarray(0, png.length >> 1));
  writeFileSync(join(source, 'notes.txt'), 'not looked at');
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('ladet test RUN_DIR prints the numbers the trainer measured with the same weights and data', () => {
  const r = ladet('test', run);
  assert.equal(r.status, 0, r.stderr);
  const trained = readJson<{ stats: Record<string, number> }>(join(run, 'eval', 'epoch_1.json'));
  const stats = STAT_NAMES.map((k) => trained.stats[k] as number);
  const resultsFile = join(run, 'eval', 'test_instances_val_results.json');
  const summaryFile = join(run, 'eval', 'test_instances_val_summary.json');
  assert.equal(
    r.stdout,
    `${formatSummary(stats, IOU_THRESHOLDS, [1, 10, 100])}\nwrote ${resultsFile}\nwrote ${summaryFile}\n`,
  );
  assert.equal(r.stdout.split('\n').filter((l) => l.startsWith(' Average')).length, 12);
  const summary = readJson<Summary>(summaryFile);
  assert.deepEqual(summary.stats, trained.stats);
  assert.equal(summary.images, 8);
  assert.equal(summary.weights, join(run, 'weights', 'best.safetensors'));
  // the detections themselves, not only their scores, are the trainer's
  assert.deepEqual(readJson<unknown[]>(resultsFile), readJson<unknown[]>(join(run, 'eval', 'best_results.json')));
});

test("ladet test CONFIG data=ANN.json out=DIR: weights from the config's run, images found beside the annotations", () => {
  const out = join(dir, 'test-out');
  const r = ladet('test', configFile, `data=${join(dataRoot, 'annotations', 'instances_val.json')}`, `out=${out}`);
  assert.equal(r.status, 0, r.stderr);
  const trained = readJson<{ stats: Record<string, number> }>(join(run, 'eval', 'epoch_1.json'));
  assert.deepEqual(readJson<Summary>(join(out, 'test_instances_val_summary.json')).stats, trained.stats);
  assert.ok(existsSync(join(out, 'test_instances_val_results.json')));
});

interface PredictionFile {
  file: string;
  width: number;
  height: number;
  detections: { label: string; category_id: number; score: number; box: number[]; bbox: number[] }[];
}

test('ladet predict: a PNG of the image size and a JSON per image, boxes inside it, unreadable files reported and skipped', async () => {
  const out = join(dir, 'pred');
  // data.root pointing nowhere: the class names must come from the checkpoint itself
  const r = ladet(
    'predict',
    `weights=${run}`,
    `source=${source}`,
    `out=${out}`,
    'scoreThr=0.05',
    `data.root=${join(dir, 'nowhere')}`,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`ladet predict: skipped ${join(source, 'broken.png')}: not a readable image \\(`));
  assert.match(
    r.stderr,
    new RegExp(`ladet predict: skipped ${join(source, 'trunc.png')}: cannot decode the image \\(`),
  );
  assert.equal(r.stdout.split('\n')[0]?.startsWith('3 of 5 images, '), true, r.stdout);

  const classes = readJson<{ categories: { id: number; name: string }[] }>(
    join(dataRoot, 'annotations', 'instances_train.json'),
  ).categories;
  const nameOf = new Map(classes.map((c) => [c.id, c.name]));
  const all = readJson<{ images: (PredictionFile & { png: string; json: string })[]; skipped: { file: string }[] }>(
    join(out, 'predictions.json'),
  );
  assert.deepEqual(all.skipped.map((s) => s.file).sort(), [join(source, 'broken.png'), join(source, 'trunc.png')]);
  const expectedSize: Record<string, [number, number]> = {
    'rotated.jpg': [80, 120],
    'val1.png': [96, 96],
    'wide.jpg': [150, 97],
  };
  assert.deepEqual(
    all.images.map((im) => im.file),
    ['rotated.jpg', 'val1.png', 'wide.jpg'].map((f) => join(source, f)),
  );
  for (const im of all.images) {
    const name = im.file.slice(source.length + 1);
    const [w, h] = expectedSize[name] as [number, number];
    assert.deepEqual([im.width, im.height], [w, h], name);
    const meta = await sharp(im.png).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', w, h], name);
    const own = readJson<PredictionFile>(im.json);
    assert.deepEqual(own.detections, im.detections);
    assert.ok(own.detections.length > 0, `${name}: no detections to check`);
    let prev = Infinity;
    for (const d of own.detections) {
      const [x1, y1, x2, y2] = d.box as [number, number, number, number];
      assert.ok(
        0 <= x1 && x1 <= x2 && x2 <= w && 0 <= y1 && y1 <= y2 && y2 <= h,
        `${name}: box ${d.box} outside ${w}x${h}`,
      );
      assert.deepEqual(d.bbox, [x1, y1, Math.round((x2 - x1) * 100) / 100, Math.round((y2 - y1) * 100) / 100]);
      assert.equal(d.label, nameOf.get(d.category_id));
      assert.ok(d.score >= 0.05 && d.score <= prev, `${name}: scores must be >= scoreThr, best first`);
      prev = d.score;
    }
  }

  // The val image copied as it is: the same detections the evaluation found for it (image id 1), up to rounding.
  // Only scores clear of the 100-per-image cut are compared: near-ties there may fall either way.
  const evalDets = readJson<{ image_id: number; category_id: number; bbox: number[]; score: number }[]>(
    join(run, 'eval', 'best_results.json'),
  ).filter((d) => d.image_id === 1);
  const cut = Math.min(...evalDets.map((d) => d.score)) + 1e-3;
  const mine = (all.images.find((im) => im.file.endsWith('val1.png')) as PredictionFile).detections.filter(
    (d) => d.score > cut,
  );
  assert.ok(mine.length > 10);
  for (const d of mine) {
    const match = evalDets.find(
      (e) =>
        e.category_id === d.category_id &&
        Math.abs(e.score - d.score) < 2e-4 &&
        e.bbox.every((v, i) => Math.abs(v - (d.bbox[i] as number)) < 0.02),
    );
    assert.ok(match, `no evaluation detection matches ${JSON.stringify(d)}`);
  }
});

test('weights of another architecture: the error names the file and the key', () => {
  const weights = join(run, 'weights', 'best.safetensors');
  let r = ladet('test', run, 'model.head.featChannels=8');
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    `${weights}: the weights do not fit this model: 'bbox_head.cls_convs.0.conv.weight' has shape [16, 16, 3, 3] in the file, ` +
      `the model expects [8, 16, 3, 3] (model of ${join(run, 'config.yaml')}, 8 classes)\n`,
  );
  const deeper = join(dir, 'r34.yaml');
  writeFileSync(deeper, readFileSync(configFile, 'utf8').replace('depth: 18', 'depth: 34'));
  r = ladet(
    'predict',
    `weights=${weights}`,
    `config=${deeper}`,
    `source=${join(source, 'val1.png')}`,
    `out=${join(dir, 'unused')}`,
  );
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    new RegExp(
      `^${weights}: the weights do not fit this model: the model's key 'backbone\\.layer1\\.2\\.conv1\\.weight' is missing from the file \\(and \\d+ more\\) \\(model of ${deeper}, 8 classes\\)\n$`,
    ),
  );
  assert.equal(existsSync(join(dir, 'unused')), false);
});

test('usage errors are one clear line', () => {
  const cases: [string[], string][] = [
    [
      ['predict', `source=${source}`],
      'ladet predict: missing weights= (usage: ladet predict weights=RUN_DIR|FILE source=IMAGE|DIR [config=CONFIG.yaml] [out=DIR] [scoreThr=0.3] [net=1|2] [key.sub=value ...])\n',
    ],
    [
      ['predict', `weights=${run}`, `source=${source}`, 'scoreThr=2'],
      'ladet predict: scoreThr must be a number in [0, 1] (got 2)\n',
    ],
    [
      ['test', run, 'images=x'],
      'ladet test: images= goes with data=ANN.json (the config names its own image folder)\n',
    ],
    [
      ['test', run, 'net=2'],
      `net=2 picks a network of a CoLAD run, but ${join(run, 'config.yaml')} trains one network (distill.strategy: self)\n`,
    ],
    [['test', join(dir, 'missing')], `ladet test: config file or run directory not found: ${join(dir, 'missing')}\n`],
    [['test', source], `${source}: not a run directory (no config.yaml)\n`],
    [
      ['test', run, `data.root=${join(dir, 'nowhere')}`],
      `data.root: ${join(dir, 'nowhere', 'annotations', 'instances_val.json')} not found (the val split of ${join(run, 'config.yaml')}); set data.root=DIR or make it with \`ladet data make shapes out=${join(dir, 'nowhere')} train=16 val=8 size=96 maxItems=3\`\n`,
    ],
    [
      ['predict', `weights=${join(run, 'weights', 'best.safetensors')}`, `source=${join(dir, 'nothing.png')}`],
      `source not found: ${join(dir, 'nothing.png')}\n`,
    ],
  ];
  for (const [args, message] of cases) {
    const r = ladet(...args);
    assert.equal(r.status, 1, args.join(' '));
    assert.equal(r.stderr, message, args.join(' '));
  }
});
