// IOP, implicit objectness prediction (ccdet PAAIOHead / PAAIO_BASE_Head, algorithms.md §5.5): the PAA head plus two
// 3x3 convs on the reg tower, `objectness` (o) and `obj_bias` (b, its bias initialised to the prior 1e-4), giving
//   p_c = ReLU(σ(z_c) − σ(b)) · σ(o).
// There is no objectness target: o and b learn only through the probability-space focal loss on p (AutoAssign style).
import { type Tensor, tidy } from '../../torch/index.js';
import { Conv2d, biasInitWithProb, init } from '../../nn/index.js';
import { PAAHead, type PAAHeadOptions } from './paa_head.js';

/** ccdet's prior of the objectness bias branch. */
export const IOP_BIAS_PRIOR = 1e-4;

export class IOPHead extends PAAHead {
  override readonly clsKind = 'probs' as const;
  readonly objectness: Conv2d;
  readonly objBias: Conv2d;

  constructor(o: PAAHeadOptions) {
    super(o);
    if (this.numAnchors !== 1)
      throw new Error(`IOPHead: only one anchor per location is supported (got numAnchors ${this.numAnchors})`);
    this.objectness = this.registerModule('objectness', new Conv2d(this.towerChannels, 1, 3, { padding: 1 }));
    this.objBias = this.registerModule('obj_bias', new Conv2d(this.towerChannels, 1, 3, { padding: 1 }));
    init.normal_(this.objectness.weight, 0, 0.01);
    init.constant_(this.objectness.bias as Tensor, 0);
    init.normal_(this.objBias.weight, 0, 0.01);
    init.constant_(this.objBias.bias as Tensor, biasInitWithProb(IOP_BIAS_PRIOR));
  }

  /** logits (B, C, H, W), regFeat (B, F, H, W) -> probabilities (B, C, H, W). */
  protected override classify(logits: Tensor, regFeat: Tensor): Tensor {
    // Under autocast the convs come out in bf16; the probabilities are computed in float32 (.float() of a float32
    // tensor is free): in bf16 a probability above 0.998 rounds to 1, and the focal loss takes log(1 - p).
    return tidy(() =>
      iopProbabilities(logits.float(), this.objectness.forward(regFeat).float(), this.objBias.forward(regFeat).float()),
    );
  }
}

/** The IOP combination on its own: logits (B, C, H, W), objectness and bias logits (B, 1, H, W) -> (B, C, H, W). */
export function iopProbabilities(logits: Tensor, objLogits: Tensor, biasLogits: Tensor): Tensor {
  return tidy(() => logits.sigmoid().sub(biasLogits.sigmoid()).relu().mul(objLogits.sigmoid()));
}
