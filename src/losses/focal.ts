// Sigmoid focal loss (RetinaNet; mmdetection's FocalLoss with use_sigmoid): per (anchor, class) with p = sigmoid(z)
// and one-hot target t, FL = BCE(z, t) * [alpha t + (1 - alpha)(1 - t)] * pt^gamma, pt = (1 - p) t + p (1 - t).
import { type Tensor, arange, binaryCrossEntropyWithLogits, tidy } from '../torch/index.js';
import { weightReduce, type Reduction } from './reduce.js';

export interface FocalOptions {
  /** Default 2. */
  gamma?: number;
  /** Weight of the positive term (default 0.25); negatives get 1 - alpha. */
  alpha?: number;
}

export interface FocalLossOptions extends FocalOptions {
  /** Per anchor (N,) broadcast over classes, or per element (N, C); e.g. the label weights. */
  weight?: Tensor | null;
  /** Default 'mean'. */
  reduction?: Reduction;
  /** With 'mean': sum / avgFactor (PAA: max(num_pos, num_images)). */
  avgFactor?: number | Tensor;
}

/** labels (N,) in [0, C] (C = background) -> one-hot (N, C) of dtype, background rows all zero. */
export function oneHotTargets(labels: Tensor, numClasses: number, dtype: Tensor['dtype'], what: string): Tensor {
  if (labels.ndim !== 1 || (labels.dtype !== 'int64' && labels.dtype !== 'int32')) {
    throw new Error(
      `${what}: labels must be a 1-d int64/int32 tensor (got ${labels.dtype} [${labels.shape.join(', ')}])`,
    );
  }
  if (labels.numel > 0) {
    const lo = labels.min();
    const hi = labels.max();
    const [a, b] = [lo.item(), hi.item()];
    lo.dispose();
    hi.dispose();
    if (a < 0 || b > numClasses) {
      throw new RangeError(
        `${what}: labels must lie in [0, ${numClasses}] (${numClasses} = background), got ${a < 0 ? a : b}`,
      );
    }
  }
  const classes = arange(0, numClasses, 1, { dtype: labels.dtype, device: labels.device });
  const col = labels.unsqueeze(1);
  const hit = col.eq(classes);
  const t = hit.to(dtype);
  for (const x of [classes, col, hit]) x.dispose();
  return t;
}

function checkShapes(x: Tensor, labels: Tensor, what: string): void {
  if (x.ndim !== 2 || labels.ndim !== 1 || labels.dim(0) !== x.dim(0)) {
    throw new Error(
      `${what}: expected scores (N, C) and labels (N), got [${x.shape.join(', ')}] and [${labels.shape.join(', ')}]`,
    );
  }
}

/**
 * The focal modulation of an elementwise BCE: ce * (alpha t + (1 - alpha)(1 - t)) * pt^gamma, with p the
 * probabilities. Shared by the logit and the probability forms. Disposes ce.
 */
export function focalModulate(ce: Tensor, p: Tensor, t: Tensor, o: FocalOptions): Tensor {
  const gamma = o.gamma ?? 2;
  const alpha = o.alpha ?? 0.25;
  return tidy(() => {
    // pt = (1 - p) t + p (1 - t) = p + t (1 - 2p); alpha weight = (1 - alpha) + (2 alpha - 1) t
    const pt = p.add(t.mul(p.mul(-2).add(1)));
    const ptg = gamma === 2 ? pt.square() : pt.pow(gamma);
    const w = t
      .mul(2 * alpha - 1)
      .add(1 - alpha)
      .mul(ptg);
    const loss = ce.mul(w);
    ce.dispose();
    return loss;
  });
}

/**
 * logits (N, C), labels (N,) int in [0, C] (C = background) -> loss (N, C) for reduction 'none', else a scalar.
 * Gradients flow through both the BCE and the modulating factor, as mmdetection's.
 */
export function sigmoidFocalLoss(logits: Tensor, labels: Tensor, o: FocalLossOptions = {}): Tensor {
  const what = 'sigmoidFocalLoss';
  checkShapes(logits, labels, what);
  const t = oneHotTargets(labels, logits.dim(1), logits.dtype, what);
  const p = logits.sigmoid();
  const ce = binaryCrossEntropyWithLogits(logits, t, null, 'none');
  const loss = focalModulate(ce, p, t, o);
  p.dispose();
  t.dispose();
  const weight = o.weight && o.weight.ndim === 1 ? o.weight.unsqueeze(1) : (o.weight ?? null);
  const out = weightReduce(loss, { weight, reduction: o.reduction ?? 'mean', avgFactor: o.avgFactor }, what);
  if (weight && weight !== o.weight) weight.dispose();
  return out;
}

/**
 * The classification term of the PAA cost: focal loss summed over all C classes of each anchor (the negative-class
 * terms included), no weights. logits (N, C), labels (N,) -> (N,).
 */
export function sigmoidFocalLossPerAnchor(logits: Tensor, labels: Tensor, o: FocalOptions = {}): Tensor {
  const l = sigmoidFocalLoss(logits, labels, { ...o, reduction: 'none' });
  const s = l.sum(1);
  l.dispose();
  return s;
}
