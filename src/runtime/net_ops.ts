// The operations a detector's forward pass is written in (NetOps), so one description of the architecture runs two
// ways: FMAP_OPS computes them on Float32Arrays (ladet/runtime's inference, one image), and the ONNX exporter
// (src/engine/onnx_ops.ts) records them as graph nodes over a batch. Network (network.ts) and the backbone kernels
// (backbones.ts) read the weights once and call only these; no other copy of the architecture exists.
import { add, groupNorm, maxPool2d, mulScalar, relu, sigmoidF32, upsampleNearest, type FMap } from './ops.js';
import { runConv, type Conv } from './weights.js';

/**
 * A feature-map value T: one image's (C, H, W) map for the runtime, a symbolic (N, C, H, W) tensor for the exporter.
 * Shapes below are per image.
 */
export interface NetOps<T> {
  /** x (C_in, H, W) -> (C_out, H', W'): the conv with its (possibly BN-folded) bias, stride and padding. */
  conv(c: Conv, x: T): T;
  /** max(x, 0). May overwrite x (the runtime's does, in place): pass a map the caller does not read again. */
  relu(x: T): T;
  /** A copy of x, for relu to overwrite where x is still needed. */
  copy(x: T): T;
  /** a + b, same shapes. */
  add(a: T, b: T): T;
  /** x · s (s rounded to float32 first, as libtorch's scalar). */
  mulScalar(x: T, s: number): T;
  /** nn.MaxPool2d (ceil_mode false). */
  maxPool2d(x: T, kernel: number, stride: number, padding: number): T;
  /** F.interpolate(x, size=like's (H, W), mode='nearest'): src = floor(dst · in / out). */
  upsampleNearestLike(x: T, like: T): T;
  /** nn.GroupNorm(groups, C, eps) with per-channel weight and bias (C). */
  groupNorm(x: T, groups: number, weight: Float32Array, bias: Float32Array, eps: number): T;
  /**
   * COP (src/models/heads/cop_head.ts): logits (C, H, W), coefficient logits (k², H, W) -> probabilities (C, H, W),
   * p_c(x) = mean_j σ(z_c(x + Δ_j)) · σ(o_j(x)), the logits zero-padded.
   */
  copProbabilities(logits: T, coeff: T, k: number): T;
  /** IOP (iop_head.ts): logits (C, H, W), obj and bias (1, H, W) -> relu(σ(z) - σ(b)) · σ(o), (C, H, W). */
  iopProbabilities(logits: T, obj: T, bias: T): T;
}

const f32 = Math.fround;

/** COP on one image, float32 steps as libtorch rounds them (Unfold, sigmoid, product, mean over the k² terms). */
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

/** IOP on one image. */
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

/** ladet/runtime's kernels (ops.ts) on one image's maps. */
export const FMAP_OPS: NetOps<FMap> = {
  conv: runConv,
  relu,
  copy: (x) => ({ ...x, data: x.data.slice() }),
  add,
  mulScalar,
  maxPool2d,
  upsampleNearestLike: (x, like) => upsampleNearest(x, like.h, like.w),
  groupNorm,
  copProbabilities,
  iopProbabilities,
};
