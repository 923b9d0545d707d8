// End to end on the built-in `shapes` data: overfitting a handful of images, exact resume after a stop, and a
// clear error when training diverges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseConfig, type ConfigInput } from '../../src/config/schema.js';
import { train } from '../../src/engine/trainer.js';
import { readCheckpoint } from '../../src/build/checkpoint.js';
import { parseMetricsCsv } from '../../src/engine/metrics_log.js';
import { dispose } from '../../src/torch/index.js';

const work = mkdtempSync(join(tmpdir(), 'ladet-e2e-'));
const quiet = { onMessage: (): void => {} };

function tinyConfig(name: string, over: Partial<ConfigInput> = {}): ConfigInput {
  return {
    name,
    seed: 0,
    threads: 2,
    runsDir: join(work, 'runs'),
    data: {
      builtin: 'shapes',
      builtinArgs: { train: 8, val: 8, size: 128, maxItems: 4 },
      root: join(work, 'shapes8'),
      // evaluate on the training images: this test is about fitting them
      valAnn: 'annotations/instances_train.json',
      valImages: 'train',
      trainScales: [[128, 128]],
      testScale: [128, 128],
      flipProb: 0,
      batchSize: 8,
      workers: 0,
    },
    model: {
      backbone: { depth: 18, widthMultiplier: 0.25, frozenStages: -1, normEval: false },
      neck: { outChannels: 32, startLevel: 1, numOuts: 4 },
      head: { featChannels: 32, stackedConvs: 1, gnGroups: 8 },
      anchors: { strides: [8, 16, 32, 64], octaveBaseScale: 4 },
    },
    optimizer: { lr: 0.02, gradClip: 35 },
    schedule: { epochs: 100, warmupIters: 20, steps: [90] },
    eval: { every: 100, scoreVoting: false },
    ...over,
  };
}

test('PAA overfits a few shapes images: AP50 >= 0.9 on them', async () => {
  const config = parseConfig(tinyConfig('overfit'));
  const r = await train(config, { hooks: quiet });
  assert.ok(r.lastEval !== null);
  const ap50 = r.lastEval.coco.named.AP50;
  assert.ok(ap50 >= 0.9, `AP50 ${ap50} < 0.9`);
  // the run directory holds what DESIGN.md §5 lists
  for (const f of [
    'config.yaml',
    'metrics.csv',
    'log.jsonl',
    'weights/last.safetensors',
    'weights/best.safetensors',
    'eval/epoch_100.json',
  ]) {
    assert.ok(existsSync(join(r.runDir, f)), `${f} missing`);
  }
  const rows = parseMetricsCsv(readFileSync(join(r.runDir, 'metrics.csv'), 'utf8'));
  assert.equal(rows.length, 100);
  assert.ok((rows[99]!['train/loss_cls'] as number) < (rows[0]!['train/loss_cls'] as number));
  assert.ok(Math.abs((rows[99]!['val/AP50'] as number) - ap50) < 1e-5);
});

test('a crash mid-epoch resumes from the periodic checkpoint (train.checkpointMinutes) to the uninterrupted weights', async () => {
  // 8 images, batch 4, flips on: two iterations per epoch; a save after every step, and a crash (an exception out of
  // a hook, no Ctrl-C save) in iteration 4, so the last save is iteration 3's, inside epoch 2
  const over = { schedule: { epochs: 3, warmupIters: 2, steps: [2] }, eval: { every: 0 } };
  const base = tinyConfig('periodic_straight', over);
  base.data = { ...base.data, batchSize: 4, flipProb: 0.5 };
  const straight = await train(parseConfig(base), { hooks: quiet });
  const cut = { ...base, name: 'periodic_cut', train: { checkpointMinutes: 1e-9 } };
  await assert.rejects(
    train(parseConfig(cut), {
      hooks: {
        ...quiet,
        onProgress: (p) => {
          if (p.phase === 'train' && p.iter === 4) throw new Error('simulated crash');
        },
      },
    }),
    /simulated crash/,
  );
  const events = () =>
    readFileSync(join(work, 'runs', 'periodic_cut', 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; iter?: number; batch?: number; epoch?: number });
  // iteration 1 (mid epoch 1) and 3 (mid epoch 2) are saved mid-epoch; 2 ends epoch 1 (saved there anyway)
  assert.deepEqual(
    events()
      .filter((e) => e.event === 'checkpoint')
      .map((e) => [e.iter, e.epoch, e.batch]),
    [
      [1, 1, 1],
      [3, 2, 1],
    ],
  );
  const lines: string[] = [];
  await train(parseConfig(cut), { resume: true, hooks: { onMessage: (l) => lines.push(l) } });
  assert.ok(
    lines.some((l) => l.includes('at epoch 2, batch 2 (iteration 3)')),
    lines.join('\n'),
  );
  const a = readCheckpoint(join(straight.runDir, 'weights', 'last.safetensors'));
  const b = readCheckpoint(join(work, 'runs', 'periodic_cut', 'weights', 'last.safetensors'));
  for (const [k, v] of a.model) assert.ok(v.equal(b.model.get(k)!), `${k} differs after the crash and resume`);
  for (const [k, v] of Object.entries(a.optimizer)) assert.ok(v.equal(b.optimizer[k]!), `optimizer ${k} differs`);
  assert.equal(b.meta?.trainer?.iter, 6);
  dispose([[...a.model.values()], [...b.model.values()], a.optimizer, b.optimizer]);
});

test('stop mid-epoch + resume gives exactly the weights of an uninterrupted run', async () => {
  // 8 images, batch 4: two iterations per epoch; stop after iteration 3 (inside epoch 2)
  const over = { schedule: { epochs: 3, warmupIters: 2, steps: [2] }, eval: { every: 0 } };
  const base = tinyConfig('straight', over);
  base.data = { ...base.data, batchSize: 4 };
  const straight = await train(parseConfig(base), { hooks: quiet });
  let steps = 0;
  const cut = { ...base, name: 'cut' };
  const first = await train(parseConfig(cut), { hooks: { ...quiet, shouldStop: () => ++steps === 3 } });
  assert.equal(first.stopped, true);
  const second = await train(parseConfig(cut), { resume: true, hooks: quiet });
  assert.equal(second.stopped, false);
  const a = readCheckpoint(join(straight.runDir, 'weights', 'last.safetensors'));
  const b = readCheckpoint(join(second.runDir, 'weights', 'last.safetensors'));
  assert.deepEqual([...a.model.keys()], [...b.model.keys()]);
  for (const [k, v] of a.model) assert.ok(v.equal(b.model.get(k)!), `${k} differs after resume`);
  for (const [k, v] of Object.entries(a.optimizer))
    assert.ok(v.equal(b.optimizer[k]!), `optimizer ${k} differs after resume`);
  assert.equal(b.meta?.trainer?.iter, 6);
  dispose([[...a.model.values()], [...b.model.values()], a.optimizer, b.optimizer]);
  // both starts (fresh, resumed) name the code that trained: this checkout's version and HEAD
  const starts = readFileSync(join(second.runDir, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { event: string; resume?: boolean; code?: unknown })
    .filter((e) => e.event === 'start');
  assert.deepEqual(
    starts.map((e) => e.resume),
    [false, true],
  );
  const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
  const head = existsSync('.git') ? execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim() : null;
  for (const e of starts) {
    const code = e.code as { version: string; commit: string | null; dirty: boolean | null };
    assert.equal(code.version, version);
    assert.equal(code.commit, head);
    assert.equal(typeof code.dirty, head === null ? 'object' : 'boolean');
  }
});

test('a diverging run stops with an error naming the loss and the iteration', async () => {
  const c = tinyConfig('diverge', {
    optimizer: { lr: 1e12, gradClip: null },
    schedule: { epochs: 5, warmupIters: 0, steps: [] },
    eval: { every: 0 },
  });
  await assert.rejects(
    train(parseConfig(c), { hooks: quiet }),
    /training diverged: loss_\w+ = (NaN|-?Infinity) at iteration \d+ \(epoch \d+, batch 1\)/,
  );
});
