// Finding config and weights for test/predict, and the weights fit check (no training needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveModelFiles } from '../../src/engine/open_detector.js';
import { checkpointClasses, classList, loadModelTensors, stateDictMismatch } from '../../src/build/checkpoint.js';
import { LabelMap } from '../../src/data/label_map.js';
import { Linear, Sequential } from '../../src/nn/index.js';
import { dispose, ones, type Tensor } from '../../src/torch/index.js';

function withRun(fn: (root: string, run: string) => void): void {
  const root = mkdtempSync(join(tmpdir(), 'ladet-open-'));
  try {
    const run = join(root, 'runs', 'a');
    mkdirSync(join(run, 'weights'), { recursive: true });
    writeFileSync(join(run, 'config.yaml'), 'name: a\n');
    writeFileSync(join(run, 'weights', 'last.safetensors'), '');
    writeFileSync(join(root, 'other.yaml'), 'name: b\n');
    writeFileSync(join(root, 'loose.safetensors'), '');
    fn(root, run);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('resolveModelFiles: a run directory gives config and weights; explicit ones win', () => {
  withRun((root, run) => {
    const cfg = join(run, 'config.yaml');
    assert.deepEqual(resolveModelFiles({ run }), { configPath: cfg, weights: run, runDir: run });
    assert.deepEqual(resolveModelFiles({ weights: run }), { configPath: cfg, weights: run, runDir: run });
    const w = join(root, 'loose.safetensors');
    assert.deepEqual(resolveModelFiles({ run, weights: w }), { configPath: cfg, weights: w, runDir: run });
    // a file inside a run's weights/ folder: the run's config
    const last = join(run, 'weights', 'last.safetensors');
    assert.deepEqual(resolveModelFiles({ weights: last }), { configPath: cfg, weights: last, runDir: run });
    const other = join(root, 'other.yaml');
    assert.deepEqual(resolveModelFiles({ weights: last, config: other }), {
      configPath: other,
      weights: last,
      runDir: run,
    });
    assert.deepEqual(resolveModelFiles({ weights: w, config: other }), { configPath: other, weights: w, runDir: null });
    assert.deepEqual(resolveModelFiles({ config: other }), { configPath: other, weights: null, runDir: null });
    // a file outside a run without config=: the config embedded in the file (read when it is opened)
    assert.deepEqual(resolveModelFiles({ weights: w }), { configPath: null, weights: w, runDir: null });
  });
});

test('resolveModelFiles: errors name the path', () => {
  withRun((root) => {
    assert.throws(() => resolveModelFiles({ weights: join(root, 'x.safetensors') }), {
      message: `weights not found: ${join(root, 'x.safetensors')}`,
    });
    assert.throws(() => resolveModelFiles({ run: root }), { message: `${root}: not a run directory (no config.yaml)` });
    assert.throws(() => resolveModelFiles({}), { message: 'give a run directory, weights= or config=' });
  });
});

test('stateDictMismatch names the first wrong shape, else the first missing and unexpected keys', () => {
  const net = new Sequential(new Linear(3, 4), new Linear(4, 2));
  const sd = (shapes: Record<string, number[]>): Map<string, Tensor> =>
    new Map(Object.entries(shapes).map(([k, s]) => [k, ones(s)]));
  const cases: [Record<string, number[]>, string | null][] = [
    [{ '0.weight': [4, 3], '0.bias': [4], '1.weight': [2, 4], '1.bias': [2] }, null],
    [
      { '0.weight': [4, 3], '0.bias': [4], '1.weight': [5, 4], '1.bias': [2] },
      "'1.weight' has shape [5, 4] in the file, the model expects [2, 4]",
    ],
    [{ '0.weight': [4, 3], '0.bias': [4] }, "the model's key '1.weight' is missing from the file (and 1 more)"],
    [
      { '0.weight': [4, 3], '0.bias': [4], '1.weight': [2, 4], 'x.bias': [2] },
      "the model's key '1.bias' is missing from the file; the file's key 'x.bias' is not in the model",
    ],
  ];
  for (const [shapes, want] of cases) {
    const t = sd(shapes);
    try {
      assert.equal(stateDictMismatch(net, t), want);
    } finally {
      dispose([...t.values()]);
    }
  }
  const bad = sd({ '0.weight': [4, 3] });
  assert.throws(() => loadModelTensors('w.safetensors', net, bad), {
    message:
      "w.safetensors: the weights do not fit this model: the model's key '0.bias' is missing from the file (and 2 more)",
  });
  const good = sd({ '0.weight': [4, 3], '0.bias': [4], '1.weight': [2, 4], '1.bias': [2] });
  loadModelTensors('w.safetensors', net, good);
  assert.deepEqual(net.stateDict().get('1.bias')?.toArray(), [1, 1]);
  dispose([...bad.values(), ...good.values()]);
  net.dispose();
});

test('class lists: recorded in label order (ascending id) and read back; a malformed one is an error', () => {
  const classes = classList(
    new LabelMap([
      { id: 7, name: 'b' },
      { id: 2, name: 'a' },
    ]),
  );
  assert.deepEqual(classes, [
    { id: 2, name: 'a' },
    { id: 7, name: 'b' },
  ]);
  const meta = { format: 'ladet-checkpoint', version: 1, kind: 'best', info: { classes } } as const;
  assert.deepEqual(checkpointClasses(meta, 'w'), classes);
  assert.equal(checkpointClasses({ ...meta, info: {} }, 'w'), null);
  assert.equal(checkpointClasses(null, 'w'), null);
  assert.throws(() => checkpointClasses({ ...meta, info: { classes: [{ id: 'x' }] } }, 'w.safetensors'), {
    message: 'w.safetensors: __metadata__.ladet info.classes must be a non-empty list of {id, name}',
  });
});
