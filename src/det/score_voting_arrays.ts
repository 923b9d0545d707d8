// PAA score voting (mmdetection PAAHead.score_voting): each detection's box is replaced by the weighted mean of
// the pre-NMS candidate boxes of its class with score > scoreThr and IoU > iouThr with it (the detection itself
// included), weights exp(-(1 - IoU)^2 / sigma) · score. Scores are unchanged; the output is regrouped class by class
// (ascending class, detection order within a class), as upstream. Guarded where upstream crashes or divides 0/0:
// no detections -> empty output; a detection with no voting candidate keeps its box.
// Pure TypeScript over flat arrays (src/runtime uses it); score_voting.ts re-exports it next to the tensor form.
import { IOU_EPS, iouScalar } from './iou_scalar.js';

export interface ScoreVotingOptions {
  /** candidate score threshold (the NMS score threshold) */
  scoreThr?: number;
  /** candidates need IoU > iouThr with the detection */
  iouThr?: number;
  /** sigma_t of the PAA paper: weight exp(-(1-IoU)^2 / sigma) */
  sigma?: number;
}

export interface DetectionArrays {
  /** (K·4) x1y1x2y2 */
  boxes: Float32Array;
  /** (K) */
  scores: Float32Array;
  /** (K) class indices */
  labels: Int32Array;
}

/**
 * dets: K detections after NMS; candBoxes (N·4) and candScores (N·C, row-major) are the pre-NMS candidates with
 * their per-class NMS scores. Returns the voted detections, regrouped by class.
 */
export function scoreVotingArrays(
  dets: DetectionArrays,
  candBoxes: ArrayLike<number>,
  candScores: ArrayLike<number>,
  numClasses: number,
  opts: ScoreVotingOptions = {},
): DetectionArrays {
  const scoreThr = opts.scoreThr ?? 0.05;
  const iouThr = opts.iouThr ?? 0.01;
  const sigma = opts.sigma ?? 0.025;
  const k = dets.scores.length;
  const n = candBoxes.length / 4;
  if (!Number.isInteger(n))
    throw new Error(`scoreVoting: candidate boxes length ${candBoxes.length} is not a multiple of 4`);
  if (candScores.length !== n * numClasses) {
    throw new Error(`scoreVoting: candidate scores have ${candScores.length} entries, expected ${n}·${numClasses}`);
  }
  const out: DetectionArrays = {
    boxes: new Float32Array(k * 4),
    scores: new Float32Array(k),
    labels: new Int32Array(k),
  };
  if (k === 0) return out;
  let o = 0;
  for (let c = 0; c < numClasses; c++) {
    const detsOfClass: number[] = [];
    for (let d = 0; d < k; d++) if (dets.labels[d] === c) detsOfClass.push(d);
    if (detsOfClass.length === 0) continue;
    const cand: number[] = [];
    for (let i = 0; i < n; i++) if ((candScores[i * numClasses + c] as number) > scoreThr) cand.push(i);
    for (const d of detsOfClass) {
      const dx1 = dets.boxes[4 * d] as number;
      const dy1 = dets.boxes[4 * d + 1] as number;
      const dx2 = dets.boxes[4 * d + 2] as number;
      const dy2 = dets.boxes[4 * d + 3] as number;
      let sw = 0;
      let sx1 = 0;
      let sy1 = 0;
      let sx2 = 0;
      let sy2 = 0;
      for (const i of cand) {
        const bx1 = candBoxes[4 * i] as number;
        const by1 = candBoxes[4 * i + 1] as number;
        const bx2 = candBoxes[4 * i + 2] as number;
        const by2 = candBoxes[4 * i + 3] as number;
        const iou = iouScalar(dx1, dy1, dx2, dy2, bx1, by1, bx2, by2, IOU_EPS);
        if (!(iou > iouThr)) continue;
        const p = Math.exp(-((1 - iou) ** 2) / sigma) * (candScores[i * numClasses + c] as number);
        sw += p;
        sx1 += p * bx1;
        sy1 += p * by1;
        sx2 += p * bx2;
        sy2 += p * by2;
      }
      if (sw > 0) {
        out.boxes.set([sx1 / sw, sy1 / sw, sx2 / sw, sy2 / sw], 4 * o);
      } else {
        out.boxes.set([dx1, dy1, dx2, dy2], 4 * o);
      }
      out.scores[o] = dets.scores[d] as number;
      out.labels[o] = c;
      o++;
    }
  }
  if (o !== k) throw new Error(`scoreVoting: ${k - o} detections have a class outside 0..${numClasses - 1}`);
  return out;
}
