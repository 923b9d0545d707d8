import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Detector, flattenHeadOutputs, paaR50FpnConfig, type DetectorConfig } from '../../src/models/index.js';
import { dispose, memory, noGrad, randn, tidy } from '../../src/torch/index.js';
import { checkSampled, fillFormula, formulaImage, readFixture, type Sampled } from './formula_weights.js';

interface FullFixture {
  numParameters: number;
  stateDict: [string, number[]][];
}
interface TinyFixture {
  config: {
    depth: 18;
    fpnChannels: number;
    numClasses: number;
    featChannels: number;
    stackedConvs: number;
    gnGroups: number;
  };
  input: number[];
  levels: { cls: Sampled; reg: Sampled; iou: Sampled }[];
}

/** mmdetection's PAA-R50-FPN (80 classes) parameter count, computed by make_fixtures.py from torch.nn modules. */
const PAA_R50_PARAMS = 32_295_322;

test('full-size PAA-R50-FPN: mmdetection parameter count, names and shapes; forward at 256x256', () => {
  const full = readFixture<FullFixture>('paa_r50_fpn.json');
  assert.equal(full.numParameters, PAA_R50_PARAMS);
  const det = new Detector(paaR50FpnConfig());
  assert.equal(det.numParameters(), PAA_R50_PARAMS);
  const sd = det.stateDict();
  assert.deepEqual(
    [...sd].map(([k, t]) => [k, t.shape]),
    full.stateDict,
  );
  // keys as they appear in mmdetection's PAA checkpoints
  for (const k of [
    'backbone.conv1.weight',
    'backbone.bn1.running_var',
    'backbone.layer1.0.downsample.0.weight',
    'backbone.layer4.2.bn3.num_batches_tracked',
    'neck.lateral_convs.0.conv.weight',
    'neck.fpn_convs.4.conv.bias',
    'bbox_head.cls_convs.3.gn.weight',
    'bbox_head.reg_convs.0.conv.weight',
    'bbox_head.atss_cls.bias',
    'bbox_head.atss_reg.weight',
    'bbox_head.atss_centerness.weight',
    'bbox_head.scales.4.scale',
  ]) {
    assert.ok(sd.has(k), k);
  }
  // frozen_stages=1: stem + layer1 frozen (no grad); trainable count excludes them
  const frozen = [...sd].filter(
    ([k, t]) => k.startsWith('backbone.') && t.requiresGrad === false && !/running|num_batches/.test(k),
  );
  assert.ok(frozen.every(([k]) => /^backbone\.(conv1|bn1|layer1)\./.test(k)));
  assert.equal(det.numParameters(true), PAA_R50_PARAMS - frozen.reduce((n, [, t]) => n + t.numel, 0));
  assert.deepEqual(det.strides, [8, 16, 32, 64, 128]);

  const before = memory().numTensors;
  tidy(() => {
    const out = noGrad(() => det.forward(randn([1, 3, 256, 256])));
    assert.deepEqual(
      out.cls.map((t) => t.shape),
      [32, 16, 8, 4, 2].map((s) => [1, 80, s, s]),
    );
    const flat = flattenHeadOutputs(out, 80);
    assert.deepEqual(
      [flat.cls.shape, flat.reg.shape, flat.iou!.shape],
      [
        [1, 1364, 80],
        [1, 1364, 4],
        [1, 1364],
      ],
    );
    const total = flat.cls.sum().add(flat.reg.sum()).add(flat.iou!.sum()).item();
    assert.ok(Number.isFinite(total));
  });
  assert.equal(memory().numTensors, before);
  det.dispose();
});

test('tiny detector (ResNet-18, FPN 32, 2-conv head) matches the torch.nn reference on the same weights', () => {
  const fx = readFixture<TinyFixture>('tiny_detector.json');
  const c = fx.config;
  const cfg: DetectorConfig = {
    backbone: { depth: c.depth, frozenStages: -1, normEval: true },
    neck: { outChannels: c.fpnChannels, startLevel: 1, numOuts: 5 },
    head: {
      numClasses: c.numClasses,
      featChannels: c.featChannels,
      stackedConvs: c.stackedConvs,
      gnGroups: c.gnGroups,
    },
  };
  const det = new Detector(cfg);
  fillFormula(det);
  det.eval();
  const x = formulaImage(fx.input);
  const out = noGrad(() => det.forward(x));
  fx.levels.forEach((ref, l) => {
    checkSampled(out.cls[l]!, ref.cls, `P${l + 3} cls`);
    checkSampled(out.reg[l]!, ref.reg, `P${l + 3} reg`);
    checkSampled(out.iou![l]!, ref.iou, `P${l + 3} iou`);
  });
  dispose([out, x]);
  det.dispose();
});

test('training forward/backward: gradients reach head, neck and unfrozen backbone; frozen ones stay empty', () => {
  const det = new Detector({
    backbone: { depth: 18, widthMultiplier: 0.25, frozenStages: 1, normEval: true },
    neck: { outChannels: 16 },
    head: { numClasses: 3, featChannels: 16, stackedConvs: 2, gnGroups: 4 },
  });
  det.train();
  const before = memory().numTensors;
  tidy(() => {
    const out = det.forward(randn([2, 3, 64, 96]));
    const flat = flattenHeadOutputs(out, 3);
    flat.cls.sigmoid().sum().add(flat.reg.square().sum()).add(flat.iou!.sum()).backward();
  });
  assert.equal(memory().numTensors, before, 'the training step left tensor handles behind');
  const sd = det.stateDict();
  for (const k of ['backbone.conv1.weight', 'backbone.layer1.0.conv1.weight']) assert.equal(sd.get(k)!.grad, null, k);
  // (zero-initialised last BNs block the block convs' gradient at step 0, but not the shortcut's or their own)
  for (const k of [
    'backbone.layer2.0.downsample.0.weight',
    'backbone.layer4.1.bn2.weight',
    'neck.fpn_convs.4.conv.weight',
    'bbox_head.cls_convs.0.conv.weight',
    'bbox_head.scales.2.scale',
  ]) {
    const g = sd.get(k)!.grad;
    assert.ok(g !== null && tidy(() => g.abs().sum().item()) > 0, `${k} has no gradient`);
    g.dispose();
  }
  // the config round-trips and a detector built from it has the same state-dict layout
  const twin = new Detector(det.config);
  twin.loadStateDict(det.stateDict());
  assert.ok(twin.stateDict().get('bbox_head.atss_reg.weight')!.equal(sd.get('bbox_head.atss_reg.weight')!));
  twin.dispose();
  det.dispose();
});
