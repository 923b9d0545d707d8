// A one-stage detector: ResNet backbone -> FPN neck -> PAA / COP / IOP head, under mmdetection's module names `backbone`,
// `neck` and `bbox_head`, so its state dict matches mmdetection PAA checkpoints key for key.
import type { Tensor } from '../torch/index.js';
import { Module } from '../nn/index.js';
import { ResNet, type ResNetOptions } from './backbones/resnet.js';
import { FPN, type ExtraConvs } from './necks/fpn.js';
import { PAAHead, type PAAHeadOptions } from './heads/paa_head.js';
import { COPHead } from './heads/cop_head.js';
import { IOPHead } from './heads/iop_head.js';
import type { HeadOutputs } from './heads/outputs.js';

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
}

export type HeadType = 'paa' | 'cop' | 'iop';

/** The head of a given type; all share the PAA towers and module names. */
export function buildHead(type: HeadType, o: PAAHeadOptions & { coeffKernelSize?: number }): PAAHead {
  switch (type) {
    case 'paa':
      return new PAAHead(o);
    case 'cop':
      return new COPHead(o);
    case 'iop':
      return new IOPHead(o);
  }
}

export interface DetectorConfig {
  backbone: ResNetOptions;
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

export class Detector extends Module {
  readonly config: DetectorConfig;
  readonly backbone: ResNet;
  readonly neck: FPN;
  readonly head: PAAHead;
  /** Stride of each pyramid level, finest first (8..128 for PAA). */
  readonly strides: readonly number[];

  constructor(config: DetectorConfig) {
    super();
    this.config = config;
    this.backbone = this.registerModule('backbone', new ResNet(config.backbone));
    const numOuts = config.neck.numOuts ?? 5;
    const startLevel = config.neck.startLevel ?? 1;
    this.neck = this.registerModule(
      'neck',
      new FPN({
        inChannels: this.backbone.outChannels,
        outChannels: config.neck.outChannels,
        startLevel,
        numOuts,
        addExtraConvs: config.neck.addExtraConvs ?? 'on_output',
        reluBeforeExtraConvs: config.neck.reluBeforeExtraConvs ?? false,
      }),
    );
    const { type, ...head } = config.head;
    this.head = this.registerModule('bbox_head', buildHead(type ?? 'paa', { ...head, inChannels: config.neck.outChannels, numLevels: numOuts }));
    const strides = this.backbone.outStrides.slice(startLevel);
    while (strides.length < numOuts) strides.push(2 * (strides[strides.length - 1] as number));
    this.strides = strides;
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

  /** images (B,3,H,W), normalised -> per-level head outputs. */
  forward(images: Tensor): HeadOutputs {
    const pyramid = this.extractFeatures(images);
    const out = this.head.forward(pyramid);
    for (const p of pyramid) p.dispose();
    return out;
  }
}
