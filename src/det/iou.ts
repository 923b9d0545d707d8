// Box overlaps with mmdetection's bbox_overlaps conventions: boxes x1y1x2y2, areas (x2-x1)(y2-y1) (no +1),
// intersection sides clamped at 0, union (and the enclosing area for GIoU) clamped below at eps = 1e-6.
import { Tensor, tidy } from '../torch/index.js';
import { IOU_EPS } from './iou_scalar.js';

export { IOU_EPS, iouScalar } from './iou_scalar.js';

function sides(b: Tensor): [Tensor, Tensor, Tensor, Tensor] {
  return [b.select(-1, 0), b.select(-1, 1), b.select(-1, 2), b.select(-1, 3)];
}

function area(b: Tensor): Tensor {
  const [x1, y1, x2, y2] = sides(b);
  return x2.sub(x1).mul(y2.sub(y1));
}

/** Intersection areas of a (..., 4) and b (..., 4), broadcasting. */
function intersection(a: Tensor, b: Tensor): Tensor {
  const [ax1, ay1, ax2, ay2] = sides(a);
  const [bx1, by1, bx2, by2] = sides(b);
  const w = ax2.minimum(bx2).sub(ax1.maximum(bx1)).clamp(0);
  const h = ay2.minimum(by2).sub(ay1.maximum(by1)).clamp(0);
  return w.mul(h);
}

/** Pairwise IoU: a (N, 4), b (M, 4) -> (N, M). */
export function boxIou(a: Tensor, b: Tensor, eps = IOU_EPS): Tensor {
  return tidy(() => {
    const a1 = a.unsqueeze(1);
    const b1 = b.unsqueeze(0);
    const inter = intersection(a1, b1);
    const union = area(a1).add(area(b1)).sub(inter).clamp(eps);
    return inter.div(union);
  });
}

/** Pairwise intersection over the area of a (IoF): a (N, 4), b (M, 4) -> (N, M). */
export function boxIof(a: Tensor, b: Tensor, eps = IOU_EPS): Tensor {
  return tidy(() => {
    const a1 = a.unsqueeze(1);
    const inter = intersection(a1, b.unsqueeze(0));
    return inter.div(area(a1).clamp(eps));
  });
}

/** Row-wise IoU of a (..., 4) and b (..., 4) -> (...). */
export function alignedIou(a: Tensor, b: Tensor, eps = IOU_EPS): Tensor {
  return tidy(() => {
    const inter = intersection(a, b);
    return inter.div(area(a).add(area(b)).sub(inter).clamp(eps));
  });
}

/** Row-wise generalised IoU of a (..., 4) and b (..., 4) -> (...): IoU - (E - U) / E, U and E clamped at eps. */
export function alignedGiou(a: Tensor, b: Tensor, eps = IOU_EPS): Tensor {
  return tidy(() => {
    const inter = intersection(a, b);
    const union = area(a).add(area(b)).sub(inter).clamp(eps);
    const [ax1, ay1, ax2, ay2] = sides(a);
    const [bx1, by1, bx2, by2] = sides(b);
    const ew = ax2.maximum(bx2).sub(ax1.minimum(bx1)).clamp(0);
    const eh = ay2.maximum(by2).sub(ay1.minimum(by1)).clamp(0);
    const enclose = ew.mul(eh).clamp(eps);
    return inter.div(union).sub(enclose.sub(union).div(enclose));
  });
}
