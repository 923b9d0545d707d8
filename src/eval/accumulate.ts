// Precision and recall of one category, area range and maxDets setting, from the matched detections of all images
// merged in score order: the reference's cumulative TP/FP counts, monotone precision envelope and left
// searchsorted over the recall thresholds.
//
// Precision is computed only at true positives. That gives the same numbers: recall grows only at a TP, so the
// first position reaching a recall threshold > 0 is a TP; precision falls at every FP, so the maximum over any
// suffix that starts at a TP is reached at a TP; and at threshold 0 the reference reads the maximum over all
// positions, which is 0 when there is no TP. Ignored detections change neither count and are skipped.

/** The reference's np.spacing(1), added to the precision denominator. */
const EPS = Number.EPSILON;

/**
 * Inputs (n detections of one category, all images, sorted by descending score, ties by image then rank):
 *  rank    [n] position of the detection within its image's score order (kept only if rank < maxDet)
 *  tp, ig  [n] per-threshold bits from matchImage (bit t: true positive / ignored at threshold t)
 *  npig    number of non-ignored ground truths (> 0)
 *  T       thresholds (<= 16); recThrs [R]
 *  prAtTp  [T * npig] scratch: precision at the i-th TP of threshold t
 *  nfp, ntp [T] scratch
 * Outputs: q [T * R] precision at each recall threshold; rec [T] final recall.
 */
export function precisionRecall(
  rank: Int32Array,
  tp: Uint16Array,
  ig: Uint16Array,
  n: number,
  maxDet: number,
  npig: number,
  T: number,
  recThrs: Float64Array,
  prAtTp: Float64Array,
  nfp: Int32Array,
  ntp: Int32Array,
  q: Float64Array,
  rec: Float64Array,
): void {
  const all = (1 << T) - 1;
  nfp.fill(0, 0, T);
  ntp.fill(0, 0, T);
  // False positives at every threshold (the common case) are counted once for all.
  let fpAll = 0;
  for (let i = 0; i < n; i++) {
    if (rank[i]! >= maxDet) continue;
    const tb = tp[i]!;
    const ib = ig[i]!;
    if (tb === 0) {
      if (ib === 0) {
        fpAll++;
        continue;
      }
      if (ib === all) continue;
    }
    for (let t = 0; t < T; t++) {
      const bit = 1 << t;
      if ((ib & bit) !== 0) continue;
      if ((tb & bit) !== 0) {
        const k = ++ntp[t]!;
        prAtTp[t * npig + k - 1] = k / (nfp[t]! + fpAll + k + EPS);
      } else {
        nfp[t]!++;
      }
    }
  }
  const R = recThrs.length;
  for (let t = 0; t < T; t++) {
    const len = ntp[t]!;
    const base = t * npig;
    rec[t] = len / npig;
    for (let i = len - 1; i > 0; i--)
      if (prAtTp[base + i]! > prAtTp[base + i - 1]!) prAtTp[base + i - 1] = prAtTp[base + i]!;
    // Recall at the i-th TP is (i + 1) / npig; read the envelope at the first one reaching each threshold.
    let j = 0;
    for (let r = 0; r < R; r++) {
      const thr = recThrs[r]!;
      while (j < len && (j + 1) / npig < thr) j++;
      q[t * R + r] = j < len ? prAtTp[base + j]! : 0;
    }
  }
}
