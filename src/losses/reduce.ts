// mmdetection's weight_reduce_loss: optional elementwise weight, then 'none' / 'sum' / 'mean', where 'mean' with an
// avgFactor means sum / avgFactor (the normalisers of the PAA losses: num_pos, sum of IoUs, ...).
import type { Tensor } from '../torch/index.js';

export type Reduction = 'none' | 'sum' | 'mean';

export interface ReduceOptions {
  /** Broadcast against the loss (callers shape it). */
  weight?: Tensor | null;
  /** Default 'mean'. */
  reduction?: Reduction;
  /** Only with reduction 'mean': the sum is divided by this instead of the element count. */
  avgFactor?: number | Tensor;
}

/** Applies weight and reduction to an elementwise loss; disposes `loss` (it is an intermediate of the caller). */
export function weightReduce(loss: Tensor, o: ReduceOptions, what: string): Tensor {
  const reduction = o.reduction ?? 'mean';
  if (o.avgFactor !== undefined && reduction !== 'mean') {
    throw new Error(`${what}: avgFactor can only be used with reduction 'mean' (got '${reduction}')`);
  }
  let l = loss;
  if (o.weight) {
    l = loss.mul(o.weight);
    loss.dispose();
  }
  if (reduction === 'none') return l;
  let out: Tensor;
  if (reduction === 'sum') out = l.sum();
  else if (o.avgFactor === undefined) out = l.mean();
  else {
    const s = l.sum();
    out = s.div(o.avgFactor);
    s.dispose();
  }
  l.dispose();
  return out;
}
