// ATSS assignment (Zhang et al., "Bridging the Gap Between Anchor-based and Anchor-free Detection via Adaptive
// Training Sample Selection", CVPR 2020), as mmdetection's ATSSAssigner (topk 9, ignore_iof_thr -1) does it:
//   1. per GT and FPN level, the min(topk, valid anchors on the level) valid anchors whose centres lie nearest the
//      GT centre (Euclidean) are its candidates;
//   2. the GT's IoU threshold is the mean + the unbiased standard deviation of its candidates' IoUs;
//   3. a candidate is positive when its IoU reaches the threshold and its centre lies more than 0.01 inside each
//      side of the GT box;
//   4. an anchor positive for several GTs takes the one it overlaps most; every other valid anchor is negative.
// Invalid anchors (batch padding) are neither candidates nor counted on their level, as upstream drops them before
// assigning; they get label weight 0. Geometry only: the assigner reads no predictions, so a teacher would assign
// exactly what the student does.
// Where upstream leaves a choice open, ladet fixes it: equal distances at the k-th place go to the lower anchor index
// (a stable sort; torch.topk does not say), and equal IoUs between GTs go to the lower GT index (what torch.max
// returns). A GT with a single candidate in all (one level, one anchor) has no standard deviation and no positive,
// as upstream's NaN threshold. Ignore boxes are not supported: ladet does not load crowd boxes (ignore_iof_thr -1).
import { Tensor, arange, cat, full, noGrad, tidy, where } from '../torch/index.js';
import { boxIou } from '../det/iou.js';
import { z } from 'zod';
import {
  assignmentFromGtIndices,
  checkTargets,
  defineAssigner,
  type Assigner,
  type AssignTargets,
  type Assignment,
  type HeadPredictions,
} from './assignment.js';

export interface AtssConfig {
  /** candidates per GT and FPN level (fewer on a level with fewer valid anchors) */
  topk: number;
}

export const ATSS_DEFAULT: AtssConfig = { topk: 9 };

/** An anchor centre must lie more than this inside every side of its GT (mmdetection's constant). */
const INSIDE_MARGIN = 0.01;

export interface AtssResult {
  /** (A) int64: g + 1 for an anchor assigned to GT g, 0 negative, -1 invalid */
  assignedGt: Tensor;
  /** (G) float32: each GT's IoU threshold, mean + std of its candidates' IoUs (NaN with fewer than 2 candidates) */
  thresholds: Tensor;
}

/**
 * One image: anchors (A, 4) x1y1x2y2, levelStarts (L+1) the start of each level in the anchor list plus A,
 * valid (A) bool, gtBoxes (G, 4) -> AtssResult.
 */
export function atssAssign(
  anchors: Tensor,
  levelStarts: readonly number[],
  valid: Tensor,
  gtBoxes: Tensor,
  cfg: AtssConfig = ATSS_DEFAULT,
): AtssResult {
  if (!Number.isInteger(cfg.topk) || cfg.topk < 1)
    throw new Error(`atss: topk must be a positive integer, got ${cfg.topk}`);
  return noGrad(() =>
    tidy(() => {
      const a = anchors.dim(0);
      const g = gtBoxes.dim(0);
      const device = anchors.device;
      const invalid = valid.logicalNot();
      const negatives = (): Tensor => full([a], 0, { dtype: 'int64', device }).maskedFill(invalid, -1);
      if (g === 0) return { assignedGt: negatives(), thresholds: full([0], 0, { device }) };
      const boxes = anchors.to('float32');
      const gts = gtBoxes.to('float32');
      const overlaps = boxIou(boxes, gts); // (A, G)
      const ax = boxes.select(1, 0).add(boxes.select(1, 2)).div(2); // (A) anchor centres
      const ay = boxes.select(1, 1).add(boxes.select(1, 3)).div(2);
      const gx = gts.select(1, 0).add(gts.select(1, 2)).div(2); // (G) GT centres
      const gy = gts.select(1, 1).add(gts.select(1, 3)).div(2);
      const distances = ax
        .unsqueeze(1)
        .sub(gx.unsqueeze(0))
        .square()
        .add(ay.unsqueeze(1).sub(gy.unsqueeze(0)).square())
        .sqrt()
        .maskedFill(invalid.unsqueeze(1), Number.POSITIVE_INFINITY); // (A, G)

      // 1. Candidates: per level the k nearest valid anchors of each GT, k <= the level's valid anchors, so the
      // infinitely far invalid ones are never taken.
      const perLevel: Tensor[] = [];
      for (let l = 0; l + 1 < levelStarts.length; l++) {
        const start = levelStarts[l] as number;
        const n = (levelStarts[l + 1] as number) - start;
        if (n === 0) continue;
        const k = Math.min(cfg.topk, valid.narrow(0, start, n).sum().item());
        if (k === 0) continue;
        const order = distances.narrow(0, start, n).sort(0, false, true).indices; // (n, G)
        perLevel.push(order.narrow(0, 0, k).add(start));
      }
      const candidates = perLevel.length ? cat(perLevel) : full([0, g], 0, { dtype: 'int64', device }); // (C, G)
      const c = candidates.dim(0);
      if (c < 2) return { assignedGt: negatives(), thresholds: full([g], Number.NaN, { device }) };

      // 2. Threshold per GT: mean + unbiased std of the candidates' IoUs.
      const candIou = overlaps.gather(0, candidates); // (C, G)
      const thresholds = candIou.mean(0).add(candIou.std(0, true)); // (G)

      // 3. Positive: IoU >= threshold and the anchor centre inside the GT by more than the margin.
      const cx = ax.indexSelect(0, candidates.reshape([-1])).reshape([c, g]);
      const cy = ay.indexSelect(0, candidates.reshape([-1])).reshape([c, g]);
      const left = cx.sub(gts.select(1, 0).unsqueeze(0));
      const top = cy.sub(gts.select(1, 1).unsqueeze(0));
      const right = gts.select(1, 2).unsqueeze(0).sub(cx);
      const bottom = gts.select(1, 3).unsqueeze(0).sub(cy);
      const inside = left.minimum(top).minimum(right).minimum(bottom).gt(INSIDE_MARGIN);
      const isPos = candIou.ge(thresholds.unsqueeze(0)).logicalAnd(inside); // (C, G)

      // 4. Each anchor's positive IoU per GT (-1 where it is not a positive of that GT; an IoU of 0 can be positive),
      // then the GT with the highest, the lowest index among equals.
      const posIou = full([a, g], -1, { device }).scatter(0, candidates, where(isPos, candIou, -1)); // (A, G)
      const best = posIou.amax(1, true); // (A, 1)
      const hit = posIou.eq(best).logicalAnd(best.ge(0));
      const gtIds = arange(0, g, 1, { device }).unsqueeze(0); // (1, G)
      const chosen = where(hit, gtIds, g).amin(1); // (A): g where the anchor is positive for none
      const assignedGt = where(chosen.lt(g), chosen.add(1), 0).maskedFill(invalid, -1);
      return { assignedGt, thresholds };
    }),
  );
}

/** `assigner: { type: atss, topk }`: geometry only. */
export const atssAssigner = defineAssigner({
  options: z.object({ type: z.literal('atss'), topk: z.number().int().positive().default(9) }).strict(),
  readsOutputs: false,
  create: (o) => new AtssAssigner({ topk: o.topk }),
});

/** ATSS as a final assigner (ignores predictions). */
export class AtssAssigner implements Assigner {
  constructor(readonly cfg: AtssConfig = ATSS_DEFAULT) {}

  assign(targets: AssignTargets, _preds: HeadPredictions | null = null): Assignment {
    checkTargets(targets, null);
    return assignmentFromGtIndices(
      targets,
      (valid, gt) => atssAssign(targets.anchors, targets.levelStarts, valid, gt, this.cfg).assignedGt,
    );
  }
}
