// ResNet 18/34/50/101, "pytorch" style (the stride sits on the 3x3 conv), as mmdetection's ResNet. Parameter and
// buffer names equal mmdetection's and torchvision's (`conv1.weight`, `bn1.running_mean`, `layer1.0.conv2.weight`,
// `layer2.0.downsample.0.weight`, ...), so `backbone.` + these names loads their checkpoints. A BatchNorm that
// normalises with its running statistics (eval mode, normEval, frozen stages) is folded into its conv at run time
// (nn/conv_bn.ts); the parameters and buffers stay as they are. The architecture (block table, widths, the blocks of
// each stage) is resolved by resnet_spec.ts, which ladet/runtime reads too; this file builds the modules from it.
import type { Tensor } from '../../torch/index.js';
import { BatchNorm2d, Conv2d, MaxPool2d, Module, Sequential, convBn, init } from '../../nn/index.js';
import { z } from 'zod';
import { defineBackbone, type Backbone } from './backbone.js';
import {
  BASIC_EXPANSION,
  BOTTLENECK_EXPANSION,
  resnetStageBlocks,
  resolveResNetSpec,
  type ResNetArchOptions,
  type ResNetBlock,
  type ResNetDepth,
  type ResNetSpec,
} from './resnet_spec.js';

export type { ResNetDepth, ResNetSpec } from './resnet_spec.js';

export interface ResNetOptions extends ResNetArchOptions {
  /** -1 (default): nothing frozen; 0: the stem; n: the stem and stages 1..n (no grad, always eval mode). */
  frozenStages?: number;
  /** Keep every BatchNorm's running statistics frozen in training (mmdetection's norm_eval; default true as mmdet). */
  normEval?: boolean;
  /** Zero-init the last BN of each residual block so blocks start as identity (default true, as mmdetection). */
  zeroInitResidual?: boolean;
}

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
  static readonly expansion = BASIC_EXPANSION;
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
    this.downsample =
      stride !== 1 || inCh !== planes ? this.registerModule('downsample', downsample(inCh, planes, stride)) : null;
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
  static readonly expansion = BOTTLENECK_EXPANSION;
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
    this.downsample =
      stride !== 1 || inCh !== outCh ? this.registerModule('downsample', downsample(inCh, outCh, stride)) : null;
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

  constructor(bottleneck: boolean, blocks: readonly ResNetBlock[]) {
    super();
    blocks.forEach((b, i) => {
      const block = bottleneck
        ? new Bottleneck(b.inChannels, b.planes, b.stride)
        : new BasicBlock(b.inChannels, b.planes, b.stride);
      this.blocks.push(this.registerModule(String(i), block));
    });
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

export class ResNet extends Module implements Backbone {
  /** The resolved architecture (type 'resnet'): what the runtime exporter records. */
  readonly spec: ResNetSpec;
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
    const spec = resolveResNetSpec(o);
    this.spec = spec;
    this.depth = spec.depth;
    this.baseChannels = spec.baseChannels;
    this.outIndices = spec.outIndices;
    this.frozenStages = o.frozenStages ?? -1;
    if (!Number.isInteger(this.frozenStages) || this.frozenStages < -1 || this.frozenStages > 4) {
      throw new Error(`ResNet: frozenStages must be a whole number in -1..4 (got ${this.frozenStages})`);
    }
    this.normEval = o.normEval ?? true;

    const width = spec.baseChannels;
    this.conv1 = this.registerModule(
      'conv1',
      new Conv2d(spec.inChannels, width, 7, { stride: 2, padding: 3, bias: false }),
    );
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(width));
    this.maxpool = new MaxPool2d(3, 2, 1);
    spec.blocks.forEach((_, i) => {
      this.layers.push(this.registerModule(`layer${i + 1}`, new ResLayer(spec.bottleneck, resnetStageBlocks(spec, i))));
    });
    this.stageChannels = spec.stageChannels;

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
    return [...this.spec.outChannels];
  }

  /** Strides of the returned feature maps (C2 = 4 ... C5 = 32). */
  get outStrides(): number[] {
    return [...this.spec.outStrides];
  }

  // mmdetection's defaults: Kaiming normal (fan_out, relu) convs, BN weight 1 / bias 0.
  #initWeights(zeroInitResidual: boolean): void {
    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) init.kaimingNormal_(m.weight, 'fan_out', 'relu');
      if (m instanceof BatchNorm2d && m.weight !== null) init.constant_(m.weight, 1);
      if (m instanceof BatchNorm2d && m.bias !== null) init.constant_(m.bias, 0);
    }
    if (zeroInitResidual) {
      for (const layer of this.layers)
        for (const b of layer.blocks) if (b.lastNorm.weight) init.constant_(b.lastNorm.weight, 0);
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

/**
 * `model.backbone` for a ResNet. The defaults are a config's (frozenStages -1 and normEval false: small presets train
 * from scratch), not the constructor's mmdetection ones.
 */
export const resnetBackbone = defineBackbone({
  options: z
    .object({
      /** absent means 'resnet'; no default, so configs that leave it out keep their config hash */
      type: z.literal('resnet').optional(),
      depth: z.union([z.literal(18), z.literal(34), z.literal(50), z.literal(101)]),
      widthMultiplier: z.number().positive().default(1),
      frozenStages: z.number().int().min(-1).max(4).default(-1),
      normEval: z.boolean().default(false),
      zeroInitResidual: z.boolean().default(true),
    })
    .strict(),
  create: (o: ResNetOptions) => new ResNet(o),
});
