// The detector's forward pass (backbone -> FPN -> PAA head) in plain TypeScript over Float32Arrays, from a state
// dict under ladet's (mmdetection's) parameter names and the model description `ladet export` recorded (ModelSpec,
// src/models/spec.ts: the libtorch Detector's own `spec`). What ladet/runtime runs where there is no libtorch. The
// backbone runs through the kernel of its type (backbones.ts); each BatchNorm is folded into its conv once at load.
import type { HeadSpec, ModelSpec, NeckSpec } from '../models/spec.js';
import { add, groupNorm, maxPool2d, mulScalar, relu, sigmoidF32, upsampleNearest, type FMap } from './ops.js';
import { backboneKernel, type BackboneKernel } from './backbones.js';
import { Weights, runConv as run, type Conv, type StateDict } from './weights.js';

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
 * Network.clsKind), reg (4A, H, W) scaled deltas, iou (A, H, W) logits.
 */
export interface LevelMaps {
  cls: FMap;
  reg: FMap;
  iou: FMap | null;
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
    const feats = this.backboneKernel.forward(image);
    const pyramid = this.neck(feats);
    return pyramid.map((x, l) => this.headLevel(x, l));
  }

  /** the backbone maps -> numOuts maps of outChannels, finest first (mmdetection's FPN without norm). */
  private neck(inputs: FMap[]): FMap[] {
    const n = this.spec.neck;
    const used = this.laterals.length;
    const laterals = this.laterals.map((c, i) => run(c, inputs[i + n.startLevel] as FMap));
    for (let i = used - 1; i > 0; i--) {
      const lower = laterals[i - 1] as FMap;
      laterals[i - 1] = add(lower, upsampleNearest(laterals[i] as FMap, lower.h, lower.w));
    }
    const outs = laterals.map((l, i) => run(this.fpnConvs[i] as Conv, l));
    if (n.numOuts > used) {
      if (n.addExtraConvs === false) {
        for (let i = used; i < n.numOuts; i++) outs.push(maxPool2d(outs[i - 1] as FMap, 1, 2, 0));
      } else {
        const source =
          n.addExtraConvs === 'on_input'
            ? (inputs[inputs.length - 1] as FMap)
            : n.addExtraConvs === 'on_lateral'
              ? (laterals[used - 1] as FMap)
              : (outs[used - 1] as FMap);
        outs.push(run(this.fpnConvs[used] as Conv, source));
        for (let i = used + 1; i < n.numOuts; i++) {
          const prev = outs[i - 1] as FMap;
          outs.push(
            run(this.fpnConvs[i] as Conv, n.reluBeforeExtraConvs ? relu({ ...prev, data: prev.data.slice() }) : prev),
          );
        }
      }
    }
    return outs;
  }

  private headLevel(x: FMap, level: number): LevelMaps {
    const tower = (convs: TowerConv[]): FMap =>
      convs.reduce((h, t) => relu(groupNorm(run(t.conv, h), this.spec.head.gnGroups, t.gnWeight, t.gnBias, GN_EPS)), x);
    const clsFeat = tower(this.clsTower);
    const regFeat = tower(this.regTower);
    const logits = run(this.clsOut, clsFeat);
    let cls = logits;
    if (this.coeffOut) cls = copProbabilities(logits, run(this.coeffOut, regFeat), this.spec.head.coeffKernelSize ?? 3);
    else if (this.objOut && this.objBiasOut)
      cls = iopProbabilities(logits, run(this.objOut, regFeat), run(this.objBiasOut, regFeat));
    return {
      cls,
      reg: mulScalar(run(this.regOut, regFeat), this.scales[level] as number),
      iou: this.iouOut ? run(this.iouOut, regFeat) : null,
    };
  }
}

const f32 = Math.fround;

/**
 * COP (cop_head.ts): p_c(x) = mean over the k x k neighbourhood j of sigmoid(z_c(x + Δ_j)) · sigmoid(o_j(x)), the
 * logits zero-padded (a neighbour outside the map counts as sigmoid(0) = 0.5). logits (C, H, W), coeff (k², H, W).
 */
function copProbabilities(logits: FMap, coeff: FMap, k: number): FMap {
  const { c, h, w } = logits;
  const r = (k - 1) / 2;
  const plane = h * w;
  const sz = logits.data.map(sigmoidF32);
  const so = coeff.data.map(sigmoidF32);
  const out = new Float32Array(c * plane);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let sum = 0;
        for (let j = 0; j < k * k; j++) {
          const yy = y + Math.floor(j / k) - r;
          const xx = x + (j % k) - r;
          const p = yy >= 0 && yy < h && xx >= 0 && xx < w ? (sz[ch * plane + yy * w + xx] as number) : 0.5;
          sum += f32(p * (so[j * plane + y * w + x] as number));
        }
        out[ch * plane + y * w + x] = sum / (k * k);
      }
    }
  }
  return { data: out, c, h, w };
}

/** IOP (iop_head.ts): p_c = relu(sigmoid(z_c) - sigmoid(b)) · sigmoid(o). logits (C, H, W), obj and bias (1, H, W). */
function iopProbabilities(logits: FMap, obj: FMap, bias: FMap): FMap {
  const { c, h, w } = logits;
  const plane = h * w;
  const out = new Float32Array(c * plane);
  for (let i = 0; i < plane; i++) {
    const sb = sigmoidF32(bias.data[i] as number);
    const so = sigmoidF32(obj.data[i] as number);
    for (let ch = 0; ch < c; ch++)
      out[ch * plane + i] = f32(Math.max(0, f32(sigmoidF32(logits.data[ch * plane + i] as number) - sb)) * so);
  }
  return { data: out, c, h, w };
}
