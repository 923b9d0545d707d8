// COCO bbox evaluation with the semantics of pycocotools' COCOeval (iouType 'bbox'), on typed-array columns.
//
// Per category and image: detections sorted by score (stable) and cut at the largest maxDets, ground truths
// matched greedily at each IoU threshold and area range (match.ts). Per category, area range and maxDets: the
// detections of all images merged in score order (ties: image order, then rank in the image), cumulated into
// precision/recall (accumulate.ts). Categories without ground truth get -1.
//
// One deliberate difference: the reference records a match by the ground truth's annotation id and reads id 0 as
// "unmatched", so a detection matched to an annotation with id 0 counts as a false positive there. Here a match is
// a match whatever the id.
import { AREA_RANGES, DEFAULT_MAX_DETS, IOU_THRESHOLDS, RECALL_THRESHOLDS } from './params.js';
import type { CocoGroundTruth } from './coco_gt.js';
import {
  detectionsFromColumns,
  detectionsFromList,
  type CocoDetection,
  type DetectionColumns,
  type Detections,
} from './detections.js';
import { iouMatrix } from './iou.js';
import { matchImage } from './match.js';
import { precisionRecall } from './accumulate.js';
import { meanPrecision, STAT_NAMES, summarize, type EvalShape, type StatName } from './summarize.js';

export interface EvaluateOptions {
  /** Evaluate only these images (ids from the ground truth); default all. */
  imageIds?: readonly number[];
  /** Three ascending detection limits per image; default [1, 10, 100]. */
  maxDets?: readonly [number, number, number];
}

export interface ClassAP {
  categoryId: number;
  name: string;
  /** AP@[.50:.95], area all, the largest maxDets; -1 when the category has no ground truth. */
  ap: number;
  /** AP@.50, same setting. */
  ap50: number;
}

export interface CocoEvalResult {
  /** The 12 standard numbers, in STAT_NAMES order. */
  stats: number[];
  /** The same, by name. */
  named: Record<StatName, number>;
  perClassAP: ClassAP[];
  /** [T, R, K, A, M] precision at each recall threshold (row-major); -1 where a category has no ground truth. */
  precision: Float64Array;
  /** [T, K, A, M] final recall; -1 where a category has no ground truth. */
  recall: Float64Array;
  shape: EvalShape;
  iouThresholds: Float64Array;
  recallThresholds: Float64Array;
  maxDets: readonly number[];
  categoryIds: readonly number[];
  /** The evaluated image ids, ascending. */
  imageIds: readonly number[];
}

type DetectionInput = readonly CocoDetection[] | DetectionColumns | Detections;

function isDetections(d: DetectionInput): d is Detections {
  return !Array.isArray(d) && 'image' in d && d.image instanceof Int32Array;
}

/** Validates any accepted detection form against the ground truth. */
export function toDetections(d: DetectionInput, gt: CocoGroundTruth): Detections {
  if (Array.isArray(d)) return detectionsFromList(d, gt);
  if (isDetections(d)) {
    if (d.groundTruth !== gt)
      throw new Error(`detections were validated against ${d.groundTruth.source}, not ${gt.source}`);
    return d;
  }
  return detectionsFromColumns(d as DetectionColumns, gt);
}

/**
 * Stable two-pass counting sort of rows by (category, image): returns the row order and, per category, where its
 * rows start ([K + 1]). Rows whose image is not evaluated (imageSlot -1) are dropped. Within one (category, image)
 * the file order is kept, which the reference's tie-breaking depends on.
 */
function groupRows(
  n: number,
  image: Int32Array,
  category: Int32Array,
  imageSlot: Int32Array,
  I: number,
  K: number,
): { order: Int32Array; catStart: Int32Array } {
  const byImage = new Int32Array(I + 1);
  let kept = 0;
  for (let r = 0; r < n; r++) {
    const s = imageSlot[image[r]!]!;
    if (s >= 0) {
      byImage[s + 1]!++;
      kept++;
    }
  }
  for (let i = 0; i < I; i++) byImage[i + 1]! += byImage[i]!;
  const tmp = new Int32Array(kept);
  for (let r = 0; r < n; r++) {
    const s = imageSlot[image[r]!]!;
    if (s >= 0) tmp[byImage[s]!++] = r;
  }
  const catStart = new Int32Array(K + 1);
  for (let j = 0; j < kept; j++) catStart[category[tmp[j]!]! + 1]!++;
  for (let k = 0; k < K; k++) catStart[k + 1]! += catStart[k]!;
  const cursor = catStart.slice(0, K);
  const order = new Int32Array(kept);
  for (let j = 0; j < kept; j++) {
    const r = tmp[j]!;
    order[cursor[category[r]!]!++] = r;
  }
  return { order, catStart };
}

/** Sorts rows[from, to) by descending score, keeping the given order among equal scores. */
function sortByScore(rows: Int32Array, from: number, to: number, scores: Float64Array): void {
  const n = to - from;
  if (n <= 32) {
    for (let i = from + 1; i < to; i++) {
      const r = rows[i]!;
      const s = scores[r]!;
      let j = i - 1;
      while (j >= from && scores[rows[j]!]! < s) {
        rows[j + 1] = rows[j]!;
        j--;
      }
      rows[j + 1] = r;
    }
    return;
  }
  // Rows arrive in ascending row order, so the row itself breaks ties stably.
  rows.subarray(from, to).sort((a, b) => scores[b]! - scores[a]! || a - b);
}

/** Growable scratch buffers, so the per-image loop allocates nothing in the common case. */
class Scratch {
  iou = new Float64Array(1024);
  gtOrder = new Int32Array(64);
  gtIgnore = new Uint8Array(64);
  gtCrowd = new Uint8Array(64);
  taken = new Uint8Array(64);
  dtOutside = new Uint8Array(128);

  reserve(D: number, G: number): void {
    if (this.iou.length < D * G) this.iou = new Float64Array(D * G * 2);
    if (this.gtOrder.length < G) {
      this.gtOrder = new Int32Array(G * 2);
      this.gtIgnore = new Uint8Array(G * 2);
      this.gtCrowd = new Uint8Array(G * 2);
      this.taken = new Uint8Array(G * 2);
    }
    if (this.dtOutside.length < D) this.dtOutside = new Uint8Array(D * 2);
  }
}

/**
 * Evaluates detections against COCO ground truth (bbox). Detections may be a results list
 * ([{image_id, category_id, bbox: [x, y, w, h], score}]), columns, or already validated Detections.
 */
export function evaluateCoco(
  gt: CocoGroundTruth,
  detections: DetectionInput,
  opts: EvaluateOptions = {},
): CocoEvalResult {
  const dets = toDetections(detections, gt);
  const maxDets = opts.maxDets ?? DEFAULT_MAX_DETS;
  if (maxDets.length !== 3 || maxDets.some((m, i) => !Number.isInteger(m) || m < 1 || (i > 0 && m < maxDets[i - 1]!))) {
    throw new Error(`maxDets must be three ascending positive integers (got ${JSON.stringify(maxDets)})`);
  }

  // Which images are evaluated, in ascending id order: imageSlot maps a ground-truth image index to its slot.
  const imageSlot = new Int32Array(gt.imageIds.length).fill(-1);
  let imageIds: number[];
  if (opts.imageIds) {
    for (const id of opts.imageIds) {
      const i = gt.imageIndex.get(id);
      if (i === undefined) throw new Error(`imageIds: unknown image id ${id} (not in ${gt.source})`);
      imageSlot[i] = 0;
    }
    imageIds = [];
    for (let i = 0; i < imageSlot.length; i++)
      if (imageSlot[i] === 0) imageSlot[i] = imageIds.push(gt.imageIds[i]!) - 1;
  } else {
    imageIds = [...gt.imageIds];
    for (let i = 0; i < imageSlot.length; i++) imageSlot[i] = i;
  }

  const T = IOU_THRESHOLDS.length;
  const R = RECALL_THRESHOLDS.length;
  const K = gt.categoryIds.length;
  const A = AREA_RANGES.length;
  const areaLo = Float64Array.from(AREA_RANGES, (r) => r[0]);
  const areaHi = Float64Array.from(AREA_RANGES, (r) => r[1]);
  const M = maxDets.length;
  const I = imageIds.length;
  const shape: EvalShape = { T, R, K, A, M };
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const maxDet = maxDets[M - 1]!;

  const g = groupRows(gt.annIds.length, gt.annImage, gt.annCategory, imageSlot, I, K);
  const d = groupRows(dets.count, dets.image, dets.category, imageSlot, I, K);
  const dOrder = d.order;
  const gOrder = g.order;

  // Per category: the kept detections (rank < maxDet in their image) with their image rank and match bits per area.
  let cap = 1024;
  let keptRow = new Int32Array(cap);
  let keptRank = new Int32Array(cap);
  let keptArea = new Float64Array(cap);
  let keptTp = new Uint16Array(cap * A);
  let keptIg = new Uint16Array(cap * A);
  const scratch = new Scratch();
  const npig = new Float64Array(A);
  const q = new Float64Array(T * R);
  const rec = new Float64Array(T);
  const nfp = new Int32Array(T);
  const ntp = new Int32Array(T);

  for (let k = 0; k < K; k++) {
    const dEnd = d.catStart[k + 1]!;
    const gEnd = g.catStart[k + 1]!;
    let di = d.catStart[k]!;
    let gi = g.catStart[k]!;
    const nDetCat = dEnd - di;
    if (nDetCat > cap) {
      cap = nDetCat * 2;
      keptRow = new Int32Array(cap);
      keptRank = new Int32Array(cap);
      keptArea = new Float64Array(cap);
      keptTp = new Uint16Array(cap * A);
      keptIg = new Uint16Array(cap * A);
    }
    npig.fill(0);
    let nKept = 0;

    // Walk this category's images in slot order; each image's detections and ground truths are runs.
    while (di < dEnd || gi < gEnd) {
      const slotD = di < dEnd ? imageSlot[dets.image[dOrder[di]!]!]! : I;
      const slotG = gi < gEnd ? imageSlot[gt.annImage[gOrder[gi]!]!]! : I;
      const slot = Math.min(slotD, slotG);
      const d0 = di;
      while (di < dEnd && imageSlot[dets.image[dOrder[di]!]!] === slot) di++;
      const g0 = gi;
      while (gi < gEnd && imageSlot[gt.annImage[gOrder[gi]!]!] === slot) gi++;
      const G = gi - g0;
      sortByScore(dOrder, d0, di, dets.scores);
      const D = Math.min(di - d0, maxDet);

      const k0 = nKept;
      for (let j = 0; j < D; j++) {
        const row = dOrder[d0 + j]!;
        keptRow[k0 + j] = row;
        keptRank[k0 + j] = j;
        keptArea[k0 + j] = dets.boxes[row * 4 + 2]! * dets.boxes[row * 4 + 3]!;
      }
      nKept += D;

      scratch.reserve(D, G);
      if (D > 0 && G > 0) {
        iouMatrix(dets.boxes, dOrder, d0, D, gt.annBoxes, gOrder, g0, G, gt.annCrowd, scratch.iou);
      }
      for (let a = 0; a < A; a++) {
        const lo = areaLo[a]!;
        const hi = areaHi[a]!;
        // Ground truths: regular first, then ignored (crowd or area out of range), each group in file order.
        let nReg = 0;
        for (let j = 0; j < G; j++) {
          const row = gOrder[g0 + j]!;
          const area = gt.annArea[row]!;
          if (gt.annCrowd[row] === 0 && area >= lo && area <= hi) nReg++;
        }
        npig[a]! += nReg;
        let ri = 0;
        let ii = nReg;
        for (let j = 0; j < G; j++) {
          const row = gOrder[g0 + j]!;
          const area = gt.annArea[row]!;
          const crowd = gt.annCrowd[row]!;
          const pos = crowd === 0 && area >= lo && area <= hi ? ri++ : ii++;
          scratch.gtOrder[pos] = j;
          scratch.gtIgnore[pos] = pos < nReg ? 0 : 1;
          scratch.gtCrowd[pos] = crowd;
        }
        for (let j = 0; j < D; j++) {
          const area = keptArea[k0 + j]!;
          scratch.dtOutside[j] = area < lo || area > hi ? 1 : 0;
        }
        const out = a * cap + k0;
        if (G === 0) {
          const all = (1 << T) - 1;
          for (let j = 0; j < D; j++) {
            keptTp[out + j] = 0;
            keptIg[out + j] = scratch.dtOutside[j] === 1 ? all : 0;
          }
        } else if (D > 0) {
          matchImage(
            scratch.iou,
            D,
            G,
            scratch.gtOrder,
            scratch.gtIgnore,
            scratch.gtCrowd,
            scratch.dtOutside,
            IOU_THRESHOLDS,
            scratch.taken,
            keptTp,
            keptIg,
            out,
          );
        }
      }
    }

    if (!npig.some((n) => n > 0)) continue;
    // Merge all images of this category in score order; ties keep image order, then rank (position in keptRow).
    const byScore = new Int32Array(nKept);
    for (let j = 0; j < nKept; j++) byScore[j] = j;
    const keptScore = new Float64Array(nKept);
    for (let j = 0; j < nKept; j++) keptScore[j] = dets.scores[keptRow[j]!]!;
    byScore.sort((x, y) => keptScore[y]! - keptScore[x]! || x - y);
    const sRank = new Int32Array(nKept);
    for (let j = 0; j < nKept; j++) sRank[j] = keptRank[byScore[j]!]!;
    const sTp = new Uint16Array(nKept);
    const sIg = new Uint16Array(nKept);
    const prAtTp = new Float64Array(T * Math.max(...npig));
    for (let a = 0; a < A; a++) {
      if (npig[a] === 0) continue;
      for (let j = 0; j < nKept; j++) {
        const p = byScore[j]!;
        sTp[j] = keptTp[a * cap + p]!;
        sIg[j] = keptIg[a * cap + p]!;
      }
      for (let m = 0; m < M; m++) {
        precisionRecall(sRank, sTp, sIg, nKept, maxDets[m]!, npig[a]!, T, RECALL_THRESHOLDS, prAtTp, nfp, ntp, q, rec);
        for (let t = 0; t < T; t++) {
          recall[((t * K + k) * A + a) * M + m] = rec[t]!;
          for (let r = 0; r < R; r++) precision[(((t * R + r) * K + k) * A + a) * M + m] = q[t * R + r]!;
        }
      }
    }
  }

  const stats = summarize(precision, recall, shape, IOU_THRESHOLDS);
  const named = Object.fromEntries(STAT_NAMES.map((n, i) => [n, stats[i]!])) as Record<StatName, number>;
  const allT = Array.from({ length: T }, (_, t) => t);
  const t50 = allT.filter((t) => IOU_THRESHOLDS[t] === 0.5);
  const perClassAP = gt.categoryIds.map((categoryId, k) => ({
    categoryId,
    name: gt.categoryNames[k]!,
    ap: meanPrecision(precision, shape, allT, k, k + 1, 0, M - 1),
    ap50: meanPrecision(precision, shape, t50, k, k + 1, 0, M - 1),
  }));
  return {
    stats,
    named,
    perClassAP,
    precision,
    recall,
    shape,
    iouThresholds: IOU_THRESHOLDS,
    recallThresholds: RECALL_THRESHOLDS,
    maxDets: [...maxDets],
    categoryIds: gt.categoryIds,
    imageIds,
  };
}
