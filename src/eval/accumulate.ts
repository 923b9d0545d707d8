// Precision and recall of one category, area range and maxDets setting, from the matched detections of all images
// merged in score order: the reference's cumulative TP/FP counts, monotone precision envelope and left
// searchsorted over the recall thresholds.

/** The reference's np.spacing(1), added to the precision denominator. */
const EPS = Number.EPSILON;

/**
 * Inputs (n detections of one category, all images, sorted by descending score, ties by image then rank):
 *  rank    [n] position of the detection within its image's score order (kept only if rank < maxDet)
 *  tp, ig  [n] per-threshold bits from matchImage (bit t: true positive / ignored at threshold t)
 *  npig    number of non-ignored ground truths (> 0)
 *  T       thresholds; recThrs [R]
 *  rc, pr  [n] scratch
 * Outputs: q [T * R] precision at each recall threshold; rec [T] final recall.
 */
export function precisionRecall(
  rank: Int32Array, tp: Uint16Array, ig: Uint16Array, n: number, maxDet: number, npig: number,
  T: number, recThrs: Float64Array, rc: Float64Array, pr: Float64Array,
  q: Float64Array, rec: Float64Array,
): void {
  const R = recThrs.length;
  for (let t = 0; t < T; t++) {
    const bit = 1 << t;
    let ntp = 0;
    let nfp = 0;
    let len = 0;
    // Ignored detections leave both counts unchanged, so dropping them changes no precision the thresholds read.
    for (let i = 0; i < n; i++) {
      if (rank[i]! >= maxDet || (ig[i]! & bit) !== 0) continue;
      if ((tp[i]! & bit) !== 0) ntp++;
      else nfp++;
      rc[len] = ntp / npig;
      pr[len] = ntp / (nfp + ntp + EPS);
      len++;
    }
    rec[t] = ntp / npig;
    for (let i = len - 1; i > 0; i--) if (pr[i]! > pr[i - 1]!) pr[i - 1] = pr[i]!;
    const base = t * R;
    let j = 0;
    for (let r = 0; r < R; r++) {
      const thr = recThrs[r]!;
      while (j < len && rc[j]! < thr) j++;
      q[base + r] = j < len ? pr[j]! : 0;
    }
  }
}
