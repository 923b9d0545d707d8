// conv -> BatchNorm, with the BatchNorm folded into the conv whenever it normalises with its running statistics
// (eval mode, or mmdetection's norm_eval / frozen stages in training). Then BN(conv(x)) = conv(x; W·s) + (b - m·s)
// with s = γ / sqrt(v + eps): one conv with a per-channel bias instead of a conv plus an activation-sized BN pass
// (and its backward pass, and the extra saved activation). Gradients still reach W, γ and β through the small
// weight-sized products; the running statistics are constants, as in the unfolded form.
import { type Tensor, conv2d, tidy } from '../torch/index.js';
import type { BatchNorm2d, Conv2d } from './layers.js';

/** x (N, Cin, H, W) -> bn(conv(x)) (N, Cout, H', W'). */
export function convBn(conv: Conv2d, bn: BatchNorm2d, x: Tensor): Tensor {
  if (bn.training && !bn.frozenStats) {
    const c = conv.forward(x);
    const y = bn.forward(c);
    c.dispose();
    return y;
  }
  return tidy(() => {
    const inv = bn.runningVar.add(bn.eps).rsqrt();
    const scale = bn.weight === null ? inv : bn.weight.mul(inv);
    let shift = bn.runningMean.mul(scale).neg();
    if (bn.bias !== null) shift = shift.add(bn.bias);
    if (conv.bias !== null) shift = shift.add(conv.bias.mul(scale));
    const weight = conv.weight.mul(scale.reshape([-1, 1, 1, 1]));
    return conv2d(x, weight, shift, {
      stride: conv.stride,
      padding: conv.padding,
      dilation: conv.dilation,
      groups: conv.groups,
    });
  });
}
