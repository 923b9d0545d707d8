// Free functions over several tensors and the neural-network kernels (torch.nn.functional counterparts).
import { Tensor, defOp, wrap, wrapAll, type Scalar, type Shape } from './tensor.js';
import { isGradEnabled } from './autograd.js';

const op = {
  cat: defOp('aten::cat'),
  stack: defOp('aten::stack'),
  where: defOp('aten::where', 'self'),
  whereS: defOp('aten::where', 'ScalarOther'),
  meshgrid: defOp('aten::meshgrid', 'indexing'),
  conv2d: defOp('aten::conv2d'),
  maxPool2d: defOp('aten::max_pool2d'),
  contiguous: defOp('aten::contiguous'),
  upsampleNearest2d: defOp('aten::upsample_nearest2d', 'vec'),
  groupNorm: defOp('aten::group_norm'),
  batchNorm: defOp('aten::batch_norm'),
  linear: defOp('aten::linear'),
  bceWithLogits: defOp('aten::binary_cross_entropy_with_logits'),
  bce: defOp('aten::binary_cross_entropy'),
  softmax: defOp('aten::softmax', 'int'),
  logSoftmax: defOp('aten::log_softmax', 'int'),
  im2col: defOp('aten::im2col'),
  constantPad: defOp('aten::constant_pad_nd'),
  adaptiveAvgPool2d: defOp('aten::adaptive_avg_pool2d'),
  ampUnscale: defOp('aten::_amp_foreach_non_finite_check_and_unscale_'),
  foreachAdd: defOp('aten::_foreach_add', 'List'),
  foreachAdd_: defOp('aten::_foreach_add_', 'List'),
  foreachMul_: defOp('aten::_foreach_mul_', 'Scalar'),
  foreachNeg: defOp('aten::_foreach_neg'),
  crossEntropy: defOp('aten::cross_entropy_loss'),
};

export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  return wrap(op.cat(tensors, dim));
}

export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  return wrap(op.stack(tensors, dim));
}

/** Elementwise cond ? a : b. */
export function where(cond: Tensor, a: Tensor, b: Tensor | Scalar): Tensor {
  return wrap(b instanceof Tensor ? op.where(cond, a, b) : op.whereS(cond, a, b));
}

/** Coordinate grids; 'ij' indexing (matrix) or 'xy' (Cartesian). */
export function meshgrid(tensors: readonly Tensor[], indexing: 'ij' | 'xy' = 'ij'): Tensor[] {
  return wrapAll(op.meshgrid(tensors, indexing));
}

export interface Conv2dOptions {
  stride?: number | readonly [number, number];
  padding?: number | readonly [number, number];
  dilation?: number | readonly [number, number];
  groups?: number;
}

/** x (N,Cin,H,W), weight (Cout,Cin/groups,kh,kw), bias (Cout) or null. */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, o: Conv2dOptions = {}): Tensor {
  return wrap(op.conv2d(x, weight, bias, o.stride ?? 1, o.padding ?? 0, o.dilation ?? 1, o.groups ?? 1));
}

// c10::MemoryFormat codes
const CONTIGUOUS = 0;
const CHANNELS_LAST = 2;

export function maxPool2d(
  x: Tensor,
  kernel: number | readonly [number, number],
  stride?: number | readonly [number, number],
  padding: number | readonly [number, number] = 0,
  ceilMode = false,
): Tensor {
  const k = typeof kernel === 'number' ? [kernel, kernel] : kernel;
  if (x.ndim !== 4 || (k[0] === 1 && k[1] === 1) || (x.requiresGrad && isGradEnabled())) {
    return wrap(op.maxPool2d(x, kernel, stride ?? kernel, padding, 1, ceilMode));
  }
  // Without autograd (inference, a LAD teacher): libtorch 1.13's max-pool kernel is scalar for NCHW tensors and
  // vectorised for channels-last ones: the ResNet stem's 3x3/2 pool of a (16,16,80,80) batch took 12 ms in NCHW and
  // 2.2 ms through channels-last and back, fp32 and bf16 alike (the mini preset's eval forward: 51 -> 42 ms). With
  // autograd the extra copies' backward ate the gain in the training step, so training keeps NCHW. Same maxima,
  // same argmax (the first in the window).
  const cl = wrap(op.contiguous(x, CHANNELS_LAST));
  const pooled = wrap(op.maxPool2d(cl, kernel, stride ?? kernel, padding, 1, ceilMode));
  cl.dispose();
  const out = wrap(op.contiguous(pooled, CONTIGUOUS));
  pooled.dispose();
  return out;
}

/** Nearest-neighbour resize of (N,C,H,W) to size [h, w] or by a scale factor (PyTorch's legacy 'nearest'). */
export function interpolateNearest(x: Tensor, size: readonly [number, number] | null, scale?: number): Tensor {
  if (size !== null) return wrap(op.upsampleNearest2d(x, size, null));
  if (scale === undefined) throw new TypeError('interpolateNearest: give a size or a scale factor');
  return wrap(op.upsampleNearest2d(x, null, [scale, scale]));
}

export function groupNorm(x: Tensor, groups: number, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  return wrap(op.groupNorm(x, groups, weight, bias, eps, true));
}

/**
 * Batch norm. In training mode the batch statistics are used and, when running buffers are given, updated
 * in place with `momentum`; in eval mode the running statistics are used.
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  training: boolean,
  momentum = 0.1,
  eps = 1e-5,
): Tensor {
  return wrap(op.batchNorm(x, weight, bias, runningMean, runningVar, training, momentum, eps, true));
}

export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  return wrap(op.linear(x, weight, bias));
}

export type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };

/** BCE on logits, numerically stable; weight broadcasts over elements. */
export function binaryCrossEntropyWithLogits(
  logits: Tensor,
  target: Tensor,
  weight: Tensor | null = null,
  reduction: Reduction = 'mean',
): Tensor {
  return wrap(op.bceWithLogits(logits, target, weight, null, REDUCTION[reduction]));
}

/** BCE on probabilities (log clamped at -100, as PyTorch). */
export function binaryCrossEntropy(
  p: Tensor,
  target: Tensor,
  weight: Tensor | null = null,
  reduction: Reduction = 'mean',
): Tensor {
  return wrap(op.bce(p, target, weight, REDUCTION[reduction]));
}

export function crossEntropy(logits: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  return wrap(op.crossEntropy(logits, target, null, REDUCTION[reduction], -100, 0));
}

export function softmax(x: Tensor, dim: number): Tensor {
  return wrap(op.softmax(x, dim, null));
}

export function logSoftmax(x: Tensor, dim: number): Tensor {
  return wrap(op.logSoftmax(x, dim, null));
}

/** nn.Unfold: (N,C,H,W) -> (N, C*kh*kw, L) sliding blocks. */
export function im2col(
  x: Tensor,
  kernel: number | readonly [number, number],
  dilation: number | readonly [number, number] = 1,
  padding: number | readonly [number, number] = 0,
  stride: number | readonly [number, number] = 1,
): Tensor {
  return wrap(op.im2col(x, kernel, dilation, padding, stride));
}

/** Constant padding; pad lists (left, right) pairs from the last dimension backwards, as F.pad. */
export function pad(x: Tensor, padding: Shape, value = 0): Tensor {
  return wrap(op.constantPad(x, padding, value));
}

export function adaptiveAvgPool2d(x: Tensor, size: readonly [number, number]): Tensor {
  return wrap(op.adaptiveAvgPool2d(x, size));
}

/**
 * CUDA's fused unscale of torch.amp.GradScaler: every tensor of `grads` (same device and dtype) multiplied in place by
 * `invScale` (1-element float32), and `foundInf` (1-element float32) set to 1 when any element was not finite. One
 * kernel for all; libtorch 1.13 has it for CUDA only (src/optim/grad_scaler.ts falls back to plain ops elsewhere).
 */
export function ampUnscale_(grads: readonly Tensor[], foundInf: Tensor, invScale: Tensor): void {
  op.ampUnscale(grads, foundInf, invScale);
}

// Multi-tensor ("foreach") ops: one call for a list of tensors, as torch.optim's foreach implementations use. On
// CUDA one fused kernel launch per op and chunk of tensors; on the CPU libtorch loops over the per-tensor kernels, so
// results are bitwise those of the per-tensor ops, and what is saved is the calls from JS.

/** a[i] + alpha * b[i] for each i (new tensors). */
export function foreachAdd(a: readonly Tensor[], b: readonly Tensor[], alpha = 1): Tensor[] {
  return wrapAll(op.foreachAdd(a, b, alpha));
}

/** a[i] += alpha * b[i] in place for each i. */
export function foreachAdd_(a: readonly Tensor[], b: readonly Tensor[], alpha = 1): void {
  op.foreachAdd_(a, b, alpha);
}

/** a[i] *= s in place for each i. */
export function foreachMul_(a: readonly Tensor[], s: number): void {
  op.foreachMul_(a, s);
}

/** -a[i] for each i (new tensors). */
export function foreachNeg(a: readonly Tensor[]): Tensor[] {
  return wrapAll(op.foreachNeg(a));
}
