// The loss of a PAA-style head given an Assignment (algorithms.md §1 step 6, §4 step 3):
//   loss_cls  = focal over all anchors (label weights) / max(numPos, B)
//   loss_bbox = 1.3 · GIoU loss on decoded positives; PAA weights each positive by its IoU target and divides by
//               their sum, LAD/CoLAD use the plain mean over positives (boxWeighting 'iou' | 'mean')
//   loss_iou  = 0.5 · BCE(IoU logit, IoU(decoded pred, GT)) / numPos
// With no positive in the batch the box and IoU terms are 0 · Σ(outputs), which keeps them in the graph.
import { type Tensor, noGrad, tidy } from '../torch/index.js';
import { DeltaXYWHCoder } from '../det/box_coder.js';
import { alignedIou } from '../det/iou.js';
import type { Assignment } from '../assign/assignment.js';
import { sigmoidFocalLoss } from './focal.js';
import { probFocalLoss } from './prob_focal.js';
import { giouLoss } from './giou.js';
import { iouBceLoss } from './iou_bce.js';
import { reduceAvgFactors } from './avg_factor.js';

/** Flattened head outputs of a batch: cls (B, A, C) logits or probabilities, reg (B, A, 4), iou (B, A) logits. */
export interface FlatOutputs {
  cls: Tensor;
  reg: Tensor;
  iou: Tensor | null;
}

export interface PaaLossOptions {
  clsWeight?: number;
  bboxWeight?: number;
  iouWeight?: number;
  /** 'iou': PAA's IoU-weighted GIoU; 'mean': LAD/CoLAD's plain mean over positives. */
  boxWeighting?: 'iou' | 'mean';
  /** 'logits' for sigmoid heads; 'probs' for COP/IOP heads (probability-space focal loss). */
  clsKind?: 'logits' | 'probs';
  coder?: DeltaXYWHCoder;
}

export interface PaaLosses {
  loss_cls: Tensor;
  loss_bbox: Tensor;
  loss_iou: Tensor;
}

const defaultCoder = new DeltaXYWHCoder();
// Newer mmdetection adds float32 eps to an avg_factor that can be 0 (every positive with IoU 0).
const F32_EPS = 1.1920928955078125e-7;

/** anchors: (A, 4) of one image (shared by the batch). Returns the three loss terms (scalars). */
export function paaLoss(out: FlatOutputs, assignment: Assignment, anchors: Tensor, o: PaaLossOptions = {}): PaaLosses {
  const c = out.cls.dim(2);
  const b = assignment.numImages;
  const a = assignment.anchorsPerImage;
  if (out.cls.dim(0) !== b || out.cls.dim(1) !== a) {
    throw new Error(
      `paaLoss: outputs are (${out.cls.dim(0)}, ${out.cls.dim(1)}) images x anchors, the assignment (${b}, ${a})`,
    );
  }
  const coder = o.coder ?? defaultCoder;
  return tidy(() => {
    const numPos = assignment.numPos;
    const pos = numPos > 0 ? assignment.posInds : null;
    let decoded: Tensor | null = null;
    let targets: Tensor | null = null;
    let iouTarget: Tensor | null = null;
    if (pos !== null) {
      const reg = out.reg.reshape([b * a, 4]).indexSelect(0, pos);
      const posAnchors = anchors.indexSelect(0, pos.remainder(a));
      targets = assignment.bboxTargets.indexSelect(0, pos);
      decoded = coder.decode(posAnchors, reg);
      const d = decoded;
      const t = targets;
      iouTarget = noGrad(() => alignedIou(d.detach(), t));
    }
    // num_pos and the IoU-target sum, averaged over data-parallel ranks (identity in one process; a collective
    // under DDP, so every rank reduces, positives or not)
    const [posFactor, iouFactor] = reduceAvgFactors([numPos, iouTarget === null ? 0 : iouTarget.sum().item()]) as [
      number,
      number,
    ];
    const cls = out.cls.reshape([b * a, c]);
    const focal = o.clsKind === 'probs' ? probFocalLoss : sigmoidFocalLoss;
    const loss_cls = focal(cls, assignment.labels, {
      weight: assignment.labelWeights,
      reduction: 'mean',
      avgFactor: Math.max(posFactor, b),
    }).mul(o.clsWeight ?? 1);
    if (pos === null || decoded === null || targets === null || iouTarget === null) {
      const zeroBox = out.reg.sum().mul(0);
      const zeroIou = out.iou ? out.iou.sum().mul(0) : zeroBox.mul(0);
      return { loss_cls, loss_bbox: zeroBox, loss_iou: zeroIou };
    }
    const bboxWeight = o.bboxWeight ?? 1.3;
    const loss_bbox =
      (o.boxWeighting ?? 'iou') === 'iou'
        ? giouLoss(decoded, targets, {
            weight: iouTarget.clamp(1e-12),
            reduction: 'mean',
            avgFactor: iouFactor + F32_EPS,
          }).mul(bboxWeight)
        : giouLoss(decoded, targets, { reduction: 'mean', avgFactor: posFactor }).mul(bboxWeight);
    const loss_iou = out.iou
      ? iouBceLoss(out.iou.reshape([b * a]).indexSelect(0, pos), iouTarget, {
          reduction: 'mean',
          avgFactor: posFactor,
        }).mul(o.iouWeight ?? 0.5)
      : loss_bbox.mul(0);
    return { loss_cls, loss_bbox, loss_iou };
  });
}
