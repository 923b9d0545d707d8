// The high-level API (trainDetector, TrainedDetector) against the CLI on the same tiny run: training through the
// API makes the run `ladet predict` reads, and detect() (an inline pipeline, not the loader) finds what
// `ladet predict` and the trainer's own evaluation found.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import {
  ImageError,
  io,
  parseConfig,
  TrainedDetector,
  trainDetector,
  torch,
  type ConfigInput,
  type Detection,
  type TrainProgress,
  type TrainSummary,
} from '../../src/index.js';
import { predictSources, tinyConfig } from '../cli/fixture.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

let dir = '';
let configFile = '';
let dataRoot = '';
let source = '';
let summary: TrainSummary;
const progress: TrainProgress[] = [];
const messages: string[] = [];

const readJson = <T>(p: string): T => JSON.parse(readFileSync(p, 'utf8')) as T;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ladet-api-test-'));
  dataRoot = join(dir, 'shapes');
  configFile = join(dir, 'tiny.yaml');
  writeFileSync(configFile, tinyConfig('tiny', dataRoot, join(dir, 'runs')));
  summary = await trainDetector(configFile, {
    onProgress: (p) => progress.push(p),
    onMessage: (l) => messages.push(l),
  });

  source = join(dir, 'source');
  await predictSources(dataRoot, source);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('trainDetector trains the config into its run directory and reports progress through the callbacks', () => {
  const run = join(dir, 'runs', 'tiny');
  assert.equal(summary.runDir, run);
  assert.equal(summary.stopped, false);
  assert.equal(summary.epochsDone, 1);
  assert.ok(
    existsSync(join(run, 'weights', 'best.safetensors')) && existsSync(join(run, 'weights', 'last.safetensors')),
  );
  assert.equal(progress[0]?.phase, 'data');
  const steps = progress.filter((p) => p.phase === 'train');
  // 16 train images in batches of 8
  assert.deepEqual(
    steps.map((p) => [p.batch, p.batches, p.iter]),
    [
      [1, 2, 1],
      [2, 2, 2],
    ],
  );
  assert.ok(
    steps.every((p) => Number.isFinite(p.losses.loss_cls) && p.lr > 0),
    JSON.stringify(steps),
  );
  assert.ok(progress.some((p) => p.phase === 'eval'));
  // the one message: which precision ran (auto: bf16 where the CPU has native bf16, as this machine; fp32 elsewhere)
  assert.equal(messages.length, 1, messages.join('\n'));
  assert.match(messages[0] as string, /^precision: (bf16|fp32) \(auto: (native|no native) bf16 on this device\)$/);
  assert.ok(summary.lastEval && summary.best && summary.lastEval.coco.stats[0] === summary.best.metric);
});

test('detect() finds what `ladet predict` finds (up to its file rounding), on a plain, a resized and an EXIF-rotated image', async () => {
  const out = join(dir, 'pred');
  const r = spawnSync(
    process.execPath,
    [main, 'predict', `weights=${summary.runDir}`, `source=${source}`, `out=${out}`, 'scoreThr=0.05'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const det = TrainedDetector.open({ run: summary.runDir });
  try {
    assert.deepEqual(
      det.classes.map((c) => c.name),
      readJson<{ categories: { name: string }[] }>(
        join(dataRoot, 'annotations', 'instances_train.json'),
      ).categories.map((c) => c.name),
    );
    for (const name of ['val1.png', 'wide.jpg', 'rotated.jpg']) {
      const cli = readJson<{ width: number; height: number; detections: Detection[] }>(
        join(out, `${name.replace(/\..*$/, '')}.json`),
      );
      const mine = await det.detect(join(source, name), { scoreThr: 0.05 });
      assert.ok(mine.length > 5, `${name}: too few detections to compare`);
      assert.equal(mine.length, cli.detections.length, name);
      mine.forEach((d, k) => {
        const c = cli.detections[k] as Detection;
        assert.equal(d.category_id, c.category_id, `${name} #${k}`);
        assert.equal(d.label, c.label);
        assert.ok(Math.abs(d.score - c.score) <= 5e-5 + 1e-7, `${name} #${k}: score ${d.score} vs ${c.score}`);
        d.box.forEach((v, i) =>
          assert.ok(Math.abs(v - (c.box[i] as number)) <= 0.005 + 1e-9, `${name} #${k}: box ${d.box} vs ${c.box}`),
        );
        assert.ok(d.box[2] <= cli.width && d.box[3] <= cli.height);
      });
    }
  } finally {
    det.dispose();
  }
});

test("detect() on encoded bytes equals detect() on the file, and keeps the trainer's evaluation detections", async () => {
  const det = TrainedDetector.open({ weights: join(summary.runDir, 'weights', 'best.safetensors') });
  try {
    const file = join(dataRoot, 'val', '000001.png');
    const fromFile = await det.detect(file, { scoreThr: 0.05 });
    assert.deepEqual(await det.detect(readFileSync(file), { scoreThr: 0.05 }), fromFile);
    // the evaluation ran the same weights over the val split (image id 1 is 000001.png), results rounded to 1e-4
    const evalDets = readJson<{ image_id: number; category_id: number; bbox: number[]; score: number }[]>(
      join(summary.runDir, 'eval', 'best_results.json'),
    ).filter((d) => d.image_id === 1);
    const cut = Math.min(...evalDets.map((d) => d.score)) + 1e-3; // near-ties at the 100-per-image cut may fall either way
    const kept = fromFile.filter((d) => d.score > cut);
    assert.ok(kept.length > 10);
    for (const d of kept) {
      const match = evalDets.find(
        (e) =>
          e.category_id === d.category_id &&
          Math.abs(e.score - d.score) < 2e-4 &&
          e.bbox.every((v, i) => Math.abs(v - (d.bbox[i] as number)) < 2e-3),
      );
      assert.ok(match, `no evaluation detection matches ${JSON.stringify(d)}`);
    }
    // the default threshold is predict's 0.3; results are best first
    const top = await det.detect(file);
    assert.deepEqual(
      top,
      fromFile.filter((d) => d.score >= 0.3),
    );
    for (let k = 1; k < fromFile.length; k++)
      assert.ok((fromFile[k - 1] as Detection).score >= (fromFile[k] as Detection).score);
  } finally {
    det.dispose();
  }
});

test('a weights file alone is enough: best.safetensors copied out of its run opens with the config the trainer embedded', async () => {
  const loose = join(dir, 'deployed', 'model.safetensors');
  mkdirSync(join(dir, 'deployed'));
  copyFileSync(join(summary.runDir, 'weights', 'best.safetensors'), loose);
  rmSync(join(dir, 'runs', 'tiny', 'config.yaml')); // not read: prove it
  const file = join(dataRoot, 'val', '000001.png');
  const det = TrainedDetector.open({ weights: loose });
  try {
    assert.deepEqual(det.config, parseConfig(parseYaml(readFileSync(configFile, 'utf8')), configFile));
    assert.equal(det.weightsPath, loose);
    const fromCli = spawnSync(
      process.execPath,
      [main, 'predict', `weights=${loose}`, `source=${file}`, `out=${join(dir, 'deployed', 'pred')}`, 'scoreThr=0.05'],
      { encoding: 'utf8' },
    );
    assert.equal(fromCli.status, 0, fromCli.stderr);
    const cli = readJson<{ config: string; images: { detections: Detection[] }[] }>(
      join(dir, 'deployed', 'pred', 'predictions.json'),
    );
    assert.equal(cli.config, `${loose} (embedded config)`);
    const mine = await det.detect(file, { scoreThr: 0.05 });
    const theirs = cli.images[0]?.detections ?? [];
    assert.ok(mine.length > 5);
    assert.equal(mine.length, theirs.length);
    // the file rounds scores to 1e-4
    mine.forEach((d, k) =>
      assert.ok(
        d.category_id === theirs[k]?.category_id && Math.abs(d.score - theirs[k].score) <= 5e-5 + 1e-7,
        `#${k}`,
      ),
    );
  } finally {
    det.dispose();
    writeFileSync(join(dir, 'runs', 'tiny', 'config.yaml'), readFileSync(configFile)); // for the tests after this one
  }
  // overrides apply on top of the embedded config, and are checked against it
  const small = TrainedDetector.open({ weights: loose, overrides: { 'data.testScale': [64, 64] } });
  assert.deepEqual(small.config.data.testScale, [64, 64]);
  small.dispose();
  assert.throws(
    () => TrainedDetector.open({ weights: loose, overrides: { 'model.head.featChannels': 8 } }),
    /the weights do not fit this model: .* \(model of .*model\.safetensors \(embedded config\), 8 classes\)/,
  );
});

test('detect() releases its tensors: the live count is flat over many calls, and dispose() frees the network', async () => {
  const det = TrainedDetector.open({ run: summary.runDir });
  const file = join(dataRoot, 'val', '000002.png');
  await det.detect(file); // anchors for this size are cached on first use
  const before = torch.memory().numTensors;
  for (let i = 0; i < 20; i++) await det.detect(file);
  assert.equal(torch.memory().numTensors, before);
  det.dispose();
  assert.ok(torch.memory().numTensors < before);
  det.dispose(); // idempotent
  await assert.rejects(det.detect(file), /TrainedDetector: used after dispose\(\)/);
});

test('bad input to the API: clear errors that name the image, the file or the key', async () => {
  const det = TrainedDetector.open({ run: summary.runDir });
  try {
    await assert.rejects(
      det.detect(Buffer.from('not an image')),
      (e: unknown) => e instanceof ImageError && /^\(image bytes\): not a readable image/.test(e.message),
    );
    const missing = join(dir, 'missing.png');
    await assert.rejects(det.detect(missing), { message: `${missing}: image file not found` });
    await assert.rejects(
      det.detect(join(dataRoot, 'val', '000001.png'), { scoreThr: 2 }),
      /scoreThr must be a number in \[0, 1\] \(got 2\)/,
    );
  } finally {
    det.dispose();
  }
  // weights saved before the trainer embedded its config: outside a run they need config=
  const old = join(dir, 'old.safetensors');
  const best = io.loadSafetensors(join(summary.runDir, 'weights', 'best.safetensors'));
  const meta = JSON.parse(best.metadata?.ladet ?? '{}') as { info: Record<string, unknown> };
  delete meta.info.resolvedConfig;
  io.saveSafetensors(old, best.tensors, { ladet: JSON.stringify(meta) });
  torch.dispose([...best.tensors.values()]);
  assert.throws(() => TrainedDetector.open({ weights: old }), {
    message: `${old} is a weights file outside a run directory that records no config (saved before ladet embedded it): pass config=CONFIG.yaml too`,
  });
  TrainedDetector.open({ weights: old, config: configFile }).dispose();
  assert.throws(() => TrainedDetector.open({ run: summary.runDir, net: 1 }), /net=1 picks a network of a CoLAD run/);
  assert.throws(
    () => TrainedDetector.open({ run: summary.runDir, overrides: { 'model.head.featChannels': 8 } }),
    /the weights do not fit this model/,
  );
  const raw = parseYaml(readFileSync(configFile, 'utf8')) as ConfigInput;
  await assert.rejects(trainDetector({ ...raw, colour: 'red' } as ConfigInput), {
    message: 'config object: unknown key colour',
  });
  await assert.rejects(trainDetector(configFile, { overrides: { 'schedule.epochs': 0 } }), {
    message: `${configFile}: schedule.epochs: Too small: expected number to be >0`,
  });
});

test('an aborted trainDetector saves `last` and resolves stopped; resume: true finishes the run with the same weights as an unbroken one', async () => {
  const raw = parseYaml(readFileSync(configFile, 'utf8')) as ConfigInput;
  const ctrl = new AbortController();
  const said: string[] = [];
  const quiet = { onMessage: (l: string) => said.push(l) };
  const stopped = await trainDetector(
    { ...raw, name: 'broken' },
    { ...quiet, signal: ctrl.signal, onProgress: (p) => p.phase === 'train' && ctrl.abort() },
  );
  assert.equal(stopped.stopped, true);
  assert.equal(stopped.epochsDone, 0);
  assert.ok(existsSync(join(dir, 'runs', 'broken', 'weights', 'last.safetensors')));
  const resumed = await trainDetector({ ...raw, name: 'broken' }, { ...quiet, resume: true });
  assert.equal(resumed.stopped, false);
  assert.equal(resumed.epochsDone, 1);
  const last = join(dir, 'runs', 'broken', 'weights', 'last.safetensors');
  assert.deepEqual(
    said.filter((l) => !l.startsWith('precision: ')),
    [
      `stopped: saved ${last} (epoch 1, batch 1)`,
      `resuming ${join(dir, 'runs', 'broken')} at epoch 1, batch 2 (iteration 1)`,
    ],
  );
  // a broken-and-resumed run ends where the unbroken one did (threads and seed are the same in this process)
  assert.deepEqual(resumed.lastEval?.coco.stats, summary.lastEval?.coco.stats);
  await assert.rejects(
    trainDetector(configFile, { signal: AbortSignal.abort() }),
    /the signal was aborted before training started/,
  );
});

test("examples/train_and_detect.ts, the README's library example, trains and prints detections", async () => {
  const example = fileURLToPath(new URL('../../examples/train_and_detect.js', import.meta.url));
  const image = join(dataRoot, 'val', '000001.png');
  const r = spawnSync(process.execPath, [example, configFile, image, 'scoreThr=0.05', 'name=example'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const [first, precision, ...lines] = r.stdout.trim().split('\n');
  assert.equal(
    first,
    `resume: no ${join(dir, 'runs', 'example', 'weights', 'last.safetensors')}; starting from scratch`,
  );
  assert.match(precision as string, /^precision: (bf16|fp32) \(auto: /);
  assert.match(lines[0] as string, /^epoch 1\/1: loss_cls \d+\.\d{3}$/);
  assert.match(
    lines[1] as string,
    new RegExp(`^trained ${join(dir, 'runs', 'example')}: best AP \\d\\.\\d{3} at epoch 1$`),
  );
  // the same seed and config as the run trained in before(): the same detections
  const det = TrainedDetector.open({ run: summary.runDir });
  const expected = await det.detect(image, { scoreThr: 0.05 });
  det.dispose();
  assert.ok(expected.length > 5);
  assert.deepEqual(
    lines.slice(2).map((l) => l.split(' at ')[0]),
    expected.map((d) => `${d.label} ${d.score.toFixed(2)}`),
  );
});
