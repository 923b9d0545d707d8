// ladet against PyTorch on PyTorch's own checkpoints: test/fixtures/models/torch_pretrained.py (Debian's
// /usr/bin/python3 with python3-torch and python3-torchvision; no download) saves torchvision ResNet-50 / -101 state
// dicts and an mmdetection-style PAA-R50-FPN checkpoint as .pth, with the outputs PyTorch computes from them. ladet
// loads each file through loadPretrained and must reproduce those outputs. Tolerance, per tensor:
// max |ladet - torch| <= 1e-4 * max(1, max |torch|) (absolute for unit-scale maps, relative to the map's largest value
// for the deep ResNet features, which reach ~40). Skipped, with the reason, where python torch is not importable.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPretrained } from '../../src/build/pretrained.js';
import { Detector, ResNet, paaR50FpnConfig } from '../../src/models/index.js';
import { noGrad, tensor, tidy, type Tensor } from '../../src/torch/index.js';

const PYTHON = '/usr/bin/python3';
const TOL = 1e-4;
const SCRIPT = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'test',
  'fixtures',
  'models',
  'torch_pretrained.py',
);

function skipReason(): string | false {
  const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} not found (the cross-checks need Debian's python3-torch and python3-torchvision)`;
  if (r.status !== 0) {
    const last = r.stderr.trim().split('\n').pop() ?? '';
    return `${PYTHON} cannot import torch and torchvision (${last}): install python3-torch python3-torchvision`;
  }
  return false;
}
const skip = skipReason();

interface Entry {
  shape: number[];
  file: string;
  maxAbs: number;
}
let fixtureDir: string | null = null;
let index: Record<string, Entry | unknown> = {};

/** Runs the script once (about 10 s) and returns its output directory. */
function fixtures(): string {
  if (fixtureDir !== null) return fixtureDir;
  const dir = mkdtempSync(join(tmpdir(), 'ladet-torch-crosscheck-'));
  fixtureDir = dir;
  const r = spawnSync(PYTHON, [SCRIPT, dir], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `torch_pretrained.py failed: ${r.stderr}`);
  index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Record<string, unknown>;
  return dir;
}
after(() => {
  if (fixtureDir !== null) rmSync(fixtureDir, { recursive: true, force: true });
});

function entry(name: string): Entry {
  const e = index[name] as Entry | undefined;
  assert.ok(e, `no ${name} in index.json`);
  return e;
}

function reference(name: string): { values: Float32Array; shape: number[] } {
  const e = entry(name);
  const buf = readFileSync(join(fixtures(), e.file));
  return { values: new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4), shape: e.shape };
}

function input(): Tensor {
  const { values, shape } = reference('input');
  return tensor(values, shape);
}

/** Asserts the shape and max |got - want| <= TOL * max(1, max |want|); returns "max abs diff (max |torch|)". */
function check(name: string, got: Tensor): string {
  const want = reference(name);
  assert.deepEqual(got.shape, want.shape, `${name}: shape`);
  const g = got.toArray();
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < g.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs((g[i] as number) - (want.values[i] as number)));
    maxRef = Math.max(maxRef, Math.abs(want.values[i] as number));
  }
  const err = maxDiff / Math.max(1, maxRef);
  assert.ok(err <= TOL, `${name}: max |ladet - torch| ${maxDiff} (max |torch| ${maxRef}) exceeds ${TOL}`);
  return `${maxDiff.toExponential(2)} (max |torch| ${maxRef.toFixed(2)})`;
}

for (const depth of [50, 101] as const) {
  test(`torchvision resnet${depth}() .pth -> ladet ResNet-${depth} (eval): C3..C5 equal PyTorch's`, { skip }, (t) => {
    const path = join(fixtures(), `resnet${depth}.pth`);
    const r = new ResNet({ depth, outIndices: [1, 2, 3] });
    try {
      const report = loadPretrained(path, r, { part: 'backbone' });
      assert.match(report.source, /torchvision ResNet/);
      assert.deepEqual(
        report.dropped.map((d) => d.key),
        depth === 50 ? ['fc.weight', 'fc.bias'] : ['module.fc.weight', 'module.fc.bias'],
      );
      // resnet50.pth has no num_batches_tracked (as torchvision's published files); resnet101.pth has a module. prefix
      assert.equal(report.missing.length, depth === 50 ? 53 : 0);
      assert.equal(report.strippedModulePrefix, depth === 101);
      r.eval();
      const diffs = tidy(() => {
        const feats = noGrad(() => r.forward(input()));
        return feats.map((f, i) => check(`resnet${depth}.C${i + 3}`, f));
      });
      t.diagnostic(`max abs diff C3..C5: ${diffs.join(', ')}`);
    } finally {
      r.dispose();
    }
  });
}

test(
  'mmdetection PAA-R50-FPN checkpoint (.pth, meta.CLASSES) -> ladet Detector: raw head outputs equal',
  { skip },
  (t) => {
    const path = join(fixtures(), 'paa_r50_fpn.pth');
    const classes = index['paa.classes'] as string[];
    const det = new Detector(paaR50FpnConfig(classes.length));
    try {
      const report = loadPretrained(path, det, { part: 'detector' });
      assert.match(report.source, /detector state dict/);
      assert.deepEqual(report.classes, classes);
      assert.deepEqual([report.dropped, report.missing, report.converted], [[], [], []]);
      assert.equal(report.mapped.length, det.stateDict().size);
      det.eval();
      const lines = tidy(() => {
        const out = noGrad(() => det.forward(input()));
        assert.equal(out.clsKind, 'logits');
        return out.cls.map(
          (c, l) =>
            `P${l + 3} cls ${check(`paa.cls.${l}`, c)}, reg ${check(`paa.reg.${l}`, out.reg[l] as Tensor)}, ` +
            `iou ${check(`paa.iou.${l}`, (out.iou as Tensor[])[l] as Tensor)}`,
        );
      });
      for (const line of lines) t.diagnostic(`max abs diff ${line}`);
    } finally {
      det.dispose();
    }
  },
);
