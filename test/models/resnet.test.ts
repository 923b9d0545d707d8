import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResNet } from '../../src/models/index.js';
import { BatchNorm2d, Conv2d } from '../../src/nn/index.js';
import { memory, noGrad, ones, randn, tidy, manualSeed } from '../../src/torch/index.js';
import { checkSampled, fillFormula, formulaImage, readFixture, type Sampled } from './formula_weights.js';

interface R18Fixture {
  stateDict: [string, number[]][];
  input: number[];
  evalOutputs: Sampled[];
  trainLayer4: Sampled;
  runningMeanAfterTrain: Sampled;
}
const r18 = readFixture<R18Fixture>('resnet18_torchvision.json');

test("ResNet-18's state dict has torchvision's names, shapes and order (fc excluded)", () => {
  const net = new ResNet({ depth: 18 });
  const ours = [...net.stateDict()].map(([k, t]) => [k, t.shape]);
  assert.deepEqual(ours, r18.stateDict);
  net.dispose();
});

test('ResNet-18 forward matches torchvision on the same weights: eval (running stats) and train (batch stats)', () => {
  const net = new ResNet({ depth: 18, normEval: false });
  fillFormula(net);
  const x = formulaImage(r18.input);
  net.eval();
  noGrad(() => {
    const outs = net.forward(x);
    outs.forEach((o, i) => checkSampled(o, r18.evalOutputs[i]!, `eval C${i + 2}`));
    for (const o of outs) o.dispose();
    net.train();
    const trainOuts = net.forward(x);
    // Train mode renormalises with batch statistics at each of the 20 BNs, which amplifies float32 kernel-order
    // differences: PyTorch itself, on the same libtorch 1.13, gives sampled C5 values up to 6.2e-3 x mean|x| apart on
    // two x86 CPUs (AVX2 vs AVX-512 oneDNN kernels), while eval-mode outputs agree to 2e-6. The fixture is recorded
    // on one CPU, so this check allows 1.5e-2; a wrong normalisation (running stats, biased variance) is far off.
    checkSampled(trainOuts[3]!, r18.trainLayer4, 'train C5', 1.5e-2);
    for (const o of trainOuts) o.dispose();
  });
  const bn = net.child('layer1')!.child('0')!.child('bn1') as BatchNorm2d;
  checkSampled(bn.runningMean, r18.runningMeanAfterTrain, 'running_mean after one training batch');
  x.dispose();
  net.dispose();
});

test('ResNet-50 has the Bottleneck layout: torchvision names and C2..C5 shapes at strides 4..32', () => {
  const net = new ResNet({ depth: 50 });
  const sd = net.stateDict();
  assert.deepEqual(sd.get('layer1.0.conv1.weight')!.shape, [64, 64, 1, 1]);
  assert.deepEqual(sd.get('layer1.0.conv2.weight')!.shape, [64, 64, 3, 3]);
  assert.deepEqual(sd.get('layer1.0.conv3.weight')!.shape, [256, 64, 1, 1]);
  assert.deepEqual(sd.get('layer1.0.downsample.0.weight')!.shape, [256, 64, 1, 1]);
  assert.deepEqual(sd.get('layer2.0.downsample.1.running_var')!.shape, [512]);
  assert.ok(!sd.has('layer1.1.downsample.0.weight'));
  assert.deepEqual(net.stageChannels, [256, 512, 1024, 2048]);
  // torchvision resnet50 without fc: 25,557,032 - (2048*1000 + 1000)
  assert.equal(net.numParameters(), 23_508_032);
  const outs = noGrad(() => net.eval().forward(randn([1, 3, 65, 97])));
  // stride-2 convs and pooling round up: 65x97 -> 33x49 -> 17x25 -> 9x13 -> 5x7 -> 3x4
  assert.deepEqual(
    outs.map((o) => o.shape),
    [
      [1, 256, 17, 25],
      [1, 512, 9, 13],
      [1, 1024, 5, 7],
      [1, 2048, 3, 4],
    ],
  );
  for (const o of outs) o.dispose();
  net.dispose();
});

test('ResNet-101 stage depths and parameter count equal torchvision resnet101 minus fc', () => {
  const net = new ResNet({ depth: 101 });
  const stage3 = net.namedChildren().find(([n]) => n === 'layer3')![1];
  assert.equal(stage3.namedChildren().length, 23);
  // torchvision resnet101: 44,549,160 parameters including fc (2048*1000 + 1000)
  assert.equal(net.numParameters(), 44_549_160 - 2_049_000);
  net.dispose();
  const r34 = new ResNet({ depth: 34 });
  // torchvision resnet34: 21,797,672 including fc (512*1000 + 1000)
  assert.equal(r34.numParameters(), 21_797_672 - 513_000);
  r34.dispose();
});

test('frozenStages: stem and first stages get no grad and stay in eval mode; normEval freezes every BN', () => {
  const net = new ResNet({ depth: 18, frozenStages: 1, normEval: false });
  const sd = net.stateDict();
  for (const k of ['conv1.weight', 'bn1.weight', 'layer1.0.conv1.weight', 'layer1.1.bn2.bias'])
    assert.equal(sd.get(k)!.requiresGrad, false, k);
  for (const k of ['layer2.0.conv1.weight', 'layer2.0.bn1.weight', 'layer4.1.conv2.weight'])
    assert.equal(sd.get(k)!.requiresGrad, true, k);
  net.train();
  const mods = new Map(net.namedModules());
  assert.equal(mods.get('bn1')!.training, false);
  assert.equal(mods.get('layer1.0.bn1')!.training, false);
  assert.equal(mods.get('layer2.0.bn1')!.training, true);
  manualSeed(1);
  const before = new Map([...sd].map(([k, t]) => [k, t.clone()]));
  noGrad(() => tidy(() => net.forward(randn([2, 3, 64, 64]).mul(2).add(1))));
  assert.ok(
    sd.get('layer1.0.bn1.running_mean')!.equal(before.get('layer1.0.bn1.running_mean')!),
    'frozen stage BN stats changed',
  );
  assert.ok(
    !sd.get('layer2.0.bn1.running_mean')!.equal(before.get('layer2.0.bn1.running_mean')!),
    'trainable BN stats did not update',
  );
  for (const t of before.values()) t.dispose();
  net.dispose();

  const frozenBn = new ResNet({ depth: 18, frozenStages: -1, normEval: true }).train();
  assert.ok(frozenBn.namedModules().every(([, m]) => !(m instanceof BatchNorm2d) || !m.training));
  assert.ok(
    frozenBn.parameters().every((p) => p.requiresGrad),
    'normEval must not freeze the affine parameters',
  );
  const rm = frozenBn.stateDict().get('layer3.0.bn2.running_mean')!.clone();
  noGrad(() => tidy(() => frozenBn.forward(randn([2, 3, 64, 64]).add(3))));
  assert.ok(frozenBn.stateDict().get('layer3.0.bn2.running_mean')!.equal(rm));
  rm.dispose();
  frozenBn.dispose();
});

test('gradients reach trainable stages only', () => {
  // zeroInitResidual=false: a zero last BN would (correctly) block the gradient of the convs before it
  const net = new ResNet({
    depth: 18,
    widthMultiplier: 0.25,
    frozenStages: 2,
    normEval: true,
    zeroInitResidual: false,
  });
  tidy(() => {
    const outs = net.forward(randn([1, 3, 32, 32]));
    outs.reduce((acc, o) => acc.add(o.sum()), ones([])).backward();
  });
  const sd = net.stateDict();
  for (const k of ['conv1.weight', 'layer1.0.conv1.weight', 'layer2.1.conv2.weight'])
    assert.equal(sd.get(k)!.grad, null, k);
  for (const k of ['layer3.0.conv1.weight', 'layer4.1.bn2.weight']) {
    const g = sd.get(k)!.grad;
    assert.ok(g !== null && g.abs().sum().item() > 0, `${k} got no gradient`);
    g.dispose();
  }
  net.dispose();
});

test('init: Kaiming normal (fan_out) convs, BN ones/zeros, last BN of each block zero unless zeroInitResidual=false', () => {
  manualSeed(3);
  const net = new ResNet({ depth: 50 });
  const sd = net.stateDict();
  const w = sd.get('layer3.0.conv2.weight')!; // (256, 256, 3, 3): fan_out = 256*9
  assert.ok(Math.abs(w.std().item() / Math.sqrt(2 / (256 * 9)) - 1) < 0.02);
  assert.equal(sd.get('layer3.0.bn1.weight')!.mean().item(), 1);
  assert.equal(sd.get('layer3.0.bn1.bias')!.abs().sum().item(), 0);
  assert.equal(sd.get('layer3.0.bn3.weight')!.abs().sum().item(), 0);
  assert.equal(sd.get('layer3.0.downsample.1.weight')!.mean().item(), 1);
  net.dispose();
  const plain = new ResNet({ depth: 18, zeroInitResidual: false });
  assert.equal(plain.stateDict().get('layer2.1.bn2.weight')!.mean().item(), 1);
  plain.dispose();
  const zero = new ResNet({ depth: 18 });
  assert.equal(zero.stateDict().get('layer2.1.bn2.weight')!.abs().sum().item(), 0);
  assert.equal(zero.stateDict().get('layer2.1.bn1.weight')!.mean().item(), 1);
  zero.dispose();
});

test('width multiplier and outIndices', () => {
  const net = new ResNet({ depth: 18, widthMultiplier: 0.25, outIndices: [1, 3] });
  assert.equal(net.baseChannels, 16);
  assert.deepEqual(net.stageChannels, [16, 32, 64, 128]);
  assert.deepEqual(net.outChannels, [32, 128]);
  assert.deepEqual(net.outStrides, [8, 32]);
  assert.deepEqual(net.stateDict().get('conv1.weight')!.shape, [16, 3, 7, 7]);
  const outs = noGrad(() => net.forward(randn([2, 3, 64, 64])));
  assert.deepEqual(
    outs.map((o) => o.shape),
    [
      [2, 32, 8, 8],
      [2, 128, 2, 2],
    ],
  );
  for (const o of outs) o.dispose();
  assert.ok(net.namedModules().some(([, m]) => m instanceof Conv2d));
  net.dispose();
  const wide = new ResNet({ depth: 50, baseChannels: 32 });
  assert.deepEqual(wide.stageChannels, [128, 256, 512, 1024]);
  wide.dispose();
});

test('bad options are rejected with messages naming the option', () => {
  assert.throws(() => new ResNet({ depth: 42 as 18 }), {
    message: 'ResNet: depth must be one of 18, 34, 50, 101 (got 42)',
  });
  assert.throws(() => new ResNet({ depth: 18, widthMultiplier: 0.3 }), {
    message: 'ResNet: baseChannels x widthMultiplier must be a positive whole number (got 19.2)',
  });
  assert.throws(() => new ResNet({ depth: 18, outIndices: [2, 1] }), {
    message: 'ResNet: outIndices must be increasing stage indices in 0..3 (got [2, 1])',
  });
  assert.throws(() => new ResNet({ depth: 18, frozenStages: 5 }), {
    message: 'ResNet: frozenStages must be a whole number in -1..4 (got 5)',
  });
});

test('forward frees its intermediates: only the returned maps stay alive', () => {
  const net = new ResNet({ depth: 18, widthMultiplier: 0.25 });
  const x = randn([1, 3, 64, 64]);
  const before = memory().numTensors;
  const outs = noGrad(() => net.forward(x));
  assert.equal(memory().numTensors, before + 4);
  for (const o of outs) o.dispose();
  x.dispose();
  net.dispose();
});
