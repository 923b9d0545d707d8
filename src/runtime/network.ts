// The detector's forward pass (ResNet -> FPN -> PAA head) in plain TypeScript over Float32Arrays, from a state
// dict under ladet's (mmdetection's) parameter names: what ladet/runtime runs where there is no libtorch. Each
// BatchNorm is folded into its conv once at load, as ladet's own eval-mode convBn does.
import { add, conv2d, groupNorm, maxPool2d, mulScalar, relu, sigmoidF32, upsampleNearest, type FMap } from './ops.js';

/** A named tensor of the state dict: float32 values, row-major, and the shape. */
export interface WeightTensor {
  data: Float32Array;
  shape: readonly number[];
}

export type StateDict = ReadonlyMap<string, WeightTensor>;

/** The network's architecture, fully resolved (what a runtime model file records). */
export interface NetworkSpec {
  backbone: { depth: 18 | 34 | 50 | 101; /** stem width after the width multiplier */ baseChannels: number };
  neck: { outChannels: number; startLevel: number; numOuts: number; addExtraConvs: 'on_input' | 'on_lateral' | 'on_output' | false; reluBeforeExtraConvs: boolean };
  head: {
    numClasses: number;
    stackedConvs: number;
    gnGroups: number;
    iouBranch: boolean;
    /** 'paa' (default): class logits; 'cop' / 'iop': class probabilities through their extra reg-tower convs */
    type?: 'paa' | 'cop' | 'iop';
    /** COP's neighbourhood size k (odd) */
    coeffKernelSize?: number;
  };
}

const BLOCKS: Record<NetworkSpec['backbone']['depth'], { bottleneck: boolean; blocks: readonly number[] }> = {
  18: { bottleneck: false, blocks: [2, 2, 2, 2] },
  34: { bottleneck: false, blocks: [3, 4, 6, 3] },
  50: { bottleneck: true, blocks: [3, 4, 6, 3] },
  101: { bottleneck: true, blocks: [3, 4, 23, 3] },
};

const BN_EPS = 1e-5;
const GN_EPS = 1e-5;

/** A conv with its (possibly folded) bias, ready to run. */
interface Conv {
  weight: Float32Array;
  shape: [number, number, number, number];
  bias: Float32Array | null;
  stride: number;
  padding: number;
}

/**
 * Per-level head outputs of one image, CHW: cls (A·C, H, W) logits (PAA) or probabilities (COP / IOP: see
 * Network.clsKind), reg (4A, H, W) scaled deltas, iou (A, H, W) logits.
 */
export interface LevelMaps {
  cls: FMap;
  reg: FMap;
  iou: FMap | null;
}

class Weights {
  readonly used = new Set<string>();
  constructor(private readonly sd: StateDict) {}

  get(name: string, shape?: readonly number[]): WeightTensor {
    const t = this.sd.get(name);
    if (!t) throw new Error(`runtime model: tensor '${name}' is missing`);
    if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
      throw new Error(`runtime model: tensor '${name}' has shape [${t.shape.join(', ')}], the network expects [${shape.join(', ')}]`);
    }
    if (t.data.length !== t.shape.reduce((a, b) => a * b, 1)) throw new Error(`runtime model: tensor '${name}' holds ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    this.used.add(name);
    return t;
  }

  conv(prefix: string, stride: number, padding: number, withBias: boolean): Conv {
    const w = this.get(`${prefix}.weight`);
    if (w.shape.length !== 4) throw new Error(`runtime model: tensor '${prefix}.weight' must be 4-d, got [${w.shape.join(', ')}]`);
    const shape = [...w.shape] as [number, number, number, number];
    return { weight: w.data, shape, bias: withBias ? this.get(`${prefix}.bias`, [shape[0]]).data : null, stride, padding };
  }

  /** conv (no bias) followed by BatchNorm `bn`, folded: W·s, bias β - μ·s with s = γ / sqrt(σ² + eps). */
  convBn(convPrefix: string, bnPrefix: string, stride: number, padding: number): Conv {
    const c = this.conv(convPrefix, stride, padding, false);
    const n = c.shape[0];
    const g = this.get(`${bnPrefix}.weight`, [n]).data;
    const b = this.get(`${bnPrefix}.bias`, [n]).data;
    const m = this.get(`${bnPrefix}.running_mean`, [n]).data;
    const v = this.get(`${bnPrefix}.running_var`, [n]).data;
    if (this.sd.has(`${bnPrefix}.num_batches_tracked`)) this.used.add(`${bnPrefix}.num_batches_tracked`);
    const per = c.weight.length / n;
    const weight = new Float32Array(c.weight.length);
    const bias = new Float32Array(n);
    for (let o = 0; o < n; o++) {
      // float32 steps in libtorch's order: rsqrt(v + eps), γ·inv, -(μ·scale) + β
      const inv = Math.fround(1 / Math.sqrt(Math.fround((v[o] as number) + BN_EPS)));
      const s = Math.fround((g[o] as number) * inv);
      bias[o] = Math.fround(-Math.fround((m[o] as number) * s) + (b[o] as number));
      for (let k = 0; k < per; k++) weight[o * per + k] = Math.fround((c.weight[o * per + k] as number) * s);
    }
    return { ...c, weight, bias };
  }
}

function run(c: Conv, x: FMap): FMap {
  return conv2d(x, c.weight, c.shape, c.bias, c.stride, c.padding);
}

interface Block {
  convs: Conv[];
  downsample: Conv | null;
}

interface TowerConv {
  conv: Conv;
  gnWeight: Float32Array;
  gnBias: Float32Array;
}

export class Network {
  private readonly stem: Conv;
  private readonly stages: Block[][];
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

  /** Checks every tensor's presence and shape against `spec`; a tensor the network does not use is an error too. */
  constructor(
    readonly spec: NetworkSpec,
    sd: StateDict,
  ) {
    const w = new Weights(sd);
    const arch = BLOCKS[spec.backbone.depth];
    if (!arch) throw new Error(`runtime model: backbone depth must be 18, 34, 50 or 101 (got ${String(spec.backbone.depth)})`);
    const width = spec.backbone.baseChannels;
    this.stem = w.convBn('backbone.conv1', 'backbone.bn1', 2, 3);
    this.stages = [];
    let inCh = width;
    arch.blocks.forEach((count, i) => {
      const planes = width * 2 ** i;
      const outCh = planes * (arch.bottleneck ? 4 : 1);
      const blocks: Block[] = [];
      for (let j = 0; j < count; j++) {
        const p = `backbone.layer${i + 1}.${j}`;
        const stride = j === 0 && i > 0 ? 2 : 1;
        const cin = j === 0 ? inCh : outCh;
        const convs = arch.bottleneck
          ? [w.convBn(`${p}.conv1`, `${p}.bn1`, 1, 0), w.convBn(`${p}.conv2`, `${p}.bn2`, stride, 1), w.convBn(`${p}.conv3`, `${p}.bn3`, 1, 0)]
          : [w.convBn(`${p}.conv1`, `${p}.bn1`, stride, 1), w.convBn(`${p}.conv2`, `${p}.bn2`, 1, 1)];
        const downsample = stride !== 1 || cin !== outCh ? w.convBn(`${p}.downsample.0`, `${p}.downsample.1`, stride, 0) : null;
        blocks.push({ convs, downsample });
      }
      this.stages.push(blocks);
      inCh = outCh;
    });

    const n = spec.neck;
    const used = 4 - n.startLevel;
    if (!(n.startLevel >= 0 && n.startLevel < 4) || n.numOuts < used) throw new Error(`runtime model: neck startLevel ${n.startLevel} / numOuts ${n.numOuts} do not fit 4 backbone stages`);
    this.laterals = [];
    this.fpnConvs = [];
    for (let i = 0; i < used; i++) {
      this.laterals.push(w.conv(`neck.lateral_convs.${i}.conv`, 1, 0, true));
      this.fpnConvs.push(w.conv(`neck.fpn_convs.${i}.conv`, 1, 1, true));
    }
    if (n.addExtraConvs !== false) for (let i = used; i < n.numOuts; i++) this.fpnConvs.push(w.conv(`neck.fpn_convs.${i}.conv`, 2, 1, true));

    const h = spec.head;
    const tower = (name: string): TowerConv[] =>
      Array.from({ length: h.stackedConvs }, (_, i) => {
        const conv = w.conv(`bbox_head.${name}.${i}.conv`, 1, 1, false);
        const c = conv.shape[0];
        if (c % h.gnGroups !== 0) throw new Error(`runtime model: gnGroups ${h.gnGroups} must divide the tower width ${c}`);
        return { conv, gnWeight: w.get(`bbox_head.${name}.${i}.gn.weight`, [c]).data, gnBias: w.get(`bbox_head.${name}.${i}.gn.bias`, [c]).data };
      });
    this.clsTower = tower('cls_convs');
    this.regTower = tower('reg_convs');
    this.clsOut = w.conv('bbox_head.atss_cls', 1, 1, true);
    this.regOut = w.conv('bbox_head.atss_reg', 1, 1, true);
    this.iouOut = h.iouBranch ? w.conv('bbox_head.atss_centerness', 1, 1, true) : null;
    if (this.clsOut.shape[0] % h.numClasses !== 0) throw new Error(`runtime model: atss_cls has ${this.clsOut.shape[0]} outputs, not a multiple of ${h.numClasses} classes`);
    this.scales = Array.from({ length: n.numOuts }, (_, l) => w.get(`bbox_head.scales.${l}.scale`).data[0] as number);
    const type = h.type ?? 'paa';
    this.clsKind = type === 'paa' ? 'logits' : 'probs';
    if (type !== 'paa' && this.clsOut.shape[0] !== h.numClasses) throw new Error(`runtime model: ${type.toUpperCase()} heads have one anchor per location`);
    if (type === 'cop') {
      const k = h.coeffKernelSize ?? 3;
      this.coeffOut = w.conv('bbox_head.coeff_conv', 1, 1, true);
      if (this.coeffOut.shape[0] !== k * k) throw new Error(`runtime model: coeff_conv has ${this.coeffOut.shape[0]} outputs, coeffKernelSize ${k} needs ${k * k}`);
    } else if (type === 'iop') {
      this.objOut = w.conv('bbox_head.objectness', 1, 1, true);
      this.objBiasOut = w.conv('bbox_head.obj_bias', 1, 1, true);
    }
    const unused = [...sd.keys()].filter((k) => !w.used.has(k));
    if (unused.length) throw new Error(`runtime model: tensor '${unused[0]}' is not part of the network${unused.length > 1 ? ` (and ${unused.length - 1} more)` : ''}`);
  }

  /** image (3, H, W) normalised and padded -> per-level head outputs, finest first. */
  forward(image: FMap): LevelMaps[] {
    const feats = this.backbone(image);
    const pyramid = this.neck(feats);
    return pyramid.map((x, l) => this.headLevel(x, l));
  }

  /** (3, H, W) -> C2..C5. */
  private backbone(x: FMap): FMap[] {
    let h = maxPool2d(relu(run(this.stem, x)), 3, 2, 1);
    const outs: FMap[] = [];
    for (const blocks of this.stages) {
      for (const b of blocks) {
        let y = h;
        b.convs.forEach((c, i) => {
          y = run(c, y);
          if (i < b.convs.length - 1) relu(y);
        });
        h = relu(add(y, b.downsample ? run(b.downsample, h) : h));
      }
      outs.push(h);
    }
    return outs;
  }

  /** C2..C5 -> numOuts maps of outChannels, finest first (mmdetection's FPN without norm). */
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
        const source = n.addExtraConvs === 'on_input' ? (inputs[3] as FMap) : n.addExtraConvs === 'on_lateral' ? (laterals[used - 1] as FMap) : (outs[used - 1] as FMap);
        outs.push(run(this.fpnConvs[used] as Conv, source));
        for (let i = used + 1; i < n.numOuts; i++) {
          const prev = outs[i - 1] as FMap;
          outs.push(run(this.fpnConvs[i] as Conv, n.reluBeforeExtraConvs ? relu({ ...prev, data: prev.data.slice() }) : prev));
        }
      }
    }
    return outs;
  }

  private headLevel(x: FMap, level: number): LevelMaps {
    const tower = (convs: TowerConv[]): FMap => convs.reduce((h, t) => relu(groupNorm(run(t.conv, h), this.spec.head.gnGroups, t.gnWeight, t.gnBias, GN_EPS)), x);
    const clsFeat = tower(this.clsTower);
    const regFeat = tower(this.regTower);
    const logits = run(this.clsOut, clsFeat);
    let cls = logits;
    if (this.coeffOut) cls = copProbabilities(logits, run(this.coeffOut, regFeat), this.spec.head.coeffKernelSize ?? 3);
    else if (this.objOut && this.objBiasOut) cls = iopProbabilities(logits, run(this.objOut, regFeat), run(this.objBiasOut, regFeat));
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
    for (let ch = 0; ch < c; ch++) out[ch * plane + i] = f32(Math.max(0, f32(sigmoidF32(logits.data[ch * plane + i] as number) - sb)) * so);
  }
  return { data: out, c, h, w };
}
