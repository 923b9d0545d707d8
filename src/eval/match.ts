// Greedy matching of one image and one category, at every IoU threshold, in the reference's order:
// detections by descending score; each takes the best still-free ground truth with IoU >= threshold (a later
// ground truth wins an IoU tie); crowd ground truths may take any number of detections; once a detection holds a
// regular ground truth it never moves to an ignored one.

/**
 * Inputs:
 *  iou       [D * G] IoU of detection d (score order) with ground truth g (the run's file order)
 *  gtOrder   [G] the ground truths to try, regular ones first, then ignored ones (each group in file order)
 *  gtIgnore  [G] 1 where gtOrder[j] is ignored (crowd, or area outside the range); indexed by j
 *  gtCrowd   [G] 1 where gtOrder[j] is a crowd region; indexed by j
 *  dtOutside [D] 1 where the detection's own area (w*h) is outside the range
 *  thresholds [T] IoU thresholds, T <= 16 (all below 1, so the reference's cap at 1 - 1e-10 never applies)
 *  taken     [G] scratch
 * Outputs, bit t for threshold t, at tp[outFrom + d] / ig[outFrom + d]:
 *  tp: matched to a regular ground truth
 *  ig: ignored (matched to an ignored ground truth, or unmatched and outside the area range)
 */
export function matchImage(
  iou: Float64Array,
  D: number,
  G: number,
  gtOrder: Int32Array,
  gtIgnore: Uint8Array,
  gtCrowd: Uint8Array,
  dtOutside: Uint8Array,
  thresholds: Float64Array,
  taken: Uint8Array,
  tp: Uint16Array,
  ig: Uint16Array,
  outFrom: number,
): void {
  for (let d = 0; d < D; d++) {
    tp[outFrom + d] = 0;
    ig[outFrom + d] = 0;
  }
  const T = thresholds.length;
  for (let t = 0; t < T; t++) {
    const bit = 1 << t;
    taken.fill(0, 0, G);
    const thr = thresholds[t]!;
    for (let d = 0; d < D; d++) {
      let best = thr;
      let m = -1;
      const row = d * G;
      for (let j = 0; j < G; j++) {
        if (taken[j] === 1 && gtCrowd[j] === 0) continue;
        // Holding a regular ground truth, stop at the first ignored one.
        if (m > -1 && gtIgnore[m] === 0 && gtIgnore[j] === 1) break;
        const v = iou[row + gtOrder[j]!]!;
        if (v < best) continue;
        best = v;
        m = j;
      }
      if (m === -1) {
        if (dtOutside[d] === 1) ig[outFrom + d]! |= bit;
        continue;
      }
      taken[m] = 1;
      if (gtIgnore[m] === 1) ig[outFrom + d]! |= bit;
      else tp[outFrom + d]! |= bit;
    }
  }
}
