// scripts/pretrain_classifier.ts: a few steps on a tiny Fashion-MNIST subset lower the loss, and the written .pth
// holds torchvision's ResNet-18 state dict (names, order, shapes at the preset's 1/4 width) plus the classifier's
// fc, which ladet's own pretrained-weights loader reads as a torchvision checkpoint.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fashionMnistMissing } from '../../src/data/synth/idx.js';
import { readPthStateDict } from '../../src/io/index.js';
import { parseMetricsCsv } from '../../src/engine/metrics_log.js';
import { loadPretrained } from '../../src/build/pretrained.js';
import { ResNet } from '../../src/models/backbones/resnet.js';
import { parseArgs, pretrainClassifier } from '../../scripts/pretrain_classifier.js';

/** torchvision.models.resnet18().state_dict() keys, in order, spelled out from torchvision's module tree. */
function torchvisionResNet18Keys(): string[] {
  const bn = (p: string): string[] =>
    ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((s) => `${p}.${s}`);
  const keys = ['conv1.weight', ...bn('bn1')];
  for (let layer = 1; layer <= 4; layer++) {
    for (let block = 0; block < 2; block++) {
      const p = `layer${layer}.${block}`;
      keys.push(`${p}.conv1.weight`, ...bn(`${p}.bn1`), `${p}.conv2.weight`, ...bn(`${p}.bn2`));
      if (layer > 1 && block === 0) keys.push(`${p}.downsample.0.weight`, ...bn(`${p}.downsample.1`));
    }
  }
  return [...keys, 'fc.weight', 'fc.bias'];
}

const missing = fashionMnistMissing();

test(
  'pretrain_classifier: the loss falls on a tiny subset and the .pth has torchvision ResNet-18 names',
  { skip: missing ?? false },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'ladet-pretrain-'));
    try {
      const r = pretrainClassifier({
        dir,
        epochs: 6,
        batchSize: 16,
        trainLimit: 64,
        testLimit: 32,
        lr: 0.05,
        warmupIters: 0,
        canvas: 32,
        minSide: 28,
        maxSide: 32,
        testSide: 28,
      });
      assert.equal(r.stepLosses.length, 6 * 4);
      const first = r.epochs[0]!.trainLoss;
      const last = r.epochs[r.epochs.length - 1]!.trainLoss;
      assert.ok(last < first * 0.8, `train loss ${first} -> ${last} should fall`);
      assert.ok(r.stepLosses.every(Number.isFinite));

      const { tensors, container } = readPthStateDict(r.pth);
      assert.equal(container, '', 'a bare state dict, as torchvision saves');
      assert.deepEqual([...tensors.keys()], torchvisionResNet18Keys());
      assert.deepEqual(tensors.get('conv1.weight')!.shape, [16, 3, 7, 7]);
      assert.deepEqual(tensors.get('layer4.1.conv2.weight')!.shape, [128, 128, 3, 3]);
      assert.deepEqual(tensors.get('fc.weight')!.shape, [10, 128]);
      assert.deepEqual(tensors.get('fc.bias')!.shape, [10]);
      assert.equal(tensors.get('bn1.num_batches_tracked')!.dtype, 'I64');
      assert.equal(tensors.get('conv1.weight')!.dtype, 'F32');

      // the detection preset's backbone takes it as a torchvision checkpoint, leaving out only the classifier
      const backbone = new ResNet({ depth: 18, widthMultiplier: 0.25, frozenStages: -1, normEval: false });
      try {
        const report = loadPretrained(r.pth, backbone, { part: 'backbone' });
        assert.match(report.source, /torchvision/);
        assert.deepEqual(
          report.dropped.map((d) => d.key),
          ['fc.weight', 'fc.bias'],
        );
        assert.deepEqual(report.missing, []);
      } finally {
        backbone.dispose();
      }

      const rows = parseMetricsCsv(readFileSync(join(dir, 'metrics.csv'), 'utf8'));
      assert.equal(rows.length, 6);
      assert.ok(typeof rows[5]!['test/acc'] === 'number');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('pretrain_classifier: flags', () => {
  assert.deepEqual(parseArgs(['--epochs', '3', '--dir', 'x', '--lr', '0.05']), { epochs: 3, dir: 'x', lr: 0.05 });
  assert.throws(() => parseArgs(['--nope', '1']), /usage/);
  assert.throws(() => parseArgs(['--epochs', 'many']), /not a number/);
});
