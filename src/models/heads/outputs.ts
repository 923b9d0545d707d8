// What a dense head returns, per FPN level, and its flattening into the anchor order shared by the anchor
// generator, the assigners and the losses: levels concatenated finest first, (y, x) row-major within a level,
// then the anchors of one location.
import { type Tensor, cat } from '../../torch/index.js';

export interface HeadOutputs {
  /** Per level (B, A*C, H_l, W_l): class logits (or probabilities, see clsKind). */
  cls: Tensor[];
  /** Per level (B, A*4, H_l, W_l): box deltas (already multiplied by the level's learnable scale). */
  reg: Tensor[];
  /** Per level (B, A, H_l, W_l): IoU-prediction logits; null for a head without the IoU branch. */
  iou: Tensor[] | null;
  /** 'logits' for sigmoid heads (PAA); 'probs' for heads that output probabilities (COP / IOP). */
  clsKind: 'logits' | 'probs';
}

export interface FlatHeadOutputs {
  /** (B, A_tot, C) */
  cls: Tensor;
  /** (B, A_tot, 4) */
  reg: Tensor;
  /** (B, A_tot), or null without the IoU branch */
  iou: Tensor | null;
  clsKind: 'logits' | 'probs';
}

/** (B, A*K, H, W) -> (B, H*W*A, K): location-major, then the A anchors of the location. */
function levelToRows(x: Tensor, k: number): Tensor {
  const p = x.permute([0, 2, 3, 1]);
  const r = p.reshape([x.dim(0), -1, k]);
  p.dispose();
  return r;
}

function flattenLevels(levels: readonly Tensor[], k: number): Tensor {
  const rows = levels.map((l) => levelToRows(l, k));
  const out = rows.length === 1 ? (rows[0] as Tensor) : cat(rows, 1);
  if (rows.length > 1) for (const r of rows) r.dispose();
  return out;
}

/**
 * Concatenates the per-level outputs in anchor order: cls (B, A_tot, C), reg (B, A_tot, 4), iou (B, A_tot) or null.
 * Row a of image b is anchor a of that image; `.reshape([-1, C])` gives the batch-flattened (B*A_tot, C) form
 * (index b*A_tot + a). numClasses is needed to split A*C channels when a location has several anchors.
 */
export function flattenHeadOutputs(o: HeadOutputs, numClasses: number): FlatHeadOutputs {
  if (o.cls.length === 0 || o.cls.length !== o.reg.length || (o.iou !== null && o.cls.length !== o.iou.length)) {
    throw new Error(
      `flattenHeadOutputs: levels differ (cls ${o.cls.length}, reg ${o.reg.length}, iou ${o.iou?.length ?? 'none'})`,
    );
  }
  let iou: Tensor | null = null;
  if (o.iou !== null) {
    const iou3 = flattenLevels(o.iou, 1);
    iou = iou3.squeeze(2);
    iou3.dispose();
  }
  return { cls: flattenLevels(o.cls, numClasses), reg: flattenLevels(o.reg, 4), iou, clsKind: o.clsKind };
}

/** (H_l, W_l) of every level, finest first. */
export function levelSizes(o: HeadOutputs): [number, number][] {
  return o.cls.map((t) => [t.dim(2), t.dim(3)]);
}
