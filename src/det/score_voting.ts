// PAA score voting on tensors. The algorithm (mmdetection PAAHead.score_voting) lives in score_voting_arrays.ts, in
// pure TypeScript over flat arrays, re-exported here.
import { Tensor, tensor } from '../torch/index.js';
import { scoreVotingArrays, type ScoreVotingOptions } from './score_voting_arrays.js';

export { scoreVotingArrays, type DetectionArrays, type ScoreVotingOptions } from './score_voting_arrays.js';

export interface Detections {
  /** (K, 4) float32 */
  boxes: Tensor;
  /** (K) float32 */
  scores: Tensor;
  /** (K) int64 */
  labels: Tensor;
}

/**
 * Tensor form: dets boxes (K, 4), scores (K), labels (K); candBoxes (N, 4); candScores (N, C) per-class NMS scores.
 * Returns new tensors on the boxes' device.
 */
export function scoreVoting(
  dets: Detections,
  candBoxes: Tensor,
  candScores: Tensor,
  opts: ScoreVotingOptions = {},
): Detections {
  if (candScores.ndim !== 2)
    throw new Error(`scoreVoting: candidate scores must be (N, C), got [${candScores.shape.join(', ')}]`);
  const numClasses = candScores.dim(1);
  const f32 = (t: Tensor): Float32Array => {
    const f = t.to('float32');
    const a = f.toTypedArray<'float32'>();
    f.dispose();
    return a;
  };
  const voted = scoreVotingArrays(
    { boxes: f32(dets.boxes), scores: f32(dets.scores), labels: Int32Array.from(dets.labels.toArray()) },
    f32(candBoxes),
    f32(candScores),
    numClasses,
    opts,
  );
  const device = dets.boxes.device;
  const k = voted.scores.length;
  return {
    boxes: tensor(voted.boxes, [k, 4], { device }),
    scores: tensor(voted.scores, [k], { device }),
    labels: tensor(
      BigInt64Array.from(voted.labels, (x) => BigInt(x)),
      [k],
      { device },
    ),
  };
}
