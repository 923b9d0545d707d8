// Engine suite: one training step (forward, backward, SGD) of a ResNet-18-shaped conv stack, batch 8 at 128x128,
// in ladet and in PyTorch (Debian python3-torch, same libtorch build) with the same thread count, same run.
import { Module, Conv2d, BatchNorm2d, Linear, MaxPool2d, type Layer } from '../src/nn/index.js';
import { SGD } from '../src/optim/index.js';
import {
  Tensor,
  adaptiveAvgPool2d,
  crossEntropy,
  getNumThreads,
  manualSeed,
  memory,
  randint,
  randn,
  setNumThreads,
  tidy,
} from '../src/torch/index.js';
import { peerPython, runPeer } from './peer.js';
import { availableParallelism } from 'node:os';
import { median } from './util.js';

class BasicBlock extends Module implements Layer {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  downsample: { conv: Conv2d; bn: BatchNorm2d } | null = null;

  constructor(inC: number, outC: number, stride: number) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(inC, outC, 3, { stride, padding: 1, bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(outC));
    this.conv2 = this.registerModule('conv2', new Conv2d(outC, outC, 3, { padding: 1, bias: false }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(outC));
    if (stride !== 1 || inC !== outC) {
      const conv = new Conv2d(inC, outC, 1, { stride, bias: false });
      const bn = new BatchNorm2d(outC);
      this.downsample = { conv, bn };
      this.registerModule('downsample_conv', conv);
      this.registerModule('downsample_bn', bn);
    }
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const out = this.bn2.forward(this.conv2.forward(this.bn1.forward(this.conv1.forward(x)).relu()));
      const id = this.downsample ? this.downsample.bn.forward(this.downsample.conv.forward(x)) : x;
      return out.add(id).relu();
    });
  }
}

export class ResNet18Stack extends Module implements Layer {
  conv1 = this.registerModule('conv1', new Conv2d(3, 64, 7, { stride: 2, padding: 3, bias: false }));
  bn1 = this.registerModule('bn1', new BatchNorm2d(64));
  pool = new MaxPool2d(3, 2, 1);
  blocks: BasicBlock[] = [];
  fc: Linear;

  constructor(numClasses = 10) {
    super();
    let c = 64;
    for (const [i, w] of [64, 128, 256, 512].entries()) {
      for (let j = 0; j < 2; j++) {
        const b = new BasicBlock(c, w, j === 0 && i > 0 ? 2 : 1);
        this.registerModule(`layer${i + 1}_${j}`, b);
        this.blocks.push(b);
        c = w;
      }
    }
    this.fc = this.registerModule('fc', new Linear(512, numClasses));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      let h = this.pool.forward(this.bn1.forward(this.conv1.forward(x)).relu());
      for (const b of this.blocks) h = b.forward(h);
      return this.fc.forward(adaptiveAvgPool2d(h, [1, 1]).flatten(1));
    });
  }
}

export const ENGINE_PEER = `
import sys, time, json, torch, torch.nn as nn, torch.nn.functional as F
threads, steps, warm = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads); torch.manual_seed(0)
class Block(nn.Module):
    def __init__(s, i, o, st):
        super().__init__()
        s.conv1 = nn.Conv2d(i, o, 3, st, 1, bias=False); s.bn1 = nn.BatchNorm2d(o)
        s.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False); s.bn2 = nn.BatchNorm2d(o)
        s.down = nn.Sequential(nn.Conv2d(i, o, 1, st, bias=False), nn.BatchNorm2d(o)) if st != 1 or i != o else None
    def forward(s, x):
        out = s.bn2(s.conv2(F.relu(s.bn1(s.conv1(x)))))
        return F.relu(out + (s.down(x) if s.down is not None else x))
class Net(nn.Module):
    def __init__(s):
        super().__init__()
        s.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False); s.bn1 = nn.BatchNorm2d(64); s.pool = nn.MaxPool2d(3, 2, 1)
        blocks, c = [], 64
        for i, w in enumerate([64, 128, 256, 512]):
            for j in range(2):
                blocks.append(Block(c, w, 2 if j == 0 and i > 0 else 1)); c = w
        s.blocks = nn.Sequential(*blocks); s.fc = nn.Linear(512, 10)
    def forward(s, x):
        h = s.blocks(s.pool(F.relu(s.bn1(s.conv1(x)))))
        return s.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))
net = Net(); opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
x = torch.randn(8, 3, 128, 128); y = torch.randint(0, 10, (8,))
times = []
for i in range(warm + steps):
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(net(x), y); loss.backward(); opt.step()
    if i >= warm: times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"median_ms": 1000 * times[len(times) // 2], "min_ms": 1000 * times[0], "params": sum(p.numel() for p in net.parameters())}))
`;

export async function engine(): Promise<Record<string, unknown>> {
  const threads = Number(process.env.LADET_BENCH_THREADS ?? availableParallelism());
  const steps = Number(process.env.LADET_BENCH_STEPS ?? 15);
  const warm = 3;
  setNumThreads(threads);
  manualSeed(0);
  const net = new ResNet18Stack();
  const opt = new SGD(net.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const x = randn([8, 3, 128, 128]);
  const y = randint(0, 10, [8]);
  const python = peerPython(['torch']);
  // Interleave rounds of ladet and PyTorch so that machine noise hits both alike.
  const ladetTimes: number[] = [];
  const peerTimes: number[] = [];
  const rounds = 3;
  let memBefore = 0;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < warm + steps; i++) {
      const t0 = performance.now();
      opt.zeroGrad();
      tidy(() => {
        const loss = crossEntropy(net.forward(x), y);
        loss.backward();
      });
      opt.step();
      if (i >= warm) ladetTimes.push(performance.now() - t0);
      if (r === 0 && i === warm) memBefore = memory().numTensors;
    }
    if (python)
      peerTimes.push(runPeer(python, ENGINE_PEER, [String(threads), String(steps), String(warm)]).median_ms as number);
  }
  const ladetMs = median(ladetTimes);
  const result: Record<string, unknown> = {
    threads: getNumThreads(),
    batch: 8,
    image: 128,
    params: net.numParameters(),
    ladet_step_ms: ladetMs,
    live_tensors_after_warmup: memBefore,
    live_tensors_end: memory().numTensors,
  };
  if (python) {
    const peerMs = median(peerTimes);
    result.pytorch_step_ms = peerMs;
    result.step_time_ratio = ladetMs / peerMs;
    result.target_ratio_max = 1.1;
  } else {
    result.pytorch_step_ms = null;
    result.note =
      'python3-torch not importable from /usr/bin/python3: install it (LADET_PEERS=1 bash scripts/setup.sh)';
  }
  net.dispose();
  x.dispose();
  y.dispose();
  return result;
}
