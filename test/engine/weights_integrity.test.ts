// Weights are what they claim to be (issue 19, item 5): a tensor relabelled to another dtype in the header, or a
// NaN / Infinity value, is refused on every path that loads weights, naming the file and the tensor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type ConfigInput } from '../../src/config/schema.js';
import { buildAnchorGenerator, buildDetector } from '../../src/build/model.js';
import { AnchorCache } from '../../src/assign/targets.js';
import {
  checkOptimizerTensors,
  loadModelTensors,
  loadWeights,
  readCheckpoint,
  saveCheckpoint,
  stateDictMismatch,
} from '../../src/build/checkpoint.js';
import { openDetector } from '../../src/engine/open_detector.js';
import { buildStrategy } from '../../src/build/strategy.js';
import { readSafetensorsHeader } from '../../src/io/index.js';
import { Linear, Sequential } from '../../src/nn/index.js';
import { SGD } from '../../src/optim/index.js';
import { dispose, manualSeed, ones, setNumThreads, tensor, type Tensor } from '../../src/torch/index.js';
import { train } from '../../src/engine/trainer.js';
import { modelSection } from '../distill/fixture.js';

setNumThreads(1);
const dir = mkdtempSync(join(tmpdir(), 'ladet-weights-'));
const base: ConfigInput = { name: 't', data: { root: 'unused' }, model: modelSection };
const config = parseConfig(base);
const HEAD_W = 'bbox_head.atss_cls.weight';

function detector(seed = 1): ReturnType<typeof buildDetector> {
  manualSeed(seed);
  return buildDetector(config.model, 3);
}

/** Rewrites one header entry of a safetensors file in place (data bytes untouched; the header is re-padded). */
function editHeader(path: string, name: string, edit: (entry: { dtype: string; shape: number[] }) => void): void {
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[] }
  >;
  const entry = header[name];
  assert.ok(entry !== undefined, `${name} not in ${path}`);
  edit(entry);
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(padded));
  writeFileSync(path, Buffer.concat([len, json, bytes.subarray(8 + n)]));
}

/** Overwrites element `index` of an F32 tensor of a safetensors file with `value`. */
function poke(path: string, name: string, value: number, index = 0): void {
  const h = readSafetensorsHeader(path);
  const e = h.entries.find((x) => x.name === name);
  assert.ok(e !== undefined && e.dtype === 'F32', `${name}: no F32 tensor in ${path}`);
  const bytes = readFileSync(path);
  bytes.writeFloatLE(value, h.dataStart + e.begin + 4 * index);
  writeFileSync(path, bytes);
}

function weightsFile(name: string, info?: Record<string, unknown>): string {
  const net = detector();
  const p = join(dir, name);
  saveCheckpoint(p, net, { format: 'ladet-checkpoint', version: 1, kind: 'weights', ...(info ? { info } : {}) });
  net.dispose();
  return p;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('a tensor relabelled from F32 to I32 in the header (same byte size) is refused, naming file and tensor', () => {
  const p = weightsFile('relabelled.safetensors');
  editHeader(p, HEAD_W, (e) => {
    assert.equal(e.dtype, 'F32');
    e.dtype = 'I32';
  });
  const net = detector(2);
  assert.throws(
    () => loadWeights(p, net),
    new RegExp(
      `^Error: ${escape(p)}: the weights do not fit this model: '${escape(HEAD_W)}' has dtype I32 in the file, the model expects F32`,
    ),
  );
  net.dispose();
});

test('stateDictMismatch compares dtypes exactly (no widening either)', () => {
  const net = new Sequential(new Linear(3, 2));
  const sd = (dtype: 'float32' | 'float64' | 'float16'): Map<string, Tensor> =>
    new Map([
      ['0.weight', ones([2, 3], { dtype })],
      ['0.bias', ones([2])],
    ]);
  assert.equal(stateDictMismatch(net, sd('float32')), null);
  for (const [d, f] of [
    ['float64', 'F64'],
    ['float16', 'F16'],
  ] as const) {
    const t = sd(d);
    assert.equal(
      stateDictMismatch(net, t),
      `'0.weight' has dtype ${f} in the file, the model expects F32 (ladet converts no dtype on loading)`,
    );
    dispose([...t.values()]);
  }
});

test('a NaN or an Infinity in the weights is refused by loadWeights, naming file and tensor', () => {
  for (const [value, shown] of [
    [NaN, 'NaN'],
    [-Infinity, '-Infinity'],
  ] as const) {
    const p = weightsFile(`bad-${shown}.safetensors`);
    poke(p, HEAD_W, value, 5);
    const net = detector(2);
    assert.throws(
      () => loadWeights(p, net),
      new RegExp(
        `^Error: ${escape(p)}: tensor '${escape(HEAD_W)}' holds 1 non-finite value of \\d+ \\(element 5 is ${shown}\\)`,
      ),
    );
    net.dispose();
  }
});

test('loadModelTensors refuses non-finite tensors handed to it directly', () => {
  const net = new Sequential(new Linear(2, 1));
  const t = new Map([
    ['0.weight', tensor([1, Infinity], [1, 2])],
    ['0.bias', tensor([0])],
  ]);
  assert.throws(
    () => loadModelTensors('mem.safetensors', net, t),
    /^Error: mem\.safetensors: tensor '0\.weight' holds 1 non-finite value of 2 \(element 1 is Infinity\)/,
  );
  dispose([...t.values()]);
});

test('a LAD teacher with a NaN weight is refused when the strategy is built (not trained as all-background)', () => {
  const w = weightsFile('teacher.safetensors');
  poke(w, HEAD_W, NaN);
  const cfgPath = join(dir, 'teacher.yaml');
  writeFileSync(cfgPath, JSON.stringify({ name: 'teacher', data: { root: 'unused' }, model: modelSection }));
  const student = parseConfig({ ...base, distill: { strategy: 'lad', teacher: { config: cfgPath, weights: w } } });
  const anchors = new AnchorCache(buildAnchorGenerator(student.model));
  assert.throws(
    () => buildStrategy(student, () => buildDetector(student.model, 3), 3, anchors),
    new RegExp(
      `^Error: distill\\.teacher\\.weights: ${escape(w)}: tensor '${escape(HEAD_W)}' holds 1 non-finite value`,
    ),
  );
  // relabelled teacher weights too
  const r = weightsFile('teacher-relabelled.safetensors');
  editHeader(r, HEAD_W, (e) => void (e.dtype = 'I32'));
  const relabelled = parseConfig({ ...base, distill: { strategy: 'lad', teacher: { config: cfgPath, weights: r } } });
  assert.throws(
    () => buildStrategy(relabelled, () => buildDetector(relabelled.model, 3), 3, anchors),
    /teacher-relabelled\.safetensors: the weights do not fit this model: 'bbox_head\.atss_cls\.weight' has dtype I32/,
  );
  anchors.dispose();
});

test('CoLAD starting weights and openDetector go through the same checks', () => {
  const w = weightsFile('init.safetensors');
  poke(w, 'backbone.conv1.weight', NaN);
  const colad = parseConfig({ ...base, distill: { strategy: 'colad', colad: { net1Init: w } } });
  const anchors = new AnchorCache(buildAnchorGenerator(colad.model));
  assert.throws(
    () => buildStrategy(colad, () => buildDetector(colad.model, 3), 3, anchors),
    /^Error: distill\.colad\.net1Init: .*init\.safetensors: tensor 'backbone\.conv1\.weight' holds 1 non-finite/,
  );
  anchors.dispose();
  const classes = [
    { id: 1, name: 'a' },
    { id: 2, name: 'b' },
    { id: 3, name: 'c' },
  ];
  const o = weightsFile('opened.safetensors', { classes, resolvedConfig: config });
  openDetector({ configPath: null, weights: o, runDir: null }).model.dispose();
  poke(o, HEAD_W, Infinity, 2);
  assert.throws(
    () => openDetector({ configPath: null, weights: o, runDir: null }),
    /opened\.safetensors: tensor 'bbox_head\.atss_cls\.weight' holds 1 non-finite value of \d+ \(element 2 is Infinity\)/,
  );
});

test('a resume checkpoint with a NaN in its optimizer state is refused, naming the optimizer tensor', () => {
  const net = new Sequential(new Linear(3, 2));
  const opt = new SGD(net.parameters(), { lr: 0.1, momentum: 0.9 });
  const out = net.forward(ones([4, 3]));
  out.sum().backward();
  opt.step();
  const p = join(dir, 'last.safetensors');
  saveCheckpoint(p, net, { format: 'ladet-checkpoint', version: 1, kind: 'last' }, opt);
  const ck = readCheckpoint(p);
  assert.deepEqual(Object.keys(ck.optimizer).sort(), ['state.0.momentum_buffer', 'state.1.momentum_buffer']);
  checkOptimizerTensors(p, opt, ck.optimizer);
  dispose([[...ck.model.values()], ck.optimizer]);
  poke(p, 'optimizer.state.1.momentum_buffer', NaN, 1);
  assert.throws(
    () => readCheckpoint(p),
    new RegExp(
      `^Error: ${escape(p)}: tensor 'optimizer\\.state\\.1\\.momentum_buffer' holds 1 non-finite value of 2 \\(element 1 is NaN\\)`,
    ),
  );
});

test('checkOptimizerTensors refuses optimizer state of another dtype than its parameter (relabelled in the file)', () => {
  const net = new Sequential(new Linear(3, 2));
  const opt = new SGD(net.parameters(), { lr: 0.1, momentum: 0.9 });
  net
    .forward(ones([4, 3]))
    .sum()
    .backward();
  opt.step();
  const p = join(dir, 'last-relabelled.safetensors');
  saveCheckpoint(p, net, { format: 'ladet-checkpoint', version: 1, kind: 'last' }, opt);
  editHeader(p, 'optimizer.state.0.momentum_buffer', (e) => void (e.dtype = 'I32'));
  const ck = readCheckpoint(p);
  assert.throws(
    () => checkOptimizerTensors(p, opt, ck.optimizer),
    new RegExp(
      `^Error: ${escape(p)}: the optimizer state does not fit this run: 'optimizer\\.state\\.0\\.momentum_buffer' has dtype I32 in the file, its parameter is F32`,
    ),
  );
  dispose([[...ck.model.values()], ck.optimizer]);
});

test('train(resume) refuses a last checkpoint whose optimizer state holds a NaN, or whose tensors were relabelled', async () => {
  const work = mkdtempSync(join(tmpdir(), 'ladet-resume-nan-'));
  const c: ConfigInput = {
    name: 'nan',
    seed: 0,
    threads: 1,
    runsDir: join(work, 'runs'),
    data: {
      builtin: 'shapes',
      builtinArgs: { train: 4, val: 4, size: 128, maxItems: 2 },
      root: join(work, 'shapes'),
      trainScales: [[128, 128]],
      testScale: [128, 128],
      flipProb: 0,
      batchSize: 2,
      workers: 0,
    },
    model: modelSection,
    schedule: { epochs: 2, warmupIters: 0, steps: [] },
    eval: { every: 0 },
  };
  const quiet = { onMessage: (): void => {} };
  const first = await train(parseConfig(c), { hooks: { ...quiet, shouldStop: () => true } });
  assert.equal(first.stopped, true);
  const last = join(first.runDir, 'weights', 'last.safetensors');
  const victim = readSafetensorsHeader(last).entries.find((e) => e.name.startsWith('optimizer.') && e.dtype === 'F32');
  assert.ok(victim !== undefined, 'the last checkpoint holds optimizer state');
  poke(last, victim.name, NaN);
  await assert.rejects(
    train(parseConfig(c), { resume: true, hooks: quiet }),
    new RegExp(`${escape(last)}: tensor '${escape(victim.name)}' holds 1 non-finite value`),
  );
  // relabelled dtypes in a resume checkpoint: a model tensor and an optimizer tensor (same byte size: F32 -> I32)
  poke(last, victim.name, 0);
  editHeader(last, victim.name, (e) => void (e.dtype = 'I32'));
  await assert.rejects(
    train(parseConfig(c), { resume: true, hooks: quiet }),
    new RegExp(
      `${escape(last)}: the optimizer state does not fit this run: '${escape(victim.name)}' has dtype I32 in the file`,
    ),
  );
  editHeader(last, victim.name, (e) => void (e.dtype = 'F32'));
  editHeader(last, HEAD_W, (e) => void (e.dtype = 'I32'));
  await assert.rejects(
    train(parseConfig(c), { resume: true, hooks: quiet }),
    new RegExp(`${escape(last)}: the weights do not fit this model: '${escape(HEAD_W)}' has dtype I32 in the file`),
  );
});
