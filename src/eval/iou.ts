// Box IoU as the reference computes it for bbox evaluation, with the same float steps so equal inputs give
// bit-equal IoUs (an IoU of exactly 0.5 must compare the same way against the 0.5 threshold).

/**
 * IoU of detection box d = (dx, dy, dw, dh) with ground-truth box g (x, y, w, h).
 * For a crowd ground truth the union is the detection's own area: a detection inside a crowd region scores 1.
 */
export function boxIou(
  dx: number,
  dy: number,
  dw: number,
  dh: number,
  gx: number,
  gy: number,
  gw: number,
  gh: number,
  crowd: boolean,
): number {
  const w = Math.min(dw + dx, gw + gx) - Math.max(dx, gx);
  if (w <= 0) return 0;
  const h = Math.min(dh + dy, gh + gy) - Math.max(dy, gy);
  if (h <= 0) return 0;
  const inter = w * h;
  const da = dw * dh;
  return inter / (crowd ? da : da + gw * gh - inter);
}

/**
 * Fills out[d * G + g] with the IoU of D detections and G ground truths.
 *  dtBoxes / gtBoxes  [*, 4] x, y, w, h rows
 *  dtRows [dtFrom .. dtFrom + D)  rows of dtBoxes, in order d
 *  gtRows [gtFrom .. gtFrom + G)  rows of gtBoxes, in order g; gtCrowd is indexed by those rows
 */
export function iouMatrix(
  dtBoxes: Float64Array,
  dtRows: Int32Array,
  dtFrom: number,
  D: number,
  gtBoxes: Float64Array,
  gtRows: Int32Array,
  gtFrom: number,
  G: number,
  gtCrowd: Uint8Array,
  out: Float64Array,
): void {
  for (let d = 0; d < D; d++) {
    const o = dtRows[dtFrom + d]! * 4;
    const dx = dtBoxes[o]!,
      dy = dtBoxes[o + 1]!,
      dw = dtBoxes[o + 2]!,
      dh = dtBoxes[o + 3]!;
    for (let g = 0; g < G; g++) {
      const row = gtRows[gtFrom + g]!;
      const q = row * 4;
      out[d * G + g] = boxIou(
        dx,
        dy,
        dw,
        dh,
        gtBoxes[q]!,
        gtBoxes[q + 1]!,
        gtBoxes[q + 2]!,
        gtBoxes[q + 3]!,
        gtCrowd[row] === 1,
      );
    }
  }
}
