// GIoU loss (mmdetection's GIoULoss): 1 - GIoU of aligned box pairs, GIoU = IoU - (E - U) / E with the union U and
// the enclosing area E clamped to >= eps (algorithms.md section 0). Boxes are (x1, y1, x2, y2), widths x2 - x1.
import { type Tensor, tidy } from '../torch/index.js';
import { alignedGiou } from '../det/iou.js';
import { weightReduce, type Reduction } from './reduce.js';

export interface GIoULossOptions {
  /** (n,) per pair, or (n, 4) (averaged over the 4 coordinates, as mmdetection). */
  weight?: Tensor | null;
  /** Default 'mean'. */
  reduction?: Reduction;
  /** With 'mean': sum / avgFactor (PAA: the sum of the IoU targets). */
  avgFactor?: number | Tensor;
  /** Default 1e-6. */
  eps?: number;
}

function checkBoxes(pred: Tensor, target: Tensor, what: string): void {
  const ok =
    pred.ndim === 2 && pred.dim(1) === 4 && target.ndim === 2 && target.dim(1) === 4 && pred.dim(0) === target.dim(0);
  if (!ok)
    throw new Error(
      `${what}: expected two (n, 4) box tensors, got [${pred.shape.join(', ')}] and [${target.shape.join(', ')}]`,
    );
}

/**
 * 1 - GIoU(pred, target) with weights and reduction. pred, target (n, 4) -> (n,) for 'none', else a scalar.
 * As mmdetection: when a weight is given and none of it is positive, returns sum(pred * 0-weights) (a zero that
 * keeps pred in the graph) whatever the reduction.
 */
export function giouLoss(pred: Tensor, target: Tensor, o: GIoULossOptions = {}): Tensor {
  const what = 'giouLoss';
  checkBoxes(pred, target, what);
  let weight = o.weight ?? null;
  if (weight !== null) {
    const w = weight;
    if (!(w.ndim === 1 && w.dim(0) === pred.dim(0)) && !(w.ndim === 2 && w.dim(0) === pred.dim(0) && w.dim(1) === 4)) {
      throw new Error(`${what}: weight must be (n) or (n, 4) for ${pred.dim(0)} boxes, got [${w.shape.join(', ')}]`);
    }
    const anyPositive = tidy(() => w.gt(0).any().item()) === 1;
    if (!anyPositive) return tidy(() => pred.mul(w.ndim === 1 ? w.unsqueeze(1) : w).sum());
    if (w.ndim === 2) weight = w.mean(-1);
  }
  const g = alignedGiou(pred, target, o.eps ?? 1e-6);
  const loss = g.rsub(1);
  g.dispose();
  const out = weightReduce(loss, { weight, reduction: o.reduction ?? 'mean', avgFactor: o.avgFactor }, what);
  if (weight !== null && weight !== o.weight) weight.dispose();
  return out;
}
