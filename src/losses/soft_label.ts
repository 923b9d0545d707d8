// Soft-label distillation (ccdet PAA_KD_Head + FocalKLLoss, algorithms.md §5.2):
//   per element, p = sigmoid(student logit), t = sigmoid(teacher logit),
//   KL_B(t || p) = t (log t - log p) + (1 - t)(log(1 - t) - log(1 - p)),   weight w = ((t - p)^2 + 1e-6)^(gamma/2)
//   (w is not detached: gradients flow through p in both factors, as upstream).
// Region S: anchors whose teacher box (decoded, clipped to the image) overlaps some GT with IoU > minIou, u_a its
// max IoU; A = sum of u over S in the batch. Terms:
//   loss_kd_cls  = clsWeight  * sum over all anchors and classes of w KL / A
//   loss_kd_iou  = iouWeight  * sum over S of w KL(IoU branch) / A
//   loss_kd_bbox = bboxWeight * sum over S of u (1 - GIoU(student box, teacher box)) / A
// Guards (ladet): A = 0 (no anchor in S in the whole batch) divides by 1 instead of 0; images without GT have an
// empty S. region 'student' is the paper's variant: S and u from the student's own boxes against the GTs.
import { type Tensor, cat, noGrad, tensor, tidy, zeros } from '../torch/index.js';
import { DeltaXYWHCoder } from '../det/box_coder.js';
import { alignedGiou, boxIou } from '../det/iou.js';
import type { ImageMeta } from '../data/transforms.js';

export interface SoftLabelOptions {
  gamma?: number;
  minIou?: number;
  clsWeight?: number;
  iouWeight?: number;
  bboxWeight?: number;
  region?: 'teacher' | 'student';
  coder?: DeltaXYWHCoder;
}

export interface SoftLabelLosses {
  loss_kd_cls: Tensor;
  loss_kd_iou: Tensor;
  loss_kd_bbox: Tensor;
  /** the normaliser A (sum of region IoUs) */
  kdNorm: number;
  /** anchors in the region S */
  kdRegion: number;
}

/** Elementwise focal-weighted Bernoulli KL from teacher logits zt (constant) to student logits zs. */
export function focalKl(zs: Tensor, zt: Tensor, gamma = 0.5): Tensor {
  return tidy(() => {
    const p = zs.sigmoid();
    const t = zt.sigmoid();
    const logP = zs.logSigmoid();
    const log1mP = logP.sub(zs);
    const logT = zt.logSigmoid();
    const log1mT = logT.sub(zt);
    const kl = t.mul(logT.sub(logP)).add(t.rsub(1).mul(log1mT.sub(log1mP)));
    const w = t
      .sub(p)
      .square()
      .add(1e-6)
      .pow(gamma / 2);
    return kl.mul(w);
  });
}

const defaultCoder = new DeltaXYWHCoder();

/**
 * student / teacher: flattened outputs cls (B, A, C) logits, reg (B, A, 4) deltas, iou (B, A) logits (teacher's
 * computed under noGrad). anchors (A, 4); valid (B, A) bool; gtBoxes per image (G_i, 4).
 */
export function softLabelLoss(
  student: { cls: Tensor; reg: Tensor; iou: Tensor | null },
  teacher: { cls: Tensor; reg: Tensor; iou: Tensor | null },
  anchors: Tensor,
  valid: Tensor,
  gtBoxes: readonly Tensor[],
  metas: readonly ImageMeta[],
  o: SoftLabelOptions = {},
): SoftLabelLosses {
  const gamma = o.gamma ?? 0.5;
  const minIou = o.minIou ?? 0.1;
  const coder = o.coder ?? defaultCoder;
  const b = student.cls.dim(0);
  return tidy(() => {
    // Region selection (no gradient): per image, boxes of the chosen network vs its GTs.
    const regionIdx: Tensor[] = [];
    const regionU: Tensor[] = [];
    const a = anchors.dim(0);
    noGrad(() => {
      for (let i = 0; i < b; i++) {
        const g = gtBoxes[i] as Tensor;
        if (g.dim(0) === 0) continue;
        const src = (o.region ?? 'teacher') === 'teacher' ? teacher.reg : student.reg;
        const boxes = coder.decode(anchors, src.select(0, i), metas[i]!.imgShape);
        const u = boxIou(boxes, g).amax(1);
        const inS = u.gt(minIou).logicalAnd(valid.select(0, i));
        const idx = inS.nonzero().reshape([-1]);
        regionIdx.push(idx.add(i * a));
        regionU.push(u.indexSelect(0, idx));
      }
    });
    const idx = regionIdx.length ? cat(regionIdx) : zeros([0], { dtype: 'int64' });
    const u = regionU.length ? cat(regionU) : zeros([0]);
    const norm = u.sum().item();
    const denom = norm > 0 ? norm : 1;
    const c = student.cls.dim(2);
    const loss_kd_cls = focalKl(student.cls.reshape([-1, c]), teacher.cls.reshape([-1, c]), gamma)
      .sum()
      .div(denom)
      .mul(o.clsWeight ?? 10);
    let loss_kd_iou: Tensor;
    let loss_kd_bbox: Tensor;
    if (idx.numel === 0) {
      loss_kd_bbox = student.reg.sum().mul(0);
      loss_kd_iou = student.iou ? student.iou.sum().mul(0) : loss_kd_bbox.mul(0);
    } else {
      const flatAnchors = anchors.indexSelect(0, idx.remainder(a));
      const sReg = student.reg.reshape([-1, 4]).indexSelect(0, idx);
      const tReg = teacher.reg.reshape([-1, 4]).indexSelect(0, idx);
      // clip each box to its own image (per-anchor image shape)
      const flatIdx = idx.toArray();
      const lim = new Float32Array(flatIdx.length * 4);
      flatIdx.forEach((f, j) => {
        const [h, w] = metas[Math.floor(f / a)]!.imgShape;
        lim.set([w, h, w, h], 4 * j);
      });
      const maxXY = tensor(lim, [flatIdx.length, 4]);
      const sBox = clipTo(coder.decode(flatAnchors, sReg), maxXY);
      const tBox = noGrad(() => clipTo(coder.decode(flatAnchors, tReg), maxXY));
      loss_kd_bbox = alignedGiou(sBox, tBox)
        .rsub(1)
        .mul(u)
        .sum()
        .div(denom)
        .mul(o.bboxWeight ?? 1.3);
      if (student.iou && teacher.iou) {
        const si = student.iou.reshape([-1]).indexSelect(0, idx);
        const ti = teacher.iou.reshape([-1]).indexSelect(0, idx);
        loss_kd_iou = focalKl(si, ti, gamma)
          .sum()
          .div(denom)
          .mul(o.iouWeight ?? 10);
      } else {
        loss_kd_iou = loss_kd_bbox.mul(0);
      }
    }
    return { loss_kd_cls, loss_kd_iou, loss_kd_bbox, kdNorm: norm, kdRegion: idx.numel };
  });
}

/** Clamps (n, 4) boxes to [0, max] per row (max (n, 4) = [w, h, w, h]); differentiable where inside. */
function clipTo(boxes: Tensor, max: Tensor): Tensor {
  return boxes.clamp(0).minimum(max);
}
