// COP, conditional objectness prediction (ccdet PAA_COP_Head / PAA_COP_BASE_Head, algorithms.md §5.4): the PAA head
// plus `coeff_conv`, a 3x3 conv on the reg tower giving k² coefficients per location. The class probability of a
// location is the mean over its k×k neighbourhood of sigmoid(class logit of the neighbour) · sigmoid(coefficient):
//   p_c(x) = (1/k²) Σ_j σ(z_c(x + Δ_j)) · σ(o_j(x)),
// with Δ_j in nn.Unfold's order (row-major over the kernel) and the logits zero-padded, so a neighbour outside the
// map contributes σ(0) = 0.5 as upstream. The head returns probabilities (clsKind 'probs'), trained and costed with
// the probability-space focal loss.
import { type Tensor, im2col, tidy } from '../../torch/index.js';
import { Conv2d, init } from '../../nn/index.js';
import { PAAHead, type PAAHeadOptions } from './paa_head.js';

export interface COPHeadOptions extends PAAHeadOptions {
  /** Neighbourhood size k (odd, default 3). */
  coeffKernelSize?: number;
}

export class COPHead extends PAAHead {
  override readonly clsKind = 'probs' as const;
  readonly coeffKernelSize: number;
  readonly coeffConv: Conv2d;

  constructor(o: COPHeadOptions) {
    super(o);
    const k = o.coeffKernelSize ?? 3;
    if (!Number.isInteger(k) || k < 1 || k % 2 === 0)
      throw new Error(`COPHead: coeffKernelSize must be an odd whole number (got ${k})`);
    if (this.numAnchors !== 1)
      throw new Error(`COPHead: only one anchor per location is supported (got numAnchors ${this.numAnchors})`);
    this.coeffKernelSize = k;
    this.coeffConv = this.registerModule('coeff_conv', new Conv2d(this.towerChannels, k * k, 3, { padding: 1 }));
    init.normal_(this.coeffConv.weight, 0, 0.01);
    init.constant_(this.coeffConv.bias as Tensor, 0);
  }

  /** logits (B, C, H, W), regFeat (B, F, H, W) -> probabilities (B, C, H, W). */
  protected override classify(logits: Tensor, regFeat: Tensor): Tensor {
    // Under autocast the convs come out in bf16; the probabilities are computed in float32 (.float() of a float32
    // tensor is free): in bf16 a probability above 0.998 rounds to 1, and the focal loss takes log(1 - p); the
    // relative error of the probabilities against fp32 drops from 0.25 % to 0.06 %.
    return tidy(() => copProbabilities(logits.float(), this.coeffConv.forward(regFeat).float(), this.coeffKernelSize));
  }
}

/**
 * The COP combination on its own (for tests): logits (B, C, H, W), coefficient logits (B, k², H, W) ->
 * (B, C, H, W) probabilities.
 */
export function copProbabilities(logits: Tensor, coeffLogits: Tensor, k: number): Tensor {
  const [b, c, h, w] = logits.shape as [number, number, number, number];
  const kk = k * k;
  if (
    coeffLogits.ndim !== 4 ||
    coeffLogits.dim(0) !== b ||
    coeffLogits.dim(1) !== kk ||
    coeffLogits.dim(2) !== h ||
    coeffLogits.dim(3) !== w
  ) {
    throw new Error(
      `copProbabilities: coefficients must be (${b}, ${kk}, ${h}, ${w}), got [${coeffLogits.shape.join(', ')}]`,
    );
  }
  return tidy(() => {
    // Each class map as its own 1-channel image, so Unfold gives (B·C, k², H·W) in kernel order.
    const cols = im2col(logits.reshape([b * c, 1, h, w]), k, 1, (k - 1) / 2, 1);
    const p = cols.reshape([b, c, kk, h * w]).sigmoid();
    const coeff = coeffLogits.reshape([b, 1, kk, h * w]).sigmoid();
    return p.mul(coeff).mean(2).reshape([b, c, h, w]);
  });
}
