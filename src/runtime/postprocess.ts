// PAA post-processing in pure TypeScript (no Node APIs, no native addon): from one image's head outputs to its
// detections in original image pixels, the same steps as predictBatch (src/models/heads/paa_inference.ts) on the
// same numbers — anchors, score = sqrt(p · sigmoid(iou)) (or p), per-level top nmsPre, DeltaXYWH decode clipped to the
// image, then selectDetections (threshold, class-aware NMS, maxPerImg, score voting, mapping back), which both share.
// The float32 steps are rounded op by op as libtorch computes them on float32 tensors; only exp (in sigmoid and the
// decode) can round differently, by 1 ulp.
// test/runtime/postprocess.test.ts checks the result against predictBatch and that no import reaches node:* or torch.
import { AnchorGrid, type AnchorConfig } from '../det/anchor_grid.js';
import { decodeDeltasArray, deltaXYWHParams, type DeltaXYWHParams } from '../det/box_coder_arrays.js';
import { selectDetections, type DetectionsOnImage, type InferenceConfig } from '../models/heads/paa_select.js';
import type { ImageMeta } from '../data/transforms.js';
import { sigmoidF32 } from './ops.js';

export type { DetectionsOnImage, InferenceConfig };

/** One level's head outputs for one image, CHW row-major Float32Arrays. */
export interface LevelOutputs {
  /** (A·C, h, w): class logits (or probabilities); channel a·C + c is anchor a's class c */
  cls: Float32Array;
  /** (A·4, h, w): box deltas dx, dy, dw, dh of anchor a at channels 4a..4a+3 */
  reg: Float32Array;
  /** (A, h, w): IoU logits, or null for a head without the IoU branch */
  iou: Float32Array | null;
  h: number;
  w: number;
}

/**
 * The anchor settings, as ladet's AnchorGenerator takes them (AnchorConfig of src/det/anchor_grid.ts): strides
 * (finest first), ratios (h/w), octaveBaseScale + scalesPerOctave (or explicit scales), optional baseSizes and
 * centerOffset. Plain JSON, so a runtime model file can carry it (ladet export writes anchorConfig(model) of
 * src/build/model.ts).
 */
export type AnchorSpec = AnchorConfig;

/** Anchors of each level for feature maps of the given [h, w] sizes: per level (h·w·A·4) float32, in head order. */
export function levelAnchors(spec: AnchorSpec, sizes: readonly (readonly [number, number])[]): Float32Array[] {
  const grid = new AnchorGrid(spec);
  const all = grid.gridAnchorsArray(sizes);
  const starts = grid.levelStarts(sizes);
  return sizes.map((_, l) => all.subarray(4 * (starts[l] as number), 4 * (starts[l + 1] as number)));
}

const f32 = Math.fround;

/**
 * Scores of one level: (h·w·A, C) row-major float32, row (y·w + x)·A + a (the anchors' order), each
 * sqrt(p · sigmoid(iou)) with the IoU branch and p without, p = sigmoid(cls) for logits, cls itself for probs.
 */
function levelScores(
  lv: LevelOutputs,
  numAnchors: number,
  numClasses: number,
  clsKind: 'logits' | 'probs',
): Float32Array {
  const hw = lv.h * lv.w;
  const out = new Float32Array(hw * numAnchors * numClasses);
  let k = 0;
  for (let p = 0; p < hw; p++) {
    for (let a = 0; a < numAnchors; a++) {
      const q = lv.iou === null ? 1 : sigmoidF32(lv.iou[a * hw + p] as number);
      for (let c = 0; c < numClasses; c++) {
        const v = lv.cls[(a * numClasses + c) * hw + p] as number;
        const prob = clsKind === 'probs' ? v : sigmoidF32(v);
        out[k++] = lv.iou === null ? prob : f32(Math.sqrt(f32(prob * q)));
      }
    }
  }
  return out;
}

/**
 * The rows of an (n, C) score matrix that nmsPre keeps, in topk's order: the nmsPre highest max-class scores,
 * descending (equal scores by row index), or every row in order when nmsPre <= 0 or n <= nmsPre.
 */
function topRows(scores: Float32Array, n: number, numClasses: number, nmsPre: number): Int32Array {
  const rows = Int32Array.from({ length: n }, (_, r) => r);
  if (!(nmsPre > 0 && n > nmsPre)) return rows;
  const best = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    let m = -Infinity;
    for (let c = 0; c < numClasses; c++) m = Math.max(m, scores[r * numClasses + c] as number);
    best[r] = m;
  }
  rows.sort((a, b) => (best[b] as number) - (best[a] as number) || a - b);
  return rows.slice(0, nmsPre);
}

/**
 * levels: the head outputs of one image, finest level first, on the padded network input; anchors: the spec they
 * were trained with (one level per stride, A = ratios × scales anchors per location); meta: the image's resize and
 * padding (boxes are clipped to meta.imgShape, then mapped back to meta.oriShape); numClasses: C.
 * Returns boxes (K·4) x1,y1,x2,y2 in original image pixels, scores (K), labels (K) in 0..C-1, ordered as predictBatch
 * orders them (by class when score voting, by decreasing score otherwise).
 */
export function detectFromOutputs(
  levels: readonly LevelOutputs[],
  anchors: AnchorSpec,
  meta: ImageMeta,
  numClasses: number,
  cfg: InferenceConfig,
  clsKind: 'logits' | 'probs',
  coder: DeltaXYWHParams = deltaXYWHParams(),
): DetectionsOnImage {
  const grid = new AnchorGrid(anchors);
  if (levels.length !== grid.numLevels) {
    throw new Error(`detectFromOutputs: ${levels.length} levels of outputs for ${grid.numLevels} anchor strides`);
  }
  const numAnchors = grid.numBaseAnchors;
  const perLevel = levelAnchors(
    anchors,
    levels.map((lv) => [lv.h, lv.w] as const),
  );
  const boxParts: Float32Array[] = [];
  const scoreParts: Float32Array[] = [];
  levels.forEach((lv, l) => {
    const hw = lv.h * lv.w;
    const n = hw * numAnchors;
    if (lv.cls.length !== n * numClasses || lv.reg.length !== n * 4 || (lv.iou !== null && lv.iou.length !== n)) {
      throw new Error(
        `detectFromOutputs: level ${l} (${lv.h}x${lv.w}, ${numAnchors} anchors, ${numClasses} classes) needs cls ${n * numClasses}, ` +
          `reg ${n * 4}, iou ${n} values; got ${lv.cls.length}, ${lv.reg.length}, ${lv.iou?.length ?? 'none'}`,
      );
    }
    if ((levels[0]?.iou === null) !== (lv.iou === null))
      throw new Error('detectFromOutputs: some levels have an IoU output and some not');
    const scores = levelScores(lv, numAnchors, numClasses, clsKind);
    const rows = topRows(scores, n, numClasses, cfg.nmsPre);
    const levelAnchorRows = perLevel[l] as Float32Array;
    const a = new Float32Array(rows.length * 4);
    const d = new Float32Array(rows.length * 4);
    const s = new Float32Array(rows.length * numClasses);
    rows.forEach((r, j) => {
      a.set(levelAnchorRows.subarray(4 * r, 4 * r + 4), 4 * j);
      // row r = p·A + anchor; the deltas of that anchor are channels 4·anchor .. 4·anchor+3 at location p
      const p = Math.floor(r / numAnchors);
      const an = r - p * numAnchors;
      for (let k = 0; k < 4; k++) d[4 * j + k] = lv.reg[(4 * an + k) * hw + p] as number;
      s.set(scores.subarray(r * numClasses, (r + 1) * numClasses), j * numClasses);
    });
    boxParts.push(decodeDeltasArray(a, d, meta.imgShape, coder));
    scoreParts.push(s);
  });
  return selectDetections(concat(boxParts), concat(scoreParts), numClasses, meta, cfg);
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
