// `net=1|2` of `ladet test` / `ladet predict` on a real (tiny) CoLAD run made by `ladet train` in before(): each
// network opens with the weights the trainer saved for it, and net= is refused where it means nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dispose, type Tensor } from '../../src/torch/index.js';
import { openDetector, resolveModelFiles, type OpenedDetector } from '../../src/engine/open_detector.js';
import { readCheckpoint } from '../../src/build/checkpoint.js';
import { UsageError } from '../../src/config/usage_error.js';
import { tinyConfig } from './fixture.js';
import { TrainedDetector } from '../../src/api/index.js';
import { RuntimeDetector } from '../../src/runtime/index.js';
import { decodeImage } from '../../src/data/image.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ladet = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });
const readJson = <T>(p: string): T => JSON.parse(readFileSync(p, 'utf8')) as T;

let dir = '';
let run = '';
let last = '';
let best = '';

// Both networks share one architecture (network 2 defaults to `model`), so only their values tell them apart.
const CONFIG = (root: string, runs: string): string =>
  tinyConfig('tiny_colad', root, runs, 'threads: 1\ndistill:\n  strategy: colad\n');

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ladet-colad-net-'));
  const configFile = join(dir, 'tiny_colad.yaml');
  writeFileSync(configFile, CONFIG(join(dir, 'shapes'), join(dir, 'runs')));
  const r = ladet('train', configFile);
  assert.equal(r.status, 0, r.stderr);
  run = join(dir, 'runs', 'tiny_colad');
  last = join(run, 'weights', 'last.safetensors');
  best = join(run, 'weights', 'best.safetensors');
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The opened network's state dict equals `want` (same keys, equal tensors). */
function sameWeights(opened: OpenedDetector, want: ReadonlyMap<string, Tensor>, what: string): void {
  const got = opened.model.stateDict();
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), what);
  for (const [k, t] of got) assert.ok(t.equal(want.get(k) as Tensor), `${what}: ${k}`);
}

/** The tensors under `net{k}.` of a checkpoint's, prefix stripped. */
function prefixed(sd: ReadonlyMap<string, Tensor>, k: 1 | 2): Map<string, Tensor> {
  return new Map([...sd].filter(([key]) => key.startsWith(`net${k}.`)).map(([key, v]) => [key.slice(5), v]));
}

test('net=1 opens network 1 from weights/last, net=2 (the default) network 2 from weights/best; the two differ', () => {
  const lastCk = readCheckpoint(last);
  const bestCk = readCheckpoint(best);
  const files = resolveModelFiles({ run });
  const net1 = openDetector(files, {}, { net: 1 });
  const net2 = openDetector(files, {}, { net: 2 });
  const byDefault = openDetector(files);
  try {
    assert.equal(lastCk.model.size, 2 * bestCk.model.size, 'last holds both networks, best the evaluated one');
    assert.deepEqual([net1.net, net1.weightsPath], [1, last]);
    assert.deepEqual([net2.net, net2.weightsPath], [2, best]);
    assert.deepEqual([byDefault.net, byDefault.weightsPath], [2, best]);
    sameWeights(net1, prefixed(lastCk.model, 1), 'network 1');
    sameWeights(net2, bestCk.model, 'network 2');
    sameWeights(byDefault, bestCk.model, 'default network');
    // one epoch: best and last were saved from the same weights
    sameWeights(net2, prefixed(lastCk.model, 2), 'network 2 in last');
    const a = net1.model.stateDict();
    const b = net2.model.stateDict();
    const differ = [...a].filter(([k, t]) => !t.equal(b.get(k) as Tensor)).length;
    assert.ok(differ > a.size / 2, `only ${differ} of ${a.size} tensors differ between the two networks`);
    assert.equal(net1.model.training, false);
    // network 2 from weights/last explicitly: the same weights as from best
    const fromLast = openDetector(resolveModelFiles({ run, weights: last }), {}, { net: 2 });
    assert.equal(fromLast.weightsPath, last);
    sameWeights(fromLast, bestCk.model, 'network 2 from last');
    fromLast.model.dispose();
  } finally {
    for (const o of [net1, net2, byDefault]) o.model.dispose();
    dispose([...lastCk.model.values(), lastCk.optimizer, ...bestCk.model.values()]);
  }
});

test('a best file holds network 2 only: net=1 from it is a clear error', () => {
  assert.throws(
    () => openDetector(resolveModelFiles({ weights: best }), {}, { net: 1 }),
    (e: Error) => {
      assert.ok(e instanceof UsageError);
      assert.equal(
        e.message,
        `${best}: holds a single network (network 2), not network 1 of a CoLAD run; use the run's weights/last.safetensors`,
      );
      return true;
    },
  );
});

test('CoLAD weights copied out of the run open alone: the embedded config says CoLAD, net= picks the network', () => {
  const out = join(dir, 'deployed');
  mkdirSync(out);
  const [lastCopy, bestCopy] = [join(out, 'pair.safetensors'), join(out, 'net2.safetensors')];
  copyFileSync(last, lastCopy);
  copyFileSync(best, bestCopy);
  const fromRun = [
    openDetector(resolveModelFiles({ run }), {}, { net: 1 }),
    openDetector(resolveModelFiles({ run }), {}, { net: 2 }),
  ];
  const copies = [
    openDetector(resolveModelFiles({ weights: lastCopy }), {}, { net: 1 }),
    openDetector(resolveModelFiles({ weights: bestCopy })),
  ];
  try {
    assert.deepEqual(
      copies.map((o) => [o.net, o.configPath]),
      [
        [1, `${lastCopy} (embedded config)`],
        [2, `${bestCopy} (embedded config)`],
      ],
    );
    copies.forEach((o, i) => {
      assert.equal(o.config.distill.strategy, 'colad');
      const want = (fromRun[i] as OpenedDetector).model.stateDict();
      for (const [k, t] of o.model.stateDict()) assert.ok(t.equal(want.get(k) as Tensor), `network ${i + 1}: ${k}`);
    });
  } finally {
    for (const o of [...fromRun, ...copies]) o.model.dispose();
  }
  assert.throws(
    () => openDetector(resolveModelFiles({ weights: bestCopy }), {}, { net: 1 }),
    /holds a single network \(network 2\), not network 1/,
  );
});

test('ladet export net=1|2: each CoLAD network as its own runtime model, running as ladet on libtorch runs it', async () => {
  const image = join(dir, 'shapes', 'val', '000001.png');
  const img = await decodeImage(image);
  const top: number[] = [];
  for (const net of [1, 2] as const) {
    const out = join(dir, `net${net}.safetensors`);
    const r = ladet('export', `weights=${run}`, `net=${net}`, `out=${out}`);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.includes(`: network ${net} ${net === 1 ? last : best}, 8 classes`), r.stdout);
    const rt = RuntimeDetector.fromBytes(readFileSync(out));
    const td = TrainedDetector.open({ run, net });
    try {
      const mine = rt.detect({ data: img.data, width: img.width, height: img.height }, { scoreThr: 0.05 }).slice(0, 10);
      const theirs = (await td.detect(image, { scoreThr: 0.05 })).slice(0, 10);
      assert.equal(mine.length, 10);
      assert.deepEqual(
        mine.map((d) => d.category_id),
        theirs.map((d) => d.category_id),
      );
      mine.forEach((d, k) =>
        assert.ok(
          Math.abs(d.score - theirs[k]!.score) < 1e-5 && d.box.every((v, c) => Math.abs(v - theirs[k]!.box[c]!) < 1e-3),
          `net ${net} #${k}`,
        ),
      );
      top.push(mine[0]!.score);
    } finally {
      td.dispose();
    }
  }
  assert.notEqual(top[0], top[1], 'the two networks are different models');
});

test("ladet test RUN net=1|2: each network evaluated, written apart; network 2 gives the trainer's numbers", () => {
  for (const net of [1, 2]) {
    const r = ladet('test', run, `net=${net}`);
    assert.equal(r.status, 0, r.stderr);
    const summary = readJson<{ net: number; weights: string; stats: Record<string, number> }>(
      join(run, 'eval', `test_instances_val_net${net}_summary.json`),
    );
    assert.equal(summary.net, net);
    assert.equal(summary.weights, net === 1 ? last : best);
    if (net === 2) {
      assert.deepEqual(
        summary.stats,
        readJson<{ stats: Record<string, number> }>(join(run, 'eval', 'epoch_1.json')).stats,
      );
      assert.deepEqual(
        readJson<unknown[]>(join(run, 'eval', 'test_instances_val_net2_results.json')),
        readJson<unknown[]>(join(run, 'eval', 'best_results.json')),
      );
    }
  }
});

test('ladet test RUN net=both: network 1 then network 2, each written as with net=1|2, and their APs side by side', () => {
  const r = ladet('test', run, 'net=both');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const at = (l: string): number => lines.indexOf(l);
  assert.ok(at(`network 1 (${last}):`) >= 0 && at(`network 1 (${last}):`) < at(`network 2 (${best}):`), r.stdout);
  const summary = (net: number) =>
    readJson<{ net: number; stats: Record<string, number> }>(
      join(run, 'eval', `test_instances_val_net${net}_summary.json`),
    );
  const [s1, s2] = [summary(1), summary(2)];
  assert.deepEqual([s1.net, s2.net], [1, 2]);
  assert.deepEqual(s2.stats, readJson<{ stats: Record<string, number> }>(join(run, 'eval', 'epoch_1.json')).stats);
  assert.ok(lines.includes(`AP: network 1 ${s1.stats.AP!.toFixed(3)}, network 2 ${s2.stats.AP!.toFixed(3)}`), r.stdout);
});

test("ladet predict net=1 draws network 1's detections into predict_net1", () => {
  const source = join(dir, 'source');
  mkdirSync(source);
  copyFileSync(join(dir, 'shapes', 'val', '000001.png'), join(source, 'a.png'));
  const r = ladet('predict', `weights=${run}`, `source=${source}`, 'net=1');
  assert.equal(r.status, 0, r.stderr);
  const all = readJson<{ net: number; weights: string; images: { png: string }[] }>(
    join(run, 'predict_net1', 'predictions.json'),
  );
  assert.deepEqual(
    [all.net, all.weights, all.images.map((i) => i.png)],
    [1, last, [join(run, 'predict_net1', 'a.png')]],
  );
});

test('net= errors: a value other than 1 or 2, or a run that is not CoLAD', () => {
  let r = ladet('test', run, 'net=3');
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'ladet test: net= must be 1, 2 or both, the network(s) of a CoLAD run (got 3)\n');
  r = ladet('predict', `weights=${run}`, `source=${dir}`, 'net=first');
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'ladet predict: net= must be 1 or 2, the network of a CoLAD run (got "first")\n');
  r = ladet('predict', `weights=${run}`, `source=${dir}`, 'net=both'); // one picture per detection run: no "both"
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'ladet predict: net= must be 1 or 2, the network of a CoLAD run (got "both")\n');
  // the same run read as a single-network one (distill.strategy overridden)
  r = ladet('test', run, 'net=1', 'distill.strategy=self');
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    `net=1 picks a network of a CoLAD run, but ${join(run, 'config.yaml')} trains one network (distill.strategy: self)\n`,
  );
  r = ladet('test', run, 'net=both', 'distill.strategy=self');
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    `net=1 picks a network of a CoLAD run, but ${join(run, 'config.yaml')} trains one network (distill.strategy: self)\n`,
  );
});
