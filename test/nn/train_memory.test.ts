// A small conv net trained for 300 steps: the loss must fall and the live tensor count/bytes must stay flat after
// warm-up (no leak per step, including optimizer state, autograd graphs and BatchNorm buffers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchNorm2d, Conv2d, Linear, Module } from '../../src/nn/index.js';
import { SGD } from '../../src/optim/index.js';
import {
  Tensor,
  adaptiveAvgPool2d,
  crossEntropy,
  manualSeed,
  memory,
  randn,
  randint,
  setNumThreads,
  tidy,
} from '../../src/torch/index.js';

class SmallNet extends Module {
  conv1 = this.registerModule('conv1', new Conv2d(3, 8, 3, { padding: 1 }));
  bn1 = this.registerModule('bn1', new BatchNorm2d(8));
  conv2 = this.registerModule('conv2', new Conv2d(8, 16, 3, { stride: 2, padding: 1 }));
  fc = this.registerModule('fc', new Linear(16, 4));

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const h = this.conv2.forward(this.bn1.forward(this.conv1.forward(x)).relu()).relu();
      return this.fc.forward(adaptiveAvgPool2d(h, [1, 1]).flatten(1));
    });
  }
}

test('300 training steps: loss falls and memory stays flat after warm-up', () => {
  setNumThreads(1);
  manualSeed(0);
  const net = new SmallNet();
  const opt = new SGD(net.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  // a fixed, learnable task: the class is decided by which quadrant holds a bright blob
  const x = randn([16, 3, 12, 12]).mul(0.1);
  const y = randint(0, 4, [16]);
  const labels = y.toArray();
  tidy(() => {
    labels.forEach((c, i) => {
      const r = c < 2 ? 0 : 6;
      const col = c % 2 === 0 ? 0 : 6;
      x.select(0, i)
        .slice(1, r, r + 6)
        .slice(2, col, col + 6)
        .add_(1);
    });
  });
  const losses: number[] = [];
  const counts: number[] = [];
  const bytes: number[] = [];
  for (let step = 0; step < 300; step++) {
    opt.zeroGrad();
    const loss = tidy(() => {
      const l = crossEntropy(net.forward(x), y);
      l.backward();
      return l.item();
    });
    opt.step();
    losses.push(loss);
    const m = memory();
    counts.push(m.numTensors);
    bytes.push(m.numBytes);
  }
  const warm = 5;
  const steady = counts.slice(warm);
  assert.ok(
    steady.every((c) => c === steady[0]),
    `live tensors drift after warm-up: ${steady[0]} .. ${Math.max(...steady)}`,
  );
  const steadyBytes = bytes.slice(warm);
  assert.ok(
    steadyBytes.every((b) => b === steadyBytes[0]),
    'live tensor bytes drift after warm-up',
  );
  const first = losses.slice(0, 10).reduce((a, b) => a + b) / 10;
  const last = losses.slice(-10).reduce((a, b) => a + b) / 10;
  assert.ok(last < first * 0.2, `loss did not fall enough: ${first} -> ${last}`);
  net.dispose();
  x.dispose();
  y.dispose();
});
