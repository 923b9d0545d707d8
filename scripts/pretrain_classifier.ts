// Backbone pretraining (issue 21, "does it help?"): trains a detection preset's ResNet as a 10-class classifier on
// Fashion-MNIST's 60k *training* items (fashion-det's val canvases are drawn only from the 10k t10k items, which are
// used here for the test accuracy alone, never for a gradient), and writes the classifier as a PyTorch `.pth` with
// torchvision's names (`conv1.weight`, `bn1.running_mean`, `layer1.0.conv1.weight`, ..., `fc.weight`, `fc.bias`), the
// file `model.backbone.init` loads. The network is ladet's ResNet (src/models) + global average pooling + a Linear
// `fc`, trained with ladet's SGD and cross-entropy, one intra-op thread and a fixed seed (as `ladet repro` trains).
//   npm run build && node dist/scripts/pretrain_classifier.js [--dir runs/pretrain_r18w25_fashion_mnist]
//     [--epochs 8] [--batch 128] [--lr 0.1] [--canvas 64] [--min-side 40] [--max-side 64] [--test-side 56] ...
// Inputs: each 28x28 item is resized (bilinear, as fashion-det draws its objects) to a side drawn from
// [minSide, maxSide], mirrored with probability 0.5, placed at a random position on a black canvas x canvas, then
// replicated to 3 channels and normalised with ImageNet's mean / std (0..255 scale, as ladet's data pipeline). Test
// items are resized to testSide, centred, not mirrored. The run directory gets metrics.csv (one row per epoch: time,
// train/loss, train/acc, train/lr, test/loss, test/acc), config.yaml (these options) and classifier.pth.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import {
  adaptiveAvgPool2d,
  crossEntropy,
  getNumThreads,
  manualSeed,
  noGrad,
  setNumThreads,
  tensor,
  tidy,
  type Tensor,
} from '../src/torch/index.js';
import { Linear } from '../src/nn/index.js';
import { LrScheduler, SGD } from '../src/optim/index.js';
import { ResNet, type ResNetDepth } from '../src/models/backbones/resnet.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../src/data/transforms.js';
import { Rng } from '../src/data/rng.js';
import { readFashionMnist, type MnistSplit } from '../src/data/synth/idx.js';
import { resizeItem } from '../src/data/synth/fashion_det.js';
import { tensorToRaw, writeFileAtomic, writePth } from '../src/io/index.js';
import { MetricsCsv, type Row } from '../src/engine/metrics_log.js';

export interface PretrainOptions {
  /** the backbone: configs/paa_r18_fashion_mini.yaml's model.backbone (ResNet-18 at 1/4 width) by default */
  depth: ResNetDepth;
  widthMultiplier: number;
  zeroInitResidual: boolean;
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  /** linear warmup from lr * 0.001 over this many iterations, then cosine annealing to 0 over the whole run */
  warmupIters: number;
  /** input canvas side (px) */
  canvas: number;
  /** training items are resized to a side drawn uniformly from [minSide, maxSide] (whole pixels) */
  minSide: number;
  maxSide: number;
  /** test items' side, centred on the canvas */
  testSide: number;
  flipProb: number;
  seed: number;
  /** libtorch intra-op threads (1 as `ladet repro` and the recorded detection runs) */
  threads: number;
  /** 0: all 60k training items; n: the first n */
  trainLimit: number;
  /** 0: all 10k test items; n: the first n; -1: no test evaluation */
  testLimit: number;
  /** where metrics.csv, config.yaml and classifier.pth go */
  dir: string;
}

export const DEFAULT_OPTIONS: PretrainOptions = {
  depth: 18,
  widthMultiplier: 0.25,
  zeroInitResidual: true,
  epochs: 8,
  batchSize: 128,
  lr: 0.1,
  momentum: 0.9,
  weightDecay: 1e-4,
  warmupIters: 200,
  canvas: 64,
  minSide: 40,
  maxSide: 64,
  testSide: 56,
  flipProb: 0.5,
  seed: 0,
  threads: 1,
  trainLimit: 0,
  testLimit: 0,
  dir: 'runs/pretrain_r18w25_fashion_mnist',
};

/** ResNet (C5 only) + global average pooling + `fc`: torchvision's ResNet classifier, with its names. */
export class ResNetClassifier {
  readonly backbone: ResNet;
  readonly fc: Linear;

  constructor(o: { depth: ResNetDepth; widthMultiplier: number; zeroInitResidual: boolean; numClasses: number }) {
    this.backbone = new ResNet({
      depth: o.depth,
      widthMultiplier: o.widthMultiplier,
      outIndices: [3],
      frozenStages: -1,
      normEval: false,
      zeroInitResidual: o.zeroInitResidual,
    });
    this.fc = new Linear(this.backbone.outChannels[0] as number, o.numClasses);
  }

  parameters(): Tensor[] {
    return [...this.backbone.parameters(), ...this.fc.parameters()];
  }

  train(on = true): this {
    this.backbone.train(on);
    this.fc.train(on);
    return this;
  }

  /** x (N,3,H,W) -> logits (N, numClasses). */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const [c5] = this.backbone.forward(x);
      return this.fc.forward(adaptiveAvgPool2d(c5 as Tensor, [1, 1]).flatten(1));
    });
  }

  /** torchvision's state dict: the ResNet's own names (already torchvision's), then fc.weight and fc.bias. */
  stateDict(): Map<string, Tensor> {
    const sd = new Map(this.backbone.stateDict());
    for (const [k, t] of this.fc.stateDict()) sd.set(`fc.${k}`, t);
    return sd;
  }

  dispose(): void {
    this.backbone.dispose();
    this.fc.dispose();
  }
}

/** One batch of items as a normalised (N,3,canvas,canvas) float32 tensor and int64 labels. */
export function makeBatch(
  src: MnistSplit,
  items: readonly number[],
  canvas: number,
  place: (k: number) => { side: number; x: number; y: number; flip: boolean },
): { x: Tensor; y: Tensor } {
  const plane = canvas * canvas;
  const data = new Float32Array(items.length * 3 * plane);
  const background = [0, 1, 2].map((c) => -(IMAGENET_MEAN[c] as number) / (IMAGENET_STD[c] as number));
  const labels = new BigInt64Array(items.length);
  items.forEach((item, k) => {
    const { side, x, y, flip } = place(k);
    const grey = resizeItem(src, item, side, flip);
    for (let c = 0; c < 3; c++) {
      const base = (k * 3 + c) * plane;
      data.fill(background[c] as number, base, base + plane);
      const mean = IMAGENET_MEAN[c] as number;
      const std = IMAGENET_STD[c] as number;
      for (let r = 0; r < side; r++) {
        const row = base + (y + r) * canvas + x;
        for (let q = 0; q < side; q++) data[row + q] = ((grey[r * side + q] as number) - mean) / std;
      }
    }
    labels[k] = BigInt(src.labels[item] as number);
  });
  return { x: tensor(data, [items.length, 3, canvas, canvas]), y: tensor(labels, [items.length]) };
}

function checkOptions(o: PretrainOptions): void {
  const bad = (msg: string): never => {
    throw new RangeError(`pretrain_classifier: ${msg}`);
  };
  for (const k of ['epochs', 'batchSize', 'canvas', 'minSide', 'maxSide', 'testSide', 'threads'] as const) {
    if (!(Number.isSafeInteger(o[k]) && o[k] >= 1)) bad(`${k} must be a positive whole number (got ${o[k]})`);
  }
  if (!(o.minSide <= o.maxSide && o.maxSide <= o.canvas && o.testSide <= o.canvas)) {
    bad(
      `need minSide <= maxSide <= canvas and testSide <= canvas (got ${o.minSide}, ${o.maxSide}, ${o.canvas}, ${o.testSide})`,
    );
  }
  if (!(o.lr > 0)) bad(`lr must be > 0 (got ${o.lr})`);
}

export interface EpochResult {
  epoch: number;
  seconds: number;
  trainLoss: number;
  trainAcc: number;
  lr: number;
  testLoss: number | null;
  testAcc: number | null;
}

export interface PretrainResult {
  /** the loss of every training step, in order */
  stepLosses: number[];
  epochs: EpochResult[];
  /** the written checkpoint */
  pth: string;
  /** wall time of training and test evaluation (s), reading the data excluded */
  seconds: number;
}

/** Loss and accuracy of the classifier (eval mode) on `items` of `src`, centred at testSide. */
export function evaluate(
  model: ResNetClassifier,
  src: MnistSplit,
  items: readonly number[],
  o: Pick<PretrainOptions, 'canvas' | 'testSide' | 'batchSize'>,
): { loss: number; acc: number } {
  model.train(false);
  let lossSum = 0;
  let correct = 0;
  const off = Math.floor((o.canvas - o.testSide) / 2);
  try {
    for (let b = 0; b < items.length; b += o.batchSize) {
      const batch = items.slice(b, b + o.batchSize);
      noGrad(() =>
        tidy(() => {
          const { x, y } = makeBatch(src, batch, o.canvas, () => ({ side: o.testSide, x: off, y: off, flip: false }));
          const logits = model.forward(x);
          lossSum += crossEntropy(logits, y, 'sum').item();
          correct += logits.argmax(1).eq(y).sum().item();
        }),
      );
    }
  } finally {
    model.train(true);
  }
  return { loss: lossSum / items.length, acc: correct / items.length };
}

/** Trains the classifier and writes `dir`/classifier.pth (torchvision names), metrics.csv and config.yaml. */
export function pretrainClassifier(
  partial: Partial<PretrainOptions> = {},
  log: (line: string) => void = () => {},
): PretrainResult {
  const o: PretrainOptions = { ...DEFAULT_OPTIONS, ...partial };
  checkOptions(o);
  mkdirSync(o.dir, { recursive: true });
  const threadsBefore = getNumThreads();
  setNumThreads(o.threads);
  try {
    const train = readFashionMnist('train');
    const test = o.testLimit >= 0 ? readFashionMnist('t10k') : null;
    const nTrain = o.trainLimit > 0 ? Math.min(o.trainLimit, train.count) : train.count;
    const testItems = test ? [...Array(o.testLimit > 0 ? Math.min(o.testLimit, test.count) : test.count).keys()] : [];
    const itersPerEpoch = Math.ceil(nTrain / o.batchSize);
    writeFileAtomic(
      join(o.dir, 'config.yaml'),
      stringify({
        ...o,
        data: 'Fashion-MNIST train split (60k items; fashion-det val canvases use only t10k)',
        trainItems: nTrain,
        testItems: testItems.length,
        optimizer: 'SGD (ladet src/optim)',
        schedule: `linear warmup over ${o.warmupIters} iterations from lr x 0.001, cosine to 0 over ${o.epochs * itersPerEpoch} iterations`,
        normalisation: 'grey replicated to 3 channels, (v - IMAGENET_MEAN) / IMAGENET_STD on 0..255',
      }),
    );

    manualSeed(o.seed);
    const model = new ResNetClassifier({ ...o, numClasses: 10 });
    const optimizer = new SGD(model.parameters(), { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay });
    const scheduler = new LrScheduler(optimizer, {
      decay: { policy: 'cosine', total: o.epochs * itersPerEpoch },
      warmup: o.warmupIters > 0 ? { policy: 'linear', iters: o.warmupIters, ratio: 0.001 } : null,
      byEpoch: false,
    });
    const metrics = new MetricsCsv(o.dir);
    const stepLosses: number[] = [];
    const epochs: EpochResult[] = [];
    const t0 = performance.now();
    try {
      for (let epoch = 0; epoch < o.epochs; epoch++) {
        const te = performance.now();
        const order = Rng.derive(o.seed, epoch).shuffle([...Array(nTrain).keys()]);
        const aug = Rng.derive(o.seed, epoch, 1);
        let lossSum = 0;
        let correct = 0;
        let lr = 0;
        for (let b = 0; b < nTrain; b += o.batchSize) {
          const batch = order.slice(b, b + o.batchSize);
          lr = scheduler.step()[0] as number;
          const place = (): { side: number; x: number; y: number; flip: boolean } => {
            const side = aug.int(o.minSide, o.maxSide);
            return {
              side,
              x: aug.int(0, o.canvas - side),
              y: aug.int(0, o.canvas - side),
              flip: aug.chance(o.flipProb),
            };
          };
          const loss = tidy(() => {
            const { x, y } = makeBatch(train, batch, o.canvas, place);
            const logits = model.forward(x);
            const l = crossEntropy(logits, y);
            const v = l.item();
            correct += noGrad(() => logits.argmax(1).eq(y).sum().item());
            l.backward();
            return v;
          });
          if (!Number.isFinite(loss))
            throw new Error(`pretrain_classifier: loss ${loss} at epoch ${epoch + 1}; lower --lr`);
          optimizer.step();
          optimizer.zeroGrad();
          stepLosses.push(loss);
          lossSum += loss * batch.length;
          const done = Math.min(b + o.batchSize, nTrain);
          if ((b / o.batchSize) % 50 === 0) {
            log(`epoch ${epoch + 1}/${o.epochs} ${done}/${nTrain} loss ${loss.toFixed(4)} lr ${lr.toPrecision(3)}`);
          }
        }
        const trainSeconds = (performance.now() - te) / 1000;
        const ev = test ? evaluate(model, test, testItems, o) : null;
        const r: EpochResult = {
          epoch: epoch + 1,
          seconds: (performance.now() - te) / 1000,
          trainLoss: lossSum / nTrain,
          trainAcc: correct / nTrain,
          lr,
          testLoss: ev?.loss ?? null,
          testAcc: ev?.acc ?? null,
        };
        epochs.push(r);
        const row: Row = {
          epoch: r.epoch,
          time: Number(r.seconds.toFixed(3)),
          'train/time': Number(trainSeconds.toFixed(3)),
          'train/loss': r.trainLoss,
          'train/acc': r.trainAcc,
          'train/lr': r.lr,
          'test/loss': r.testLoss,
          'test/acc': r.testAcc,
        };
        metrics.add(row);
        log(
          `epoch ${r.epoch}: train loss ${r.trainLoss.toFixed(4)} acc ${r.trainAcc.toFixed(4)}` +
            (ev ? `, test loss ${ev.loss.toFixed(4)} acc ${ev.acc.toFixed(4)}` : '') +
            ` (${r.seconds.toFixed(1)} s)`,
        );
      }
      const seconds = (performance.now() - t0) / 1000;
      const pth = join(o.dir, 'classifier.pth');
      writePth(pth, new Map([...model.stateDict()].map(([k, t]) => [k, tensorToRaw(t)])));
      log(`wrote ${pth} (${seconds.toFixed(0)} s of training and evaluation)`);
      return { stepLosses, epochs, pth, seconds };
    } finally {
      optimizer.zeroGrad();
      model.dispose();
    }
  } finally {
    setNumThreads(threadsBefore);
  }
}

const FLAGS: Record<string, keyof PretrainOptions> = {
  '--depth': 'depth',
  '--width': 'widthMultiplier',
  '--epochs': 'epochs',
  '--batch': 'batchSize',
  '--lr': 'lr',
  '--momentum': 'momentum',
  '--weight-decay': 'weightDecay',
  '--warmup': 'warmupIters',
  '--canvas': 'canvas',
  '--min-side': 'minSide',
  '--max-side': 'maxSide',
  '--test-side': 'testSide',
  '--flip': 'flipProb',
  '--seed': 'seed',
  '--threads': 'threads',
  '--train-limit': 'trainLimit',
  '--test-limit': 'testLimit',
  '--dir': 'dir',
};

export function parseArgs(argv: readonly string[]): Partial<PretrainOptions> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const key = FLAGS[argv[i] as string];
    const value = argv[i + 1];
    if (key === undefined || value === undefined) {
      throw new Error(`usage: pretrain_classifier [${Object.keys(FLAGS).join(' V] [')} V] (bad '${argv[i]}')`);
    }
    out[key] = key === 'dir' ? value : Number(value);
    if (key !== 'dir' && !Number.isFinite(out[key])) throw new Error(`${argv[i]}: '${value}' is not a number`);
  }
  return out as Partial<PretrainOptions>;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = pretrainClassifier(parseArgs(process.argv.slice(2)), (line) => console.log(line));
  const last = r.epochs[r.epochs.length - 1];
  console.log(
    `done: ${r.epochs.length} epochs in ${(r.seconds / 60).toFixed(1)} min; test acc ${last?.testAcc ?? 'n/a'}; ${r.pth}`,
  );
}
