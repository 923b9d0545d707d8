// Max-IoU assignment (mmdetection's MaxIoUAssigner with gt_max_assign_all and match_low_quality): an anchor whose
// best IoU over the GTs is >= posIouThr goes to that GT, < negIouThr becomes negative, in between it is ignored;
// then, GT by GT in order, every anchor that reaches that GT's best IoU is (re)assigned to it, so a later GT wins.
// Used as PAA's pre-assignment (0.1 / 0.1, minPosIou 0) and, RetinaNet-style (0.5 / 0.4), as a final assigner.
import { Tensor, arange, full, noGrad, tidy, where } from '../torch/index.js';
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

export interface MaxIoUConfig {
  /** best IoU >= posIouThr: positive of its arg-max GT */
  posIouThr: number;
  /** best IoU in [0, negIouThr) (or [lo, hi)): negative */
  negIouThr: number | readonly [number, number];
  /** the low-quality pass only fires for GTs whose best IoU >= minPosIou */
  minPosIou: number;
  /** re-assign each GT's best anchors (default true) */
  matchLowQuality?: boolean;
  /** all anchors tied at a GT's best IoU, not only the first (default true) */
  gtMaxAssignAll?: boolean;
}

/** PAA's pre-assignment: every anchor with IoU >= 0.1 is a candidate of its best GT. */
export const PAA_PRE_ASSIGN: MaxIoUConfig = { posIouThr: 0.1, negIouThr: 0.1, minPosIou: 0 };

/** RetinaNet's assigner: positive >= 0.5, negative < 0.4, ignored in between. */
export const RETINA_ASSIGN: MaxIoUConfig = { posIouThr: 0.5, negIouThr: 0.4, minPosIou: 0 };

export interface MaxIoUResult {
  /** (A) int64: g + 1 for an anchor assigned to GT g, 0 negative, -1 ignored or invalid */
  assignedGt: Tensor;
  /** (A) float32: best IoU over the GTs (-1 on invalid anchors, 0 without GTs) */
  maxOverlaps: Tensor;
}

/** One image: anchors (A, 4), valid (A) bool, gtBoxes (G, 4) -> MaxIoUResult. */
export function maxIouAssign(anchors: Tensor, valid: Tensor, gtBoxes: Tensor, cfg: MaxIoUConfig): MaxIoUResult {
  return noGrad(() =>
    tidy(() => {
      const a = anchors.dim(0);
      const g = gtBoxes.dim(0);
      const invalid = valid.logicalNot();
      if (g === 0) {
        const zeros = full([a], 0, { dtype: 'int64', device: anchors.device });
        return { assignedGt: zeros.maskedFill(invalid, -1), maxOverlaps: zeros.to('float32').maskedFill(invalid, -1) };
      }
      // Invalid anchors get IoU -1 so they never match nor count toward a GT's best IoU (upstream drops them).
      const overlaps = boxIou(gtBoxes.to('float32'), anchors.to('float32')).maskedFill(invalid.unsqueeze(0), -1);
      const { values: maxOv, indices: argmax } = overlaps.maxDim(0);
      let assigned = full([a], -1, { dtype: 'int64', device: anchors.device });
      const [lo, hi] = typeof cfg.negIouThr === 'number' ? [0, cfg.negIouThr] : cfg.negIouThr;
      const neg = maxOv.ge(lo).logicalAnd(maxOv.lt(hi));
      assigned = assigned.maskedFill(neg, 0);
      const pos = maxOv.ge(cfg.posIouThr);
      assigned = where(pos, argmax.add(1), assigned);
      if (cfg.matchLowQuality ?? true) {
        const gtMax = overlaps.amax(1, true);
        const fires = gtMax.ge(cfg.minPosIou);
        let hit: Tensor;
        if (cfg.gtMaxAssignAll ?? true) {
          hit = overlaps.eq(gtMax).logicalAnd(fires);
        } else {
          const first = overlaps.argmax(1, true);
          hit = arange(0, a, 1, { device: anchors.device }).unsqueeze(0).eq(first).logicalAnd(fires);
        }
        // The highest GT index that hits an anchor is the one a sequential pass would leave there.
        const gIds = arange(1, g + 1, 1, { device: anchors.device }).unsqueeze(1);
        const last = hit.to('int64').mul(gIds).amax(0);
        assigned = where(last.gt(0), last, assigned);
      }
      return { assignedGt: assigned.maskedFill(invalid, -1), maxOverlaps: maxOv };
    }),
  );
}

/** `assigner: { type: maxiou, posIouThr, negIouThr }`: RetinaNet's rule, geometry only. */
export const maxIouAssigner = defineAssigner({
  options: z
    .object({
      type: z.literal('maxiou'),
      posIouThr: z.number().gt(0).lte(1).default(0.5),
      negIouThr: z.number().gte(0).lt(1).default(0.4),
    })
    .strict(),
  readsOutputs: false,
  create: (o) => new MaxIoUAssigner({ posIouThr: o.posIouThr, negIouThr: o.negIouThr, minPosIou: 0 }),
});

/** The plain max-IoU assigner as a final assigner (ignores predictions). */
export class MaxIoUAssigner implements Assigner {
  constructor(readonly cfg: MaxIoUConfig = RETINA_ASSIGN) {}

  assign(targets: AssignTargets, _preds: HeadPredictions | null = null): Assignment {
    checkTargets(targets, null);
    return assignmentFromGtIndices(
      targets,
      (valid, gt) => maxIouAssign(targets.anchors, valid, gt, this.cfg).assignedGt,
    );
  }
}
