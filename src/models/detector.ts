// A one-stage detector: a registered backbone -> neck (FPN) -> head (PAA / COP / IOP), each from its registry, under
// mmdetection's module names `backbone`, `neck` and `bbox_head`, so its state dict matches mmdetection PAA checkpoints
// key for key. The config (defaults allowed) is resolved into the model description (spec.ts), the modules are built
// from it, and `detector.spec` is what exporters record.
import { autocast, autocastDeviceOf, autocastDtypeOf, type RunPrecision, type Tensor } from '../torch/index.js';
import { Module } from '../nn/index.js';
import type { Backbone } from './backbones/backbone.js';
import { createBackbone, type BackboneConfig } from './backbones/registry.js';
import { createNeck, type Neck } from './necks/registry.js';
import type { PAAHead } from './heads/paa_head.js';
import { createHead } from './heads/registry.js';
import type { HeadOutputs } from './heads/outputs.js';
import {
  pyramidStrides,
  type ExtraConvs,
  type HeadSpec,
  type HeadType,
  type ModelSpec,
  type NeckSpec,
} from './spec.js';

export type { HeadType } from './spec.js';

export interface NeckConfig {
  outChannels: number;
  /** First backbone output used (default 1: C3 when the backbone returns C2..C5). */
  startLevel?: number;
  /** Pyramid levels (default 5: P3..P7). */
  numOuts?: number;
  /** Default 'on_output'. */
  addExtraConvs?: ExtraConvs;
  reluBeforeExtraConvs?: boolean;
}

export interface HeadConfig {
  numClasses: number;
  /** Default 256. */
  featChannels?: number;
  /** Default 4. */
  stackedConvs?: number;
  /** Default 32. */
  gnGroups?: number;
  /** Default 0.01. */
  priorProb?: number;
  /** 'paa' (logits), 'cop' or 'iop' (probabilities); default 'paa'. */
  type?: HeadType;
  /** IoU-prediction branch (default true). */
  iouBranch?: boolean;
  /** COP neighbourhood size (default 3). */
  coeffKernelSize?: number;
  /** Anchors per location: the anchor generator's ratios × scales per octave (default 1; PAA heads only). */
  numAnchors?: number;
}

export interface DetectorConfig {
  /** The backbone's registry type (absent: 'resnet') and its options. */
  backbone: BackboneConfig;
  neck: NeckConfig;
  head: HeadConfig;
}

/** mmdetection's PAA-R50-FPN (configs/paa/paa_r50_fpn_1x_coco.py) model settings. */
export function paaR50FpnConfig(numClasses = 80): DetectorConfig {
  return {
    backbone: { depth: 50, frozenStages: 1, normEval: true, outIndices: [0, 1, 2, 3] },
    neck: { outChannels: 256, startLevel: 1, numOuts: 5, addExtraConvs: 'on_output' },
    head: { numClasses, featChannels: 256, stackedConvs: 4, gnGroups: 32, priorProb: 0.01 },
  };
}

/** The neck section of a config with its defaults filled. */
export function neckSpecOf(c: NeckConfig): NeckSpec {
  return {
    type: 'fpn',
    outChannels: c.outChannels,
    startLevel: c.startLevel ?? 1,
    numOuts: c.numOuts ?? 5,
    addExtraConvs: c.addExtraConvs ?? 'on_output',
    reluBeforeExtraConvs: c.reluBeforeExtraConvs ?? false,
  };
}

/** The head section of a config with its defaults filled (priorProb, an init setting, is not part of it). */
export function headSpecOf(c: HeadConfig): HeadSpec {
  const type = c.type ?? 'paa';
  return {
    type,
    numClasses: c.numClasses,
    featChannels: c.featChannels ?? 256,
    stackedConvs: c.stackedConvs ?? 4,
    gnGroups: c.gnGroups ?? 32,
    iouBranch: c.iouBranch ?? true,
    ...(type === 'cop' ? { coeffKernelSize: c.coeffKernelSize ?? 3 } : {}),
    // recorded only when not 1, so that one-anchor specs (every preset's) read as before
    ...((c.numAnchors ?? 1) !== 1 ? { numAnchors: c.numAnchors } : {}),
  };
}

export class Detector extends Module {
  readonly config: DetectorConfig;
  /** The resolved model description the modules were built from (plain data: what `ladet export` records). */
  readonly spec: ModelSpec;
  readonly backbone: Backbone;
  readonly neck: Neck;
  readonly head: PAAHead;
  /** Stride of each pyramid level, finest first (8..128 for PAA). */
  readonly strides: readonly number[];
  /**
   * The precision of `forward`. 'bf16': backbone, neck and head run under autocast('bfloat16') on the images' device
   * (convolutions in bf16, GroupNorm in fp32; weights, their gradients and the outputs stay float32); 'fp16' the
   * same in float16 (CUDA). 'fp32' (the default): no scope of its own, so an enclosing autocast(...) scope applies;
   * `autocast(null, ...)` forces fp32.
   */
  precision: RunPrecision = 'fp32';

  constructor(config: DetectorConfig) {
    super();
    this.config = config;
    // built in this order (backbone, neck, head): seeded initialisation depends on it
    this.backbone = this.registerModule('backbone', createBackbone(config.backbone));
    const neck = neckSpecOf(config.neck);
    this.neck = this.registerModule('neck', createNeck(neck, this.backbone.outChannels));
    const head = headSpecOf(config.head);
    const { type, ...headOptions } = head;
    this.head = this.registerModule(
      'bbox_head',
      createHead(type, {
        ...headOptions,
        priorProb: config.head.priorProb,
        inChannels: neck.outChannels,
        numLevels: neck.numOuts,
      }),
    );
    this.spec = { backbone: this.backbone.spec, neck, head };
    this.strides = pyramidStrides(this.spec);
  }

  /** The device of the network's weights ('cpu', 'cuda:0', ...): where forward expects its images. */
  get device(): string {
    return this.backbone.parameters()[0]?.device ?? 'cpu';
  }

  get numClasses(): number {
    return this.head.numClasses;
  }

  /** Pyramid features: images (B,3,H,W) -> numOuts maps (B, neck.outChannels, ceil(H/s), ceil(W/s)) roughly. */
  extractFeatures(images: Tensor): Tensor[] {
    const feats = this.backbone.forward(images);
    const pyramid = this.neck.forward(feats);
    for (const f of feats) f.dispose();
    return pyramid;
  }

  /** images (B,3,H,W), normalised -> per-level head outputs, float32 whatever the precision. */
  forward(images: Tensor): HeadOutputs {
    const run = (): HeadOutputs => {
      const pyramid = this.extractFeatures(images);
      const out = this.head.forward(pyramid);
      for (const p of pyramid) p.dispose();
      return out;
    };
    const dtype = autocastDtypeOf(this.precision);
    const out = dtype !== null ? autocast(dtype, run, autocastDeviceOf(images.device)) : run();
    return outputsToFloat32(out);
  }
}

/**
 * The head outputs in float32: what ran under autocast comes out in bf16, but losses, the PAA cost and the GMM take
 * float32. The cast is differentiable (gradients flow back in bf16); float32 outputs are returned as they are.
 */
function outputsToFloat32(o: HeadOutputs): HeadOutputs {
  const f = (t: Tensor): Tensor => {
    if (t.dtype === 'float32') return t;
    const c = t.float();
    t.dispose();
    return c;
  };
  return { cls: o.cls.map(f), reg: o.reg.map(f), iou: o.iou === null ? null : o.iou.map(f), clsKind: o.clsKind };
}
