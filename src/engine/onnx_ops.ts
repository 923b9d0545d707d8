// NetOps (src/runtime/net_ops.ts) that record instead of compute: each call appends ONNX nodes (opset 17) to a graph
// and returns the name of the value it makes, so ladet/runtime's Network writes its own forward pass into an ONNX
// graph over a batch (N, C, H, W), with no other description of the architecture. Weights (BatchNorms already folded
// by the runtime's Weights, as in eval mode) become initializers, each once however many levels share it.
// References: the ONNX operator spec (github.com/onnx/onnx/blob/main/docs/Operators.md) for every op used; PyTorch's
// own export of the same modules (torch/onnx/symbolic_opset9.py, symbolic_opset11.py) for GroupNorm and nearest
// upsampling, as cited at each below.
import { attr, type OnnxGraph } from '../io/onnx.js';
import type { NetOps } from '../runtime/net_ops.js';
import type { Conv } from '../runtime/weights.js';

/** A graph value: its name in the ONNX graph, (N, C, H, W) float32 throughout the network. */
export type OnnxValue = string;

export class OnnxOps implements NetOps<OnnxValue> {
  private readonly convParams = new WeakMap<Conv, { weight: string; bias: string | null }>();
  private readonly vectors = new WeakMap<Float32Array, string>();
  private readonly shared = new Map<string, string>();

  constructor(private readonly g: OnnxGraph) {}

  /** A constant made once per key (shapes, unit scales, one-hot kernels). */
  private once(key: string, make: () => string): string {
    let name = this.shared.get(key);
    if (name === undefined) this.shared.set(key, (name = make()));
    return name;
  }

  /** A per-channel vector (C) as a (C, 1, 1) constant, broadcasting over (N, C, H, W). */
  private channelVector(v: Float32Array, hint: string): string {
    let name = this.vectors.get(v);
    if (name === undefined) this.vectors.set(v, (name = this.g.constant(v, [v.length, 1, 1], hint)));
    return name;
  }

  /** Conv (Operators.md#Conv): weight (O, I, kh, kw), bias (O); group 1, dilation 1. */
  conv(c: Conv, x: OnnxValue): OnnxValue {
    let p = this.convParams.get(c);
    if (p === undefined) {
      p = {
        weight: this.g.constant(c.weight, c.shape, 'conv_w'),
        bias: c.bias === null ? null : this.g.constant(c.bias, [c.shape[0]], 'conv_b'),
      };
      this.convParams.set(c, p);
    }
    const [, , kh, kw] = c.shape;
    const { stride: s, padding: q } = c;
    return this.g.op('Conv', p.bias === null ? [x, p.weight] : [x, p.weight, p.bias], {
      kernel_shape: attr.ints([kh, kw]),
      strides: attr.ints([s, s]),
      pads: attr.ints([q, q, q, q]),
    });
  }

  relu(x: OnnxValue): OnnxValue {
    return this.g.op('Relu', [x]);
  }

  /** Values are immutable in a graph: nothing to copy. */
  copy(x: OnnxValue): OnnxValue {
    return x;
  }

  add(a: OnnxValue, b: OnnxValue): OnnxValue {
    return this.g.op('Add', [a, b]);
  }

  mulScalar(x: OnnxValue, s: number): OnnxValue {
    return this.g.op('Mul', [x, this.g.f32([s], [], 'scale')]);
  }

  /** MaxPool (Operators.md#MaxPool), ceil_mode 0: padded cells never win, as nn.MaxPool2d. */
  maxPool2d(x: OnnxValue, kernel: number, stride: number, padding: number): OnnxValue {
    return this.g.op('MaxPool', [x], {
      kernel_shape: attr.ints([kernel, kernel]),
      strides: attr.ints([stride, stride]),
      pads: attr.ints([padding, padding, padding, padding]),
    });
  }

  /**
   * Resize (Operators.md#Resize) to `like`'s (H, W), read from the graph so the axes stay dynamic: mode nearest,
   * coordinate_transformation_mode asymmetric, nearest_mode floor, i.e. src = floor(dst · in / out) — what torch.onnx
   * writes for F.interpolate(mode='nearest', size=...) (symbolic_opset11.py, __interpolate_helper).
   */
  upsampleNearestLike(x: OnnxValue, like: OnnxValue): OnnxValue {
    const nc = this.g.op('Shape', [x], { start: attr.int(0), end: attr.int(2) });
    const hw = this.g.op('Shape', [like], { start: attr.int(2), end: attr.int(4) });
    const sizes = this.g.op('Concat', [nc, hw], { axis: attr.int(0) });
    return this.g.op('Resize', [x, '', '', sizes], {
      mode: attr.string('nearest'),
      coordinate_transformation_mode: attr.string('asymmetric'),
      nearest_mode: attr.string('floor'),
    });
  }

  /**
   * nn.GroupNorm as torch.onnx exports it below opset 18 (symbolic_opset9.py, group_norm): Reshape (N, C, H, W) to
   * (N, G, C/G·H·W), InstanceNormalization with unit scale and zero bias (each group normalised over its elements,
   * biased variance, eps inside the root), Reshape back, then the per-channel affine as Mul and Add.
   * Why not an ONNX GroupNormalization: opset 17 (the target) has none. Opset 18's, the first, takes scale
   * and bias per *group*, which cannot hold nn.GroupNorm's per-channel affine (deprecated for that in opset 21).
   * Opset 21's takes them per channel and onnxruntime 1.31 runs it (node and web; checked), but an opset 21 model
   * is unreadable by opset 17 tools — Debian's onnx 1.12 checker, onnxruntime before 1.20, TensorRT 8 — while this
   * decomposition runs wherever opset 17 does, at the same precision (InstanceNormalization is the same
   * mean / biased-variance / eps arithmetic).
   */
  groupNorm(x: OnnxValue, groups: number, weight: Float32Array, bias: Float32Array, eps: number): OnnxValue {
    const grouped = this.once(`gn_shape_${groups}`, () => this.g.i64([0, groups, -1], [3], 'gn_shape'));
    const ones = this.once(`gn_ones_${groups}`, () => this.g.f32(new Float32Array(groups).fill(1), [groups], 'gn_one'));
    const zeros = this.once(`gn_zeros_${groups}`, () => this.g.f32(new Float32Array(groups), [groups], 'gn_zero'));
    const r = this.g.op('Reshape', [x, grouped]);
    const norm = this.g.op('InstanceNormalization', [r, ones, zeros], { epsilon: attr.float(eps) });
    const back = this.g.op('Reshape', [norm, this.g.op('Shape', [x])]);
    const scaled = this.g.op('Mul', [back, this.channelVector(weight, 'gn_w')]);
    return this.g.op('Add', [scaled, this.channelVector(bias, 'gn_b')]);
  }

  /**
   * COP as the libtorch head computes it (im2col of each class map, sigmoid, times the sigmoid coefficients, mean
   * over the k² neighbours): each class map as a 1-channel image through a Conv with k² one-hot k×k kernels (zero
   * padding: a neighbour outside the map has logit 0, sigmoid 0.5) is nn.Unfold exactly (one product by 1, the rest
   * by 0). logits (N, C, H, W), coeff (N, k², H, W) -> (N, C, H, W).
   */
  copProbabilities(logits: OnnxValue, coeff: OnnxValue, k: number): OnnxValue {
    const kk = k * k;
    const r = (k - 1) / 2;
    const oneHot = this.once(`cop_unfold_${k}`, () => {
      const w = new Float32Array(kk * kk);
      for (let j = 0; j < kk; j++) w[j * kk + j] = 1;
      return this.g.f32(w, [kk, 1, k, k], 'cop_unfold');
    });
    const perClass = this.g.op('Reshape', [logits, this.once('cop_flat', () => this.g.i64([-1, 1, 0, 0]))]);
    const cols = this.g.op('Conv', [perClass, oneHot], {
      kernel_shape: attr.ints([k, k]),
      pads: attr.ints([r, r, r, r]),
    });
    const shape5 = this.g.op(
      'Concat',
      [
        this.g.op('Shape', [logits], { start: attr.int(0), end: attr.int(2) }),
        this.once(`cop_kk_${k}`, () => this.g.i64([kk])),
        this.g.op('Shape', [logits], { start: attr.int(2), end: attr.int(4) }),
      ],
      { axis: attr.int(0) },
    );
    const p = this.g.op('Sigmoid', [this.g.op('Reshape', [cols, shape5])]);
    const axis1 = this.once('axis_1', () => this.g.i64([1]));
    const c = this.g.op('Unsqueeze', [this.g.op('Sigmoid', [coeff]), axis1]);
    return this.g.op('ReduceMean', [this.g.op('Mul', [p, c])], { axes: attr.ints([2]), keepdims: attr.int(0) });
  }

  /** IOP: relu(σ(logits) - σ(bias)) · σ(obj); logits (N, C, H, W), obj and bias (N, 1, H, W) broadcast. */
  iopProbabilities(logits: OnnxValue, obj: OnnxValue, bias: OnnxValue): OnnxValue {
    const sig = (v: OnnxValue): OnnxValue => this.g.op('Sigmoid', [v]);
    const above = this.g.op('Relu', [this.g.op('Sub', [sig(logits), sig(bias)])]);
    return this.g.op('Mul', [above, sig(obj)]);
  }
}
