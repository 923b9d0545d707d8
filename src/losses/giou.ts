// GIoU loss (mmdetection's GIoULoss): 1 - GIoU of aligned box pairs, GIoU = IoU - (E - U) / E with the union U and
// the enclosing area E clamped to >= eps (algorithms.md section 0). Boxes are (x1, y1, x2, y2), widths x2 - x1.
import { type Tensor, tidy } from '../torch/index.js';
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
  const ok = pred.ndim === 2 && pred.dim(1) === 4 && target.ndim === 2 && target.dim(1) === 4 && pred.dim(0) === target.dim(0);
  if (!ok) throw new Error(`${what}: expected two (n, 4) box tensors, got [${pred.shape.join(', ')}] and [${target.shape.join(', ')}]`);
}

/** GIoU of aligned pairs: pred (n, 4), target (n, 4) -> (n,), in [-1, 1]. */
export function alignedGiou(pred: Tensor, target: Tensor, eps = 1e-6): Tensor {
  checkBoxes(pred, target, 'alignedGiou');
  return tidy(() => {
    const area = (b: Tensor): Tensor => {
      const wh = b.narrow(1, 2, 2).sub(b.narrow(1, 0, 2));
      return wh.select(1, 0).mul(wh.select(1, 1));
    };
    const p1 = pred.narrow(1, 0, 2);
    const p2 = pred.narrow(1, 2, 2);
    const t1 = target.narrow(1, 0, 2);
    const t2 = target.narrow(1, 2, 2);
    const inter = p2.minimum(t2).sub(p1.maximum(t1)).clamp(0);
    const overlap = inter.select(1, 0).mul(inter.select(1, 1));
    const union = area(pred).add(area(target)).sub(overlap).clamp(eps);
    const encl = p2.maximum(t2).sub(p1.minimum(t1)).clamp(0);
    const enclose = encl.select(1, 0).mul(encl.select(1, 1)).clamp(eps);
    return overlap.div(union).sub(enclose.sub(union).div(enclose));
  });
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
