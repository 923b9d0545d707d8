// Parameter initialisers (torch.nn.init / mmcv's init helpers). All run in place under noGrad.
import { Tensor, noGrad } from '../torch/index.js';

export type FanMode = 'fan_in' | 'fan_out';
export type Nonlinearity = 'relu' | 'leaky_relu' | 'linear' | 'sigmoid';

/** (fan_in, fan_out) of a weight of shape (out, in, *kernel). */
export function fans(t: Tensor): { fanIn: number; fanOut: number } {
  const s = t.shape;
  if (s.length < 2) throw new Error('fans: a weight needs at least 2 dimensions');
  const receptive = s.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: (s[1] as number) * receptive, fanOut: (s[0] as number) * receptive };
}

function gain(nonlinearity: Nonlinearity, a = 0): number {
  switch (nonlinearity) {
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu':
      return Math.sqrt(2 / (1 + a * a));
    default:
      return 1;
  }
}

export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  return noGrad(() => t.normal_(mean, std));
}

export function uniform_(t: Tensor, a = 0, b = 1): Tensor {
  return noGrad(() => t.uniform_(a, b));
}

export function constant_(t: Tensor, value: number): Tensor {
  return noGrad(() => t.fill_(value));
}

export function kaimingNormal_(
  t: Tensor,
  mode: FanMode = 'fan_out',
  nonlinearity: Nonlinearity = 'relu',
  a = 0,
): Tensor {
  const f = fans(t);
  const std = gain(nonlinearity, a) / Math.sqrt(mode === 'fan_in' ? f.fanIn : f.fanOut);
  return normal_(t, 0, std);
}

export function kaimingUniform_(
  t: Tensor,
  mode: FanMode = 'fan_in',
  nonlinearity: Nonlinearity = 'leaky_relu',
  a = 0,
): Tensor {
  const f = fans(t);
  const bound = Math.sqrt(3) * (gain(nonlinearity, a) / Math.sqrt(mode === 'fan_in' ? f.fanIn : f.fanOut));
  return uniform_(t, -bound, bound);
}

export function xavierUniform_(t: Tensor, g = 1): Tensor {
  const f = fans(t);
  const bound = g * Math.sqrt(6 / (f.fanIn + f.fanOut));
  return uniform_(t, -bound, bound);
}

/** Bias value that makes sigmoid(bias) equal the prior probability (RetinaNet/mmcv bias_init_with_prob). */
export function biasInitWithProb(prior: number): number {
  if (!(prior > 0 && prior < 1)) throw new RangeError(`biasInitWithProb: prior must be in (0, 1), got ${prior}`);
  return -Math.log((1 - prior) / prior);
}

/** PyTorch's default Conv/Linear init: kaiming_uniform(a=sqrt(5)) weights, U(-1/sqrt(fan_in), ..) bias. */
export function defaultLayerInit(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, 'fan_in', 'leaky_relu', Math.sqrt(5));
  if (bias !== null) {
    const bound = 1 / Math.sqrt(fans(weight).fanIn);
    uniform_(bias, -bound, bound);
  }
}
