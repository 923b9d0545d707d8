// AdamW (decoupled weight decay), as torch.optim.AdamW (PyTorch 1.13, single-tensor path):
//   p *= 1 - lr * weightDecay
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g   (vmax = max(vmax, v) with amsgrad)
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)      (eps outside the square root)
import { type Tensor } from '../torch/index.js';
import { Optimizer, type ParamGroup, type ParamState, type Params } from './optimizer.js';

export type AdamWOptions = {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  /** ascend instead of descend */
  maximize: boolean;
};

const DEFAULTS: AdamWOptions = {
  lr: 1e-3,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 1e-2,
  amsgrad: false,
  maximize: false,
};

export class AdamW extends Optimizer<AdamWOptions> {
  /** `params`: a tensor list or groups ({params, lr?, betas?, ...}); `options` are the groups' defaults. */
  constructor(params: Params<AdamWOptions>, options: Partial<AdamWOptions> = {}) {
    super('AdamW', params, { ...DEFAULTS, ...options });
  }

  protected validate(h: AdamWOptions, where: string): void {
    if (!(h.lr >= 0)) throw new RangeError(`${where}: invalid learning rate ${h.lr}`);
    if (!(h.eps >= 0)) throw new RangeError(`${where}: invalid eps ${h.eps}`);
    h.betas.forEach((b, i) => {
      if (!(b >= 0 && b < 1)) throw new RangeError(`${where}: invalid beta parameter at index ${i}: ${b}`);
    });
    if (!(h.weightDecay >= 0)) throw new RangeError(`${where}: invalid weightDecay ${h.weightDecay}`);
  }

  protected bufferNames(h: AdamWOptions): { allowed: readonly string[]; required: readonly string[] } {
    const required = h.amsgrad ? ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] : ['exp_avg', 'exp_avg_sq'];
    return { allowed: ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'], required };
  }

  #buffer(p: Tensor, state: ParamState, name: string): Tensor {
    let b = state.buffers.get(name);
    if (b === undefined) {
      b = this.zerosLikeParam(p);
      state.buffers.set(name, b);
    }
    return b;
  }

  protected update(p: Tensor, g: Tensor, group: ParamGroup<AdamWOptions>, state: ParamState): void {
    const { lr, eps, weightDecay } = group;
    const [beta1, beta2] = group.betas;
    const expAvg = this.#buffer(p, state, 'exp_avg');
    const expAvgSq = this.#buffer(p, state, 'exp_avg_sq');
    const grad = group.maximize ? g.neg() : g;
    let denom: Tensor | null = null;
    try {
      p.mul_(1 - lr * weightDecay);
      expAvg.mul_(beta1).add_(grad, 1 - beta1);
      expAvgSq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
      const biasCorrection1 = 1 - beta1 ** state.step;
      const biasCorrection2 = 1 - beta2 ** state.step;
      const stepSize = lr / biasCorrection1;
      let second = expAvgSq;
      if (group.amsgrad) {
        const maxSq = this.#buffer(p, state, 'max_exp_avg_sq');
        const m = maxSq.maximum(expAvgSq);
        maxSq.copy_(m);
        m.dispose();
        second = maxSq;
      }
      denom = second.sqrt();
      denom.div_(Math.sqrt(biasCorrection2)).add_(eps);
      p.addcdiv_(expAvg, denom, -stepSize);
    } finally {
      denom?.dispose();
      if (grad !== g) grad.dispose();
    }
  }
}
