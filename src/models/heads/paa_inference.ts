// PAA inference (mmdetection PAAHead.get_bboxes, algorithms.md §9.7), per image:
//   score = sqrt(p · sigmoid(iou)) per (anchor, class), p = sigmoid(cls) or, for COP / IOP heads, the head's own
//   probabilities; without an IoU branch the score is p itself (ccdet *_BASE heads); per level keep the nmsPre anchors with the
//   highest max-class score; decode (clipped to the image); candidates (anchor, class) with score > scoreThr;
//   class-aware NMS; keep maxPerImg by score; optional score voting; map boxes back to the original image.
// The tensor steps (scores, nmsPre, decode) are here; the rest, on arrays, is selectDetections (paa_select.ts, pure
// TypeScript, shared with src/runtime/postprocess.ts).
import { type Tensor, cat, noGrad, tidy } from '../../torch/index.js';
import { DeltaXYWHCoder } from '../../det/box_coder.js';
import type { ImageMeta } from '../../data/transforms.js';
import type { HeadOutputs } from './outputs.js';
import { PAA_TEST_CFG, selectDetections, type InferenceConfig } from './paa_select.js';

export { PAA_TEST_CFG, type InferenceConfig } from './paa_select.js';

export interface ImageDetections {
  imageId: number;
  /** (K·4) x1,y1,x2,y2 in original image pixels */
  boxes: Float64Array;
  scores: Float32Array;
  /** contiguous class indices */
  labels: Int32Array;
}

const defaultCoder = new DeltaXYWHCoder();

/**
 * outputs: per-level head outputs of a batch; anchors: per level (A_l, 4) of the padded batch; metas: per image.
 */
export function predictBatch(
  outputs: HeadOutputs,
  anchors: readonly Tensor[],
  metas: readonly ImageMeta[],
  cfg: InferenceConfig = PAA_TEST_CFG,
  coder: DeltaXYWHCoder = defaultCoder,
): ImageDetections[] {
  return noGrad(() => metas.map((meta, i) => predictImage(outputs, anchors, meta, i, cfg, coder)));
}

function predictImage(
  outputs: HeadOutputs,
  anchors: readonly Tensor[],
  meta: ImageMeta,
  i: number,
  cfg: InferenceConfig,
  coder: DeltaXYWHCoder,
): ImageDetections {
  const numAnchors = (outputs.reg[0] as Tensor).dim(1) / 4;
  const numClasses = (outputs.cls[0] as Tensor).dim(1) / (numAnchors || 1);
  const { boxes, scores } = tidy(() => {
    const levelBoxes: Tensor[] = [];
    const levelScores: Tensor[] = [];
    outputs.cls.forEach((clsL, l) => {
      const cls = clsL.select(0, i).permute([1, 2, 0]).reshape([-1, numClasses]);
      const prob = outputs.clsKind === 'probs' ? cls : cls.sigmoid();
      const reg = (outputs.reg[l] as Tensor).select(0, i).permute([1, 2, 0]).reshape([-1, 4]);
      let s = prob;
      if (outputs.iou !== null) {
        const iou = (outputs.iou[l] as Tensor).select(0, i).permute([1, 2, 0]).reshape([-1, 1]).sigmoid();
        s = prob.mul(iou).sqrt();
      }
      let r = reg;
      let a = anchors[l] as Tensor;
      if (cfg.nmsPre > 0 && s.dim(0) > cfg.nmsPre) {
        const top = s.amax(1).topk(cfg.nmsPre).indices;
        s = s.indexSelect(0, top);
        r = r.indexSelect(0, top);
        a = a.indexSelect(0, top);
      }
      levelBoxes.push(coder.decode(a, r, meta.imgShape));
      levelScores.push(s);
    });
    return { boxes: cat(levelBoxes).contiguous().to('float32'), scores: cat(levelScores).contiguous().to('float32') };
  });
  const candBoxes = boxes.toTypedArray<'float32'>();
  const candScores = scores.toTypedArray<'float32'>();
  boxes.dispose();
  scores.dispose();
  return { imageId: meta.imageId, ...selectDetections(candBoxes, candScores, numClasses, meta, cfg) };
}
