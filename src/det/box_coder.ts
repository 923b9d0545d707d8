// DeltaXYWH box coder (mmdetection's DeltaXYWHBBoxCoder): deltas are the normalised offsets of a box's centre and
// log-size relative to its anchor. Widths are x2 - x1 (no +1). Differentiable in the deltas.
import { Tensor, stack, tensor, tidy } from '../torch/index.js';
import { deltaXYWHParams, type DeltaXYWHOptions } from './box_coder_arrays.js';

export { decodeDeltasArray, deltaXYWHParams, type DeltaXYWHOptions, type DeltaXYWHParams } from './box_coder_arrays.js';

export class DeltaXYWHCoder {
  readonly means: readonly [number, number, number, number];
  readonly stds: readonly [number, number, number, number];
  readonly maxRatio: number;

  constructor(opts: DeltaXYWHOptions = {}) {
    const p = deltaXYWHParams(opts);
    this.means = p.means;
    this.stds = p.stds;
    this.maxRatio = p.maxRatio;
  }

  /** anchors (..., 4) and gt (..., 4) x1y1x2y2 (broadcastable) -> deltas (..., 4). */
  encode(anchors: Tensor, gt: Tensor): Tensor {
    return tidy(() => {
      const [px, py, pw, ph] = centreSize(anchors);
      const [gx, gy, gw, gh] = centreSize(gt);
      const d = stack([gx.sub(px).div(pw), gy.sub(py).div(ph), gw.div(pw).log(), gh.div(ph).log()], -1);
      return d.sub(this.#vec(this.means, d)).div(this.#vec(this.stds, d));
    });
  }

  /**
   * anchors (..., 4), deltas (..., 4) (broadcastable) -> boxes (..., 4). With maxShape [h, w] the boxes are clipped
   * to [0, w] × [0, h] (mmdetection does this at inference only).
   */
  decode(anchors: Tensor, deltas: Tensor, maxShape?: readonly [number, number]): Tensor {
    return tidy(() => {
      const d = deltas.mul(this.#vec(this.stds, deltas)).add(this.#vec(this.means, deltas));
      const [px, py, pw, ph] = centreSize(anchors);
      const part = (i: number): Tensor => d.select(-1, i);
      const dw = part(2).clamp(-this.maxRatio, this.maxRatio);
      const dh = part(3).clamp(-this.maxRatio, this.maxRatio);
      const gx = px.add(pw.mul(part(0)));
      const gy = py.add(ph.mul(part(1)));
      const hw = pw.mul(dw.exp()).mul(0.5);
      const hh = ph.mul(dh.exp()).mul(0.5);
      let coords = [gx.sub(hw), gy.sub(hh), gx.add(hw), gy.add(hh)];
      if (maxShape !== undefined) {
        const [h, w] = maxShape;
        coords = coords.map((c, i) => c.clamp(0, i % 2 === 0 ? w : h));
      }
      return stack(coords, -1);
    });
  }

  #vec(v: readonly number[], like: Tensor): Tensor {
    return tensor(Float64Array.from(v), [4], { dtype: like.dtype, device: like.device });
  }
}

/** (..., 4) x1y1x2y2 -> [cx, cy, w, h], each (...). */
function centreSize(b: Tensor): [Tensor, Tensor, Tensor, Tensor] {
  const x1 = b.select(-1, 0);
  const y1 = b.select(-1, 1);
  const x2 = b.select(-1, 2);
  const y2 = b.select(-1, 3);
  return [x1.add(x2).mul(0.5), y1.add(y2).mul(0.5), x2.sub(x1), y2.sub(y1)];
}
