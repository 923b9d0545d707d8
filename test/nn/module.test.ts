import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BatchNorm2d,
  Conv2d,
  GroupNorm,
  Linear,
  Module,
  ReLU,
  Sequential,
  ModuleList,
  biasInitWithProb,
  init,
} from '../../src/nn/index.js';
import { Tensor, manualSeed, ones, randn, tensor, zeros, memory } from '../../src/torch/index.js';
import { assertClose } from '../helpers.js';

class Block extends Module {
  conv1 = this.registerModule('conv1', new Conv2d(3, 4, 3, { padding: 1, bias: false }));
  bn1 = this.registerModule('bn1', new BatchNorm2d(4));
  forward(x: Tensor): Tensor {
    return this.bn1.forward(this.conv1.forward(x));
  }
}

class Net extends Module {
  layer1 = this.registerModule('layer1', new ModuleList([new Block(), new Block()]));
  head = this.registerModule('head', new Sequential(new ReLU(), new Linear(4, 2)));
}

test('parameters and buffers carry PyTorch dotted names in PyTorch order', () => {
  const net = new Net();
  assert.deepEqual(
    net.namedParameters().map(([n]) => n),
    [
      'layer1.0.conv1.weight',
      'layer1.0.bn1.weight',
      'layer1.0.bn1.bias',
      'layer1.1.conv1.weight',
      'layer1.1.bn1.weight',
      'layer1.1.bn1.bias',
      'head.1.weight',
      'head.1.bias',
    ],
  );
  assert.deepEqual(
    [...net.stateDict().keys()].filter((k) => k.startsWith('layer1.0.bn1')),
    [
      'layer1.0.bn1.weight',
      'layer1.0.bn1.bias',
      'layer1.0.bn1.running_mean',
      'layer1.0.bn1.running_var',
      'layer1.0.bn1.num_batches_tracked',
    ],
  );
  assert.equal(net.numParameters(), 2 * (4 * 3 * 9 + 8) + 4 * 2 + 2);
  assert.ok(net.parameters().every((p) => p.requiresGrad));
  net.dispose();
});

test('stateDict/loadStateDict round trip; strict and non-strict; shape errors name the key', () => {
  manualSeed(0);
  const a = new Net();
  const b = new Net();
  assert.ok(!a.stateDict().get('head.1.weight')!.equal(b.stateDict().get('head.1.weight')!));
  const bRefs = b.parameters();
  b.loadStateDict(a.stateDict());
  for (const [k, v] of a.stateDict()) assert.ok(v.equal(b.stateDict().get(k)!), k);
  // in place: the parameter objects are the same ones (optimizers keep working)
  assert.deepEqual(b.parameters(), bRefs);
  const partial = new Map(a.stateDict());
  partial.delete('head.1.bias');
  partial.set('extra.weight', zeros([1]));
  assert.throws(() => b.loadStateDict(partial), /missing keys: head\.1\.bias; unexpected keys: extra\.weight/);
  assert.deepEqual(b.loadStateDict(partial, false), { missingKeys: ['head.1.bias'], unexpectedKeys: ['extra.weight'] });
  const wrong = new Map(a.stateDict());
  wrong.set('head.1.weight', zeros([3, 4]));
  assert.throws(() => b.loadStateDict(wrong), /'head\.1\.weight' has shape \[3, 4\], the module expects \[2, 4\]/);
  a.dispose();
  b.dispose();
});

test('train/eval propagate; frozen BN statistics stay put in training mode; freezing stops gradients', () => {
  const bn = new BatchNorm2d(2);
  const x = randn([4, 2, 3, 3]).mul(3).add(5);
  bn.train();
  bn.forward(x);
  assert.ok(!bn.runningMean.equal(zeros([2])));
  assert.equal(bn.numBatchesTracked.item(), 1);
  const frozen = new BatchNorm2d(2, { frozenStats: true });
  frozen.train();
  const y = frozen.forward(x);
  assert.ok(frozen.runningMean.equal(zeros([2])));
  assert.equal(frozen.numBatchesTracked.item(), 0);
  // frozen stats normalise with running mean 0 / var 1: y = x / sqrt(1 + eps)
  assertClose(y.toArray(), x.div(Math.sqrt(1 + 1e-5)).toArray(), 1e-6);
  const net = new Net().eval();
  assert.ok(net.namedModules().every(([, m]) => !m.training));
  net.train();
  assert.ok(net.namedModules().every(([, m]) => m.training));
  net.requiresGrad_(false);
  assert.ok(net.parameters().every((p) => !p.requiresGrad));
  net.dispose();
});

test('layers compute what they should', () => {
  const lin = new Linear(2, 1);
  lin.loadStateDict({ weight: tensor([2, -1], [1, 2]), bias: tensor([0.5]) });
  assert.deepEqual(lin.forward(tensor([3, 4], [1, 2])).toArray(), [2.5]);
  const gn = new GroupNorm(1, 2);
  assert.equal(
    gn
      .forward(ones([1, 2, 2, 2]))
      .sum()
      .item(),
    0,
  );
  assertClose([biasInitWithProb(0.01)], [-4.59511985013459]);
  const w = zeros([64, 32, 3, 3]);
  manualSeed(7);
  init.kaimingNormal_(w, 'fan_out', 'relu');
  assertClose([w.std().item()], [Math.sqrt(2 / (64 * 9))], 0.05);
  init.normal_(w, 0, 0.01);
  assertClose([w.std().item()], [0.01], 0.05);
  init.constant_(w, 3);
  assert.equal(w.mean().item(), 3);
});

test('Sequential frees its intermediate activations', () => {
  const seq = new Sequential(new Conv2d(1, 2, 1), new ReLU(), new Conv2d(2, 1, 1));
  const x = ones([1, 1, 4, 4]);
  const before = memory().numTensors;
  const y = seq.forward(x);
  assert.equal(memory().numTensors, before + 1);
  y.dispose();
  seq.dispose();
});
