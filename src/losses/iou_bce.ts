// Loss of PAA's IoU branch (mmdetection's CrossEntropyLoss with use_sigmoid): BCE-with-logits of the predicted IoU
// logit against the soft target IoU(decoded prediction, GT) in [0, 1].
import { type Tensor, binaryCrossEntropyWithLogits } from '../torch/index.js';
import { weightReduce, type Reduction } from './reduce.js';

export interface IoUBceOptions {
  weight?: Tensor | null;
  /** Default 'mean'. */
  reduction?: Reduction;
  /** With 'mean': sum / avgFactor (PAA: num_pos). */
  avgFactor?: number | Tensor;
}

/** logits (n,), target (n,) in [0, 1] -> (n,) for 'none', else a scalar. */
export function iouBceLoss(logits: Tensor, target: Tensor, o: IoUBceOptions = {}): Tensor {
  const what = 'iouBceLoss';
  const a = logits.shape;
  const b = target.shape;
  if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
    throw new Error(`${what}: logits [${a.join(', ')}] and target [${b.join(', ')}] must have the same shape`);
  }
  const loss = binaryCrossEntropyWithLogits(logits, target, null, 'none');
  return weightReduce(
    loss,
    { weight: o.weight ?? null, reduction: o.reduction ?? 'mean', avgFactor: o.avgFactor },
    what,
  );
}
