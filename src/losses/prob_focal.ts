// Focal loss on probabilities (ccdet's ProbFocalLoss, for heads that output probabilities: COP / IOP): the same
// alpha / gamma modulation over BCE(p, t) whose logs are clamped at -100 as PyTorch's binary_cross_entropy.
import { type Tensor, binaryCrossEntropy } from '../torch/index.js';
import { focalModulate, oneHotTargets, type FocalLossOptions, type FocalOptions } from './focal.js';
import { weightReduce } from './reduce.js';

/** probs (N, C) in [0, 1], labels (N,) in [0, C] (C = background) -> (N, C) for 'none', else a scalar. */
export function probFocalLoss(probs: Tensor, labels: Tensor, o: FocalLossOptions = {}): Tensor {
  const what = 'probFocalLoss';
  if (probs.ndim !== 2 || labels.ndim !== 1 || labels.dim(0) !== probs.dim(0)) {
    throw new Error(
      `${what}: expected probs (N, C) and labels (N), got [${probs.shape.join(', ')}] and [${labels.shape.join(', ')}]`,
    );
  }
  const t = oneHotTargets(labels, probs.dim(1), probs.dtype, what);
  const ce = binaryCrossEntropy(probs, t, null, 'none');
  const loss = focalModulate(ce, probs, t, o);
  t.dispose();
  const weight = o.weight && o.weight.ndim === 1 ? o.weight.unsqueeze(1) : (o.weight ?? null);
  const out = weightReduce(loss, { weight, reduction: o.reduction ?? 'mean', avgFactor: o.avgFactor }, what);
  if (weight && weight !== o.weight) weight.dispose();
  return out;
}

/** Per-anchor sum over classes of the probability focal loss (the COP/IOP form of the PAA cost): (N,). */
export function probFocalLossPerAnchor(probs: Tensor, labels: Tensor, o: FocalOptions = {}): Tensor {
  const l = probFocalLoss(probs, labels, { ...o, reduction: 'none' });
  const s = l.sum(1);
  l.dispose();
  return s;
}
