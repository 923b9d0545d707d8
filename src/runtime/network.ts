// The detector's forward pass (backbone -> FPN -> PAA head) in plain TypeScript over Float32Arrays, from a state
// dict under ladet's (mmdetection's) parameter names and the model description `ladet export` recorded (ModelSpec,
// src/models/spec.ts: the libtorch Detector's own `spec`). What ladet/runtime runs where there is no libtorch. The
// backbone runs through the kernel of its type (backbones.ts); each BatchNorm is folded into its conv once at load.
// The forward pass is written in NetOps (net_ops.ts): `forward` computes it (FMAP_OPS), `run` with the ONNX
// exporter's ops records the same steps as a graph (src/engine/export_onnx.ts).
import type { HeadSpec, ModelSpec, NeckSpec } from '../models/spec.js';
import type { FMap } from './ops.js';
import { backboneKernel, type BackboneKernel } from './backbones.js';
import { FMAP_OPS, type NetOps } from './net_ops.js';
import { Weights, type Conv, type StateDict } from './weights.js';

export type { StateDict, WeightTensor } from './weights.js';

/** The network's architecture, fully resolved: the model description (what a runtime model file records). */
export type NetworkSpec = ModelSpec;

/**
 * What runtime model files recorded before the model description (ladet-runtime version 1 as first written): a
 * ResNet by depth and stem width, no types on backbone and neck, no featChannels. Still read.
 */
export interface LegacyNetworkSpec {
  backbone: {
    type?: undefined;
    depth: 18 | 34 | 50 | 101;
    /** stem width after the width multiplier */ baseChannels: number;
  };
  neck: Omit<NeckSpec, 'type'> & { type?: 'fpn' };
  head: Omit<HeadSpec, 'type' | 'featChannels'> & { type?: HeadSpec['type']; featChannels?: number };
}

const GN_EPS = 1e-5;

/**
 * Per-level head outputs of one image, CHW: cls (A·C, H, W) logits (PAA) or probabilities (COP / IOP: see
 * Network.clsKind), reg (4A, H, W) scaled deltas, iou (A, H, W) logits. T: the NetOps value (FMap when computed).
 */
export interface LevelMaps<T = FMap> {
  cls: T;
  reg: T;
  iou: T | null;
}

interface TowerConv {
  conv: Conv;
  gnWeight: Float32Array;
  gnBias: Float32Array;
}

/**
 * A recorded network (a ModelSpec, or the legacy shape) -> the resolved ModelSpec: the backbone through its
 * kernel's resolution (ResNet: resolveResNetSpec, as the libtorch ResNet), absent types as 'resnet' / 'fpn' / 'paa'.
 * A legacy head's featChannels comes from its first tower conv in `sd` (else the neck width). Throws on a backbone
 * or neck type the runtime has no kernel for.
 */
export function resolveNetworkSpec(recorded: ModelSpec | LegacyNetworkSpec, sd?: StateDict): ModelSpec {
  const kernel = backboneKernel(recorded.backbone);
  if (typeof kernel === 'string') throw new Error(`runtime model: ${kernel}`);
  const b = recorded.backbone as unknown as Record<string, unknown>;
  const problem = kernel.problem(b);
  if (problem !== null) throw new Error(`runtime model: network.backbone.${problem}`);
  const n = recorded.neck;
  if ((n.type ?? 'fpn') !== 'fpn')
    throw new Error(`runtime model: neck type ${JSON.stringify(n.type)} has no ladet/runtime kernel (it runs: fpn)`);
  const h = recorded.head;
  const type = h.type ?? 'paa';
  const tower = sd?.get('bbox_head.cls_convs.0.conv.weight');
  const featChannels = h.featChannels ?? (h.stackedConvs > 0 && tower ? (tower.shape[0] as number) : n.outChannels);
  return {
    backbone: kernel.resolve(b),
    neck: {
      type: 'fpn',
      outChannels: n.outChannels,
      startLevel: n.startLevel,
      numOuts: n.numOuts,
      addExtraConvs: n.addExtraConvs,
      reluBeforeExtraConvs: n.reluBeforeExtraConvs,
    },
    head: {
      type,
      numClasses: h.numClasses,
      featChannels,
      stackedConvs: h.stackedConvs,
      gnGroups: h.gnGroups,
      iouBranch: h.iouBranch,
      ...(type === 'cop' ? { coeffKernelSize: h.coeffKernelSize ?? 3 } : {}),
    },
  };
}

export class Network {
  /** The resolved description this network runs. */
  readonly spec: ModelSpec;
  private readonly backboneKernel: BackboneKernel;
  private readonly laterals: Conv[];
  private readonly fpnConvs: Conv[];
  private readonly clsTower: TowerConv[];
  private readonly regTower: TowerConv[];
  private readonly clsOut: Conv;
  private readonly regOut: Conv;
  private readonly iouOut: Conv | null;
  private readonly scales: number[];
  /** COP: coefficient conv (k² outputs); IOP: objectness and bias convs */
  private readonly coeffOut: Conv | null = null;
  private readonly objOut: Conv | null = null;
  private readonly objBiasOut: Conv | null = null;
  /** what `cls` holds: logits for PAA heads, probabilities for COP / IOP */
  readonly clsKind: 'logits' | 'probs';

  /**
   * `recorded`: a ModelSpec (or the legacy shape, resolved here). Checks every tensor's presence and shape against
   * it; a tensor the network does not use is an error too.
   */
  constructor(recorded: ModelSpec | LegacyNetworkSpec, sd: StateDict) {
    const spec = resolveNetworkSpec(recorded, sd);
    this.spec = spec;
    const w = new Weights(sd);
    const kernel = backboneKernel(spec.backbone);
    if (typeof kernel === 'string') throw new Error(`runtime model: ${kernel}`);
    this.backboneKernel = kernel.build(spec.backbone, w);

    const n = spec.neck;
    const numIns = spec.backbone.outChannels.length;
    const used = numIns - n.startLevel;
    if (!(n.startLevel >= 0 && n.startLevel < numIns) || n.numOuts < used)
      throw new Error(
        `runtime model: neck startLevel ${n.startLevel} / numOuts ${n.numOuts} do not fit ${numIns} backbone maps`,
      );
    this.laterals = [];
    this.fpnConvs = [];
    for (let i = 0; i < used; i++) {
      this.laterals.push(w.conv(`neck.lateral_convs.${i}.conv`, 1, 0, true));
      this.fpnConvs.push(w.conv(`neck.fpn_convs.${i}.conv`, 1, 1, true));
    }
    if (n.addExtraConvs !== false)
      for (let i = used; i < n.numOuts; i++) this.fpnConvs.push(w.conv(`neck.fpn_convs.${i}.conv`, 2, 1, true));

    const h = spec.head;
    const tower = (name: string): TowerConv[] =>
      Array.from({ length: h.stackedConvs }, (_, i) => {
        const conv = w.conv(`bbox_head.${name}.${i}.conv`, 1, 1, false);
        const c = conv.shape[0];
        if (c % h.gnGroups !== 0)
          throw new Error(`runtime model: gnGroups ${h.gnGroups} must divide the tower width ${c}`);
        return {
          conv,
          gnWeight: w.get(`bbox_head.${name}.${i}.gn.weight`, [c]).data,
          gnBias: w.get(`bbox_head.${name}.${i}.gn.bias`, [c]).data,
        };
      });
    this.clsTower = tower('cls_convs');
    this.regTower = tower('reg_convs');
    this.clsOut = w.conv('bbox_head.atss_cls', 1, 1, true);
    this.regOut = w.conv('bbox_head.atss_reg', 1, 1, true);
    this.iouOut = h.iouBranch ? w.conv('bbox_head.atss_centerness', 1, 1, true) : null;
    if (this.clsOut.shape[0] % h.numClasses !== 0)
      throw new Error(
        `runtime model: atss_cls has ${this.clsOut.shape[0]} outputs, not a multiple of ${h.numClasses} classes`,
      );
    this.scales = Array.from({ length: n.numOuts }, (_, l) => w.get(`bbox_head.scales.${l}.scale`).data[0] as number);
    const type = h.type;
    this.clsKind = type === 'paa' ? 'logits' : 'probs';
    if (type !== 'paa' && this.clsOut.shape[0] !== h.numClasses)
      throw new Error(`runtime model: ${type.toUpperCase()} heads have one anchor per location`);
    if (type === 'cop') {
      const k = h.coeffKernelSize ?? 3;
      this.coeffOut = w.conv('bbox_head.coeff_conv', 1, 1, true);
      if (this.coeffOut.shape[0] !== k * k)
        throw new Error(
          `runtime model: coeff_conv has ${this.coeffOut.shape[0]} outputs, coeffKernelSize ${k} needs ${k * k}`,
        );
    } else if (type === 'iop') {
      this.objOut = w.conv('bbox_head.objectness', 1, 1, true);
      this.objBiasOut = w.conv('bbox_head.obj_bias', 1, 1, true);
    }
    const unused = [...sd.keys()].filter((k) => !w.used.has(k));
    if (unused.length)
      throw new Error(
        `runtime model: tensor '${unused[0]}' is not part of the network${unused.length > 1 ? ` (and ${unused.length - 1} more)` : ''}`,
      );
  }

  /** image (3, H, W) normalised and padded -> per-level head outputs, finest first. */
  forward(image: FMap): LevelMaps[] {
    return this.run(FMAP_OPS, image);
  }

  /**
   * The forward pass in `ops`: image (3, H, W) -> per-level head outputs, finest first. With FMAP_OPS it computes
   * them (forward); with the ONNX exporter's ops it records them as graph nodes.
   */
  run<T>(ops: NetOps<T>, image: T): LevelMaps<T>[] {
    const feats = this.backboneKernel.forward(ops, image);
    const pyramid = this.neck(ops, feats);
    return pyramid.map((x, l) => this.headLevel(ops, x, l));
  }

  /** the backbone maps -> numOuts maps of outChannels, finest first (mmdetection's FPN without norm). */
  private neck<T>(ops: NetOps<T>, inputs: T[]): T[] {
    const n = this.spec.neck;
    const used = this.laterals.length;
    const laterals = this.laterals.map((c, i) => ops.conv(c, inputs[i + n.startLevel] as T));
    for (let i = used - 1; i > 0; i--) {
      const lower = laterals[i - 1] as T;
      laterals[i - 1] = ops.add(lower, ops.upsampleNearestLike(laterals[i] as T, lower));
    }
    const outs = laterals.map((l, i) => ops.conv(this.fpnConvs[i] as Conv, l));
    if (n.numOuts > used) {
      if (n.addExtraConvs === false) {
        for (let i = used; i < n.numOuts; i++) outs.push(ops.maxPool2d(outs[i - 1] as T, 1, 2, 0));
      } else {
        const source =
          n.addExtraConvs === 'on_input'
            ? (inputs[inputs.length - 1] as T)
            : n.addExtraConvs === 'on_lateral'
              ? (laterals[used - 1] as T)
              : (outs[used - 1] as T);
        outs.push(ops.conv(this.fpnConvs[used] as Conv, source));
        for (let i = used + 1; i < n.numOuts; i++) {
          const prev = outs[i - 1] as T;
          outs.push(ops.conv(this.fpnConvs[i] as Conv, n.reluBeforeExtraConvs ? ops.relu(ops.copy(prev)) : prev));
        }
      }
    }
    return outs;
  }

  private headLevel<T>(ops: NetOps<T>, x: T, level: number): LevelMaps<T> {
    const g = this.spec.head.gnGroups;
    const tower = (convs: TowerConv[]): T =>
      convs.reduce((h, t) => ops.relu(ops.groupNorm(ops.conv(t.conv, h), g, t.gnWeight, t.gnBias, GN_EPS)), x);
    const clsFeat = tower(this.clsTower);
    const regFeat = tower(this.regTower);
    const logits = ops.conv(this.clsOut, clsFeat);
    let cls = logits;
    if (this.coeffOut)
      cls = ops.copProbabilities(logits, ops.conv(this.coeffOut, regFeat), this.spec.head.coeffKernelSize ?? 3);
    else if (this.objOut && this.objBiasOut)
      cls = ops.iopProbabilities(logits, ops.conv(this.objOut, regFeat), ops.conv(this.objBiasOut, regFeat));
    return {
      cls,
      reg: ops.mulScalar(ops.conv(this.regOut, regFeat), this.scales[level] as number),
      iou: this.iouOut ? ops.conv(this.iouOut, regFeat) : null,
    };
  }
}
