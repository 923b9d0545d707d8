// ResNet 18/34/50/101, "pytorch" style (the stride sits on the 3x3 conv), as mmdetection's ResNet. Parameter and
// buffer names equal mmdetection's and torchvision's (`conv1.weight`, `bn1.running_mean`, `layer1.0.conv2.weight`,
// `layer2.0.downsample.0.weight`, ...), so `backbone.` + these names loads their checkpoints. A BatchNorm that
// normalises with its running statistics (eval mode, normEval, frozen stages) is folded into its conv at run time
// (nn/conv_bn.ts); the parameters and buffers stay as they are.
import type { Tensor } from '../../torch/index.js';
import { BatchNorm2d, Conv2d, MaxPool2d, Module, Sequential, convBn, init } from '../../nn/index.js';

export type ResNetDepth = 18 | 34 | 50 | 101;

export interface ResNetOptions {
  depth: ResNetDepth;
  /** Image channels (default 3). */
  inChannels?: number;
  /** Width of the stem and of the first stage's 3x3 convs (default 64); stage i uses baseChannels * 2^i. */
  baseChannels?: number;
  /** Scales baseChannels (default 1) for narrow presets; baseChannels * widthMultiplier must be a whole number. */
  widthMultiplier?: number;
  /** Stages whose outputs forward returns: 0..3 = C2..C5 (default all four). */
  outIndices?: readonly number[];
  /** -1 (default): nothing frozen; 0: the stem; n: the stem and stages 1..n (no grad, always eval mode). */
  frozenStages?: number;
  /** Keep every BatchNorm's running statistics frozen in training (mmdetection's norm_eval; default true as mmdet). */
  normEval?: boolean;
  /** Zero-init the last BN of each residual block so blocks start as identity (default true, as mmdetection). */
  zeroInitResidual?: boolean;
}

const ARCH: Record<ResNetDepth, { bottleneck: boolean; blocks: readonly number[] }> = {
  18: { bottleneck: false, blocks: [2, 2, 2, 2] },
  34: { bottleneck: false, blocks: [3, 4, 6, 3] },
  50: { bottleneck: true, blocks: [3, 4, 6, 3] },
  101: { bottleneck: true, blocks: [3, 4, 23, 3] },
};

/** The shortcut projection `downsample`: 1x1 conv (stride s, no bias) + BN, children "0" and "1". */
function downsample(inCh: number, outCh: number, stride: number): Sequential {
  return new Sequential(new Conv2d(inCh, outCh, 1, { stride, bias: false }), new BatchNorm2d(outCh));
}

/** The shortcut: bn(conv(x)) of `downsample`. */
function shortcut(ds: Sequential, x: Tensor): Tensor {
  return convBn(ds.layers[0] as Conv2d, ds.layers[1] as BatchNorm2d, x);
}

/** y = relu(out + identity), in place on out (out is a fresh activation owned by the caller). */
function addRelu(out: Tensor, identity: Tensor): Tensor {
  return out.add_(identity).relu_();
}

interface Block extends Module {
  forward(x: Tensor): Tensor;
  /** The BN whose output joins the shortcut (zero-initialised by zeroInitResidual). */
  readonly lastNorm: BatchNorm2d;
}

/** Two 3x3 convs; expansion 1. */
export class BasicBlock extends Module implements Block {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | null;

  constructor(inCh: number, planes: number, stride: number) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(inCh, planes, 3, { stride, padding: 1, bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, { padding: 1, bias: false }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.downsample = stride !== 1 || inCh !== planes ? this.registerModule('downsample', downsample(inCh, planes, stride)) : null;
  }

  get lastNorm(): BatchNorm2d {
    return this.bn2;
  }

  /** x (N,inCh,H,W) -> (N,planes,H/stride,W/stride). */
  forward(x: Tensor): Tensor {
    const b = convBn(this.conv1, this.bn1, x).relu_();
    const out = convBn(this.conv2, this.bn2, b);
    b.dispose();
    if (this.downsample === null) return addRelu(out, x);
    const identity = shortcut(this.downsample, x);
    addRelu(out, identity);
    identity.dispose();
    return out;
  }
}

/** 1x1 reduce, 3x3 (carrying the stride: "pytorch" style), 1x1 expand; expansion 4. */
export class Bottleneck extends Module implements Block {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly downsample: Sequential | null;

  constructor(inCh: number, planes: number, stride: number) {
    super();
    const outCh = planes * Bottleneck.expansion;
    this.conv1 = this.registerModule('conv1', new Conv2d(inCh, planes, 1, { bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, { stride, padding: 1, bias: false }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.conv3 = this.registerModule('conv3', new Conv2d(planes, outCh, 1, { bias: false }));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(outCh));
    this.downsample = stride !== 1 || inCh !== outCh ? this.registerModule('downsample', downsample(inCh, outCh, stride)) : null;
  }

  get lastNorm(): BatchNorm2d {
    return this.bn3;
  }

  /** x (N,inCh,H,W) -> (N,4*planes,H/stride,W/stride). */
  forward(x: Tensor): Tensor {
    let h = x;
    const steps: [Conv2d, BatchNorm2d][] = [
      [this.conv1, this.bn1],
      [this.conv2, this.bn2],
    ];
    for (const [conv, bn] of steps) {
      const next = convBn(conv, bn, h).relu_();
      if (h !== x) h.dispose();
      h = next;
    }
    const out = convBn(this.conv3, this.bn3, h);
    h.dispose();
    if (this.downsample === null) return addRelu(out, x);
    const identity = shortcut(this.downsample, x);
    addRelu(out, identity);
    identity.dispose();
    return out;
  }
}

/** A stage: blocks named "0", "1", ...; the first carries the stride and the shortcut projection. */
class ResLayer extends Module {
  readonly blocks: Block[] = [];

  constructor(bottleneck: boolean, inCh: number, planes: number, count: number, stride: number) {
    super();
    const expansion = bottleneck ? Bottleneck.expansion : BasicBlock.expansion;
    for (let i = 0; i < count; i++) {
      const cin = i === 0 ? inCh : planes * expansion;
      const s = i === 0 ? stride : 1;
      const block = bottleneck ? new Bottleneck(cin, planes, s) : new BasicBlock(cin, planes, s);
      this.blocks.push(this.registerModule(String(i), block));
    }
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (const b of this.blocks) {
      const next = b.forward(h);
      if (h !== x) h.dispose();
      h = next;
    }
    return h;
  }
}

export class ResNet extends Module {
  readonly depth: ResNetDepth;
  readonly baseChannels: number;
  readonly outIndices: readonly number[];
  readonly frozenStages: number;
  readonly normEval: boolean;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly maxpool: MaxPool2d;
  readonly layers: ResLayer[] = [];
  /** Output channels of each of the four stages (C2..C5). */
  readonly stageChannels: readonly number[];

  constructor(o: ResNetOptions) {
    super();
    const arch = ARCH[o.depth];
    if (arch === undefined) throw new Error(`ResNet: depth must be one of 18, 34, 50, 101 (got ${String(o.depth)})`);
    this.depth = o.depth;
    const width = (o.baseChannels ?? 64) * (o.widthMultiplier ?? 1);
    if (!Number.isInteger(width) || width < 1) {
      throw new Error(`ResNet: baseChannels x widthMultiplier must be a positive whole number (got ${width})`);
    }
    this.baseChannels = width;
    this.outIndices = [...(o.outIndices ?? [0, 1, 2, 3])];
    if (this.outIndices.length === 0 || this.outIndices.some((i, k) => !Number.isInteger(i) || i < 0 || i > 3 || (k > 0 && i <= this.outIndices[k - 1]!))) {
      throw new Error(`ResNet: outIndices must be increasing stage indices in 0..3 (got [${this.outIndices.join(', ')}])`);
    }
    this.frozenStages = o.frozenStages ?? -1;
    if (!Number.isInteger(this.frozenStages) || this.frozenStages < -1 || this.frozenStages > 4) {
      throw new Error(`ResNet: frozenStages must be a whole number in -1..4 (got ${this.frozenStages})`);
    }
    this.normEval = o.normEval ?? true;

    const expansion = arch.bottleneck ? Bottleneck.expansion : BasicBlock.expansion;
    this.conv1 = this.registerModule('conv1', new Conv2d(o.inChannels ?? 3, width, 7, { stride: 2, padding: 3, bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(width));
    this.maxpool = new MaxPool2d(3, 2, 1);
    let inCh = width;
    const stageChannels: number[] = [];
    arch.blocks.forEach((count, i) => {
      const planes = width * 2 ** i;
      this.layers.push(this.registerModule(`layer${i + 1}`, new ResLayer(arch.bottleneck, inCh, planes, count, i === 0 ? 1 : 2)));
      inCh = planes * expansion;
      stageChannels.push(inCh);
    });
    this.stageChannels = stageChannels;

    this.#initWeights(o.zeroInitResidual ?? true);
    for (const [, m] of this.namedModules()) if (m instanceof BatchNorm2d && this.normEval) m.frozenStats = true;
    for (const m of this.#frozenModules()) {
      m.requiresGrad_(false);
      for (const [, bn] of m.namedModules()) if (bn instanceof BatchNorm2d) bn.frozenStats = true;
    }
    this.train();
  }

  /** Channels of the returned feature maps, in order. */
  get outChannels(): number[] {
    return this.outIndices.map((i) => this.stageChannels[i] as number);
  }

  /** Strides of the returned feature maps (C2 = 4 ... C5 = 32). */
  get outStrides(): number[] {
    return this.outIndices.map((i) => 4 * 2 ** i);
  }

  // mmdetection's defaults: Kaiming normal (fan_out, relu) convs, BN weight 1 / bias 0.
  #initWeights(zeroInitResidual: boolean): void {
    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) init.kaimingNormal_(m.weight, 'fan_out', 'relu');
      if (m instanceof BatchNorm2d && m.weight !== null) init.constant_(m.weight, 1);
      if (m instanceof BatchNorm2d && m.bias !== null) init.constant_(m.bias, 0);
    }
    if (zeroInitResidual) {
      for (const layer of this.layers) for (const b of layer.blocks) if (b.lastNorm.weight) init.constant_(b.lastNorm.weight, 0);
    }
  }

  #frozenModules(): Module[] {
    if (this.frozenStages < 0) return [];
    return [this.conv1, this.bn1, ...this.layers.slice(0, this.frozenStages)];
  }

  /** Training mode, except that frozen stages stay in eval mode (as mmdetection's ResNet.train). */
  override train(on = true): this {
    super.train(on);
    for (const m of this.#frozenModules()) m.train(false);
    if (this.normEval) for (const [, m] of this.namedModules()) if (m instanceof BatchNorm2d) m.train(false);
    return this;
  }

  /** x (N,Cin,H,W) -> the feature maps of outIndices, e.g. C2..C5 at strides 4..32 (sizes rounded up). */
  forward(x: Tensor): Tensor[] {
    const b = convBn(this.conv1, this.bn1, x).relu_();
    let h = this.maxpool.forward(b);
    b.dispose();
    const last = this.outIndices[this.outIndices.length - 1] as number;
    const outs: Tensor[] = [];
    for (let i = 0; i <= last; i++) {
      const next = (this.layers[i] as ResLayer).forward(h);
      if (!outs.includes(h)) h.dispose();
      h = next;
      if (this.outIndices.includes(i)) outs.push(h);
    }
    return outs;
  }
}
