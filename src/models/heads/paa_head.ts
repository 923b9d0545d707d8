// The PAA head (mmdetection's ATSSHead layout, shared across FPN levels): a classification tower and a regression
// tower of `stackedConvs` x [3x3 conv (no bias), GroupNorm, ReLU], then `atss_cls` (class logits) on the cls tower
// and `atss_reg` (box deltas, times a learnable per-level `scales.{l}.scale`) and `atss_centerness` (PAA's
// IoU-prediction logit) on the reg tower. `iouBranch: false` drops `atss_centerness` (ccdet's *_BASE heads); the
// COP / IOP heads (cop_head.ts, iop_head.ts) subclass this one and override `classify`.
import type { Tensor } from '../../torch/index.js';
import { Conv2d, ConvModule, Module, ModuleList, Scale, biasInitWithProb, init } from '../../nn/index.js';
import type { HeadOutputs } from './outputs.js';

export interface PAAHeadOptions {
  numClasses: number;
  /** Channels of the FPN maps. */
  inChannels: number;
  /** Tower width (default 256). */
  featChannels?: number;
  /** Convs per tower (default 4). */
  stackedConvs?: number;
  /** GroupNorm groups of the towers (default 32); must divide featChannels. */
  gnGroups?: number;
  /** FPN levels, one learnable scale each (default 5). */
  numLevels?: number;
  /** Anchors per location (default 1). */
  numAnchors?: number;
  /** Initial foreground probability of the class logits (default 0.01). */
  priorProb?: number;
  /** Predict the IoU of each box (`atss_centerness`, default true). */
  iouBranch?: boolean;
}

export class PAAHead extends Module {
  readonly numClasses: number;
  readonly numAnchors: number;
  readonly numLevels: number;
  readonly clsConvs: ModuleList<ConvModule>;
  readonly regConvs: ModuleList<ConvModule>;
  readonly atssCls: Conv2d;
  readonly atssReg: Conv2d;
  readonly atssCenterness: Conv2d | null;
  readonly scales: ModuleList<Scale>;
  /** What `forward` returns in `cls`: logits here, probabilities in the COP / IOP heads. */
  readonly clsKind: 'logits' | 'probs' = 'logits';
  /** Channels of the last tower conv (what extra branches on the towers take as input). */
  protected readonly towerChannels: number;

  constructor(o: PAAHeadOptions) {
    super();
    const feat = o.featChannels ?? 256;
    const stacked = o.stackedConvs ?? 4;
    const groups = o.gnGroups ?? 32;
    this.numClasses = o.numClasses;
    this.numAnchors = o.numAnchors ?? 1;
    this.numLevels = o.numLevels ?? 5;
    const positive: [string, number][] = [
      ['numClasses', this.numClasses],
      ['inChannels', o.inChannels],
      ['featChannels', feat],
      ['gnGroups', groups],
      ['numLevels', this.numLevels],
      ['numAnchors', this.numAnchors],
    ];
    for (const [k, v] of positive)
      if (!Number.isInteger(v) || v < 1) throw new Error(`PAAHead: ${k} must be a positive whole number (got ${v})`);
    if (!Number.isInteger(stacked) || stacked < 0)
      throw new Error(`PAAHead: stackedConvs must be a whole number >= 0 (got ${stacked})`);
    if (stacked > 0 && feat % groups !== 0) {
      throw new Error(`PAAHead: gnGroups ${groups} must divide featChannels ${feat}`);
    }
    const tower = (): ConvModule[] =>
      Array.from(
        { length: stacked },
        (_, i) => new ConvModule(i === 0 ? o.inChannels : feat, feat, 3, { padding: 1, norm: { type: 'gn', groups } }),
      );
    this.clsConvs = this.registerModule('cls_convs', new ModuleList(tower()));
    this.regConvs = this.registerModule('reg_convs', new ModuleList(tower()));
    const last = stacked > 0 ? feat : o.inChannels;
    const a = this.numAnchors;
    this.atssCls = this.registerModule('atss_cls', new Conv2d(last, a * this.numClasses, 3, { padding: 1 }));
    this.atssReg = this.registerModule('atss_reg', new Conv2d(last, a * 4, 3, { padding: 1 }));
    this.atssCenterness =
      o.iouBranch === false ? null : this.registerModule('atss_centerness', new Conv2d(last, a, 3, { padding: 1 }));
    this.towerChannels = last;
    this.scales = this.registerModule(
      'scales',
      new ModuleList(Array.from({ length: this.numLevels }, () => new Scale(1))),
    );

    // mmdetection's ATSSHead init: every conv N(0, 0.01) with zero bias; the class bias gives sigmoid = priorProb.
    for (const [, m] of this.namedModules()) {
      if (!(m instanceof Conv2d)) continue;
      init.normal_(m.weight, 0, 0.01);
      if (m.bias) init.constant_(m.bias, 0);
    }
    init.constant_(this.atssCls.bias as Tensor, biasInitWithProb(o.priorProb ?? 0.01));
  }

  /**
   * features: numLevels maps (B, inChannels, H_l, W_l), finest first -> per-level cls (B, A·C, H, W) (see clsKind),
   * reg (B, 4A, H, W) and iou (B, A, H, W) or null without the IoU branch.
   */
  forward(features: readonly Tensor[]): HeadOutputs {
    if (features.length !== this.numLevels) {
      throw new Error(`${this.constructor.name}: expected ${this.numLevels} feature maps, got ${features.length}`);
    }
    const iou: Tensor[] | null = this.atssCenterness ? [] : null;
    const out: HeadOutputs = { cls: [], reg: [], iou, clsKind: this.clsKind };
    features.forEach((x, l) => {
      const clsFeat = runTower(this.clsConvs.items, x);
      const logits = this.atssCls.forward(clsFeat);
      if (clsFeat !== x) clsFeat.dispose();
      const regFeat = runTower(this.regConvs.items, x);
      const deltas = this.atssReg.forward(regFeat);
      out.reg.push(this.scales.at(l).forward(deltas));
      deltas.dispose();
      if (iou && this.atssCenterness) iou.push(this.atssCenterness.forward(regFeat));
      const cls = this.classify(logits, regFeat);
      if (cls !== logits) logits.dispose();
      out.cls.push(cls);
      if (regFeat !== x) regFeat.dispose();
    });
    return out;
  }

  /**
   * The cls output of one level from the class logits (B, A·C, H, W) and the reg-tower features
   * (B, towerChannels, H, W). PAA returns the logits themselves; COP / IOP turn them into probabilities.
   */
  protected classify(logits: Tensor, _regFeat: Tensor): Tensor {
    return logits;
  }
}

function runTower(convs: readonly ConvModule[], x: Tensor): Tensor {
  let h = x;
  for (const c of convs) {
    const next = c.forward(h);
    if (h !== x) h.dispose();
    h = next;
  }
  return h;
}
