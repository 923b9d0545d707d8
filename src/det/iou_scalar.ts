// IoU of two boxes given as numbers, with mmdetection's bbox_overlaps conventions (see iou.ts): areas (x2-x1)(y2-y1)
// (no +1), intersection sides clamped at 0, union clamped below at eps. Pure TypeScript with no imports (src/runtime
// uses it); iou.ts re-exports it next to the tensor forms.

export const IOU_EPS = 1e-6;

/** IoU of two boxes given as x1,y1,x2,y2 numbers (same conventions), for loops over typed arrays. */
export function iouScalar(
  ax1: number,
  ay1: number,
  ax2: number,
  ay2: number,
  bx1: number,
  by1: number,
  bx2: number,
  by2: number,
  eps = IOU_EPS,
): number {
  const w = Math.min(ax2, bx2) - Math.max(ax1, bx1);
  const h = Math.min(ay2, by2) - Math.max(ay1, by1);
  const inter = (w > 0 ? w : 0) * (h > 0 ? h : 0);
  const union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
  return inter / Math.max(union, eps);
}
