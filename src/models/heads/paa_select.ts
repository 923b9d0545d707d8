// The array half of PAA inference (see paa_inference.ts), in pure TypeScript so it runs without the native addon
// (src/runtime): from the per-level candidates — decoded boxes and per-class scores of the anchors kept by nmsPre —
// to the final detections: (anchor, class) pairs with score > scoreThr, class-aware NMS, the maxPerImg best, optional
// score voting, boxes mapped back to the original image.
import { nmsArrays } from '../../det/nms_arrays.js';
import { scoreVotingArrays, type DetectionArrays } from '../../det/score_voting_arrays.js';
import { mapBoxesBack, type ImageMeta } from '../../data/transforms.js';

export interface InferenceConfig {
  /** anchors kept per level before NMS (by max class score); <= 0 keeps all */
  nmsPre: number;
  scoreThr: number;
  nmsIou: number;
  maxPerImg: number;
  scoreVoting: boolean;
}

export const PAA_TEST_CFG: InferenceConfig = {
  nmsPre: 1000,
  scoreThr: 0.05,
  nmsIou: 0.6,
  maxPerImg: 100,
  scoreVoting: true,
};

/** One image's detections: boxes (K·4) x1,y1,x2,y2 in original image pixels, scores (K), contiguous labels (K). */
export interface DetectionsOnImage {
  boxes: Float64Array;
  scores: Float32Array;
  labels: Int32Array;
}

/**
 * candBoxes (N·4) x1y1x2y2 in network-input pixels and candScores (N·C, row-major) of the N candidate anchors of one
 * image (levels concatenated, each level in its nmsPre order) -> the image's detections. NMS visits equal scores in
 * candidate order, and score voting uses every candidate (not only those above scoreThr of the kept class).
 */
export function selectDetections(
  candBoxes: Float32Array,
  candScores: Float32Array,
  numClasses: number,
  meta: ImageMeta,
  cfg: InferenceConfig,
): DetectionsOnImage {
  if (candScores.length * 4 !== candBoxes.length * numClasses) {
    throw new Error(
      `selectDetections: ${candBoxes.length / 4} candidate boxes but ${candScores.length} scores for ${numClasses} classes`,
    );
  }
  // (anchor, class) candidates above the threshold
  const idx: number[] = [];
  const cls: number[] = [];
  const sc: number[] = [];
  for (let k = 0; k < candScores.length; k++) {
    const v = candScores[k] as number;
    if (v > cfg.scoreThr) {
      idx.push(Math.floor(k / numClasses));
      cls.push(k % numClasses);
      sc.push(v);
    }
  }
  const candB = new Float32Array(idx.length * 4);
  idx.forEach((n, j) => candB.set(candBoxes.subarray(4 * n, 4 * n + 4), 4 * j));
  const kept = nmsArrays(candB, sc, cls, cfg.nmsIou).subarray(0, cfg.maxPerImg);
  let dets: DetectionArrays = {
    boxes: new Float32Array(kept.length * 4),
    scores: new Float32Array(kept.length),
    labels: new Int32Array(kept.length),
  };
  kept.forEach((k, j) => {
    dets.boxes.set(candB.subarray(4 * k, 4 * k + 4), 4 * j);
    dets.scores[j] = sc[k] as number;
    dets.labels[j] = cls[k] as number;
  });
  if (cfg.scoreVoting && kept.length > 0) {
    dets = scoreVotingArrays(dets, candBoxes, candScores, numClasses, { scoreThr: cfg.scoreThr });
  }
  return { boxes: mapBoxesBack(dets.boxes, meta), scores: dets.scores, labels: dets.labels };
}
