// The state dict of a runtime model and the convs read from it: shapes checked on read, every tensor read is
// recorded (a tensor no part of the network reads is an error), and a BatchNorm folded into its conv once at load,
// as ladet's own eval-mode convBn does.
import { conv2d, type FMap } from './ops.js';

/** A named tensor of the state dict: float32 values, row-major, and the shape. */
export interface WeightTensor {
  data: Float32Array;
  shape: readonly number[];
}

export type StateDict = ReadonlyMap<string, WeightTensor>;

const BN_EPS = 1e-5;

/** A conv with its (possibly folded) bias, ready to run. */
export interface Conv {
  weight: Float32Array;
  shape: [number, number, number, number];
  bias: Float32Array | null;
  stride: number;
  padding: number;
}

export class Weights {
  readonly used = new Set<string>();
  constructor(readonly sd: StateDict) {}

  get(name: string, shape?: readonly number[]): WeightTensor {
    const t = this.sd.get(name);
    if (!t) throw new Error(`runtime model: tensor '${name}' is missing`);
    if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
      throw new Error(
        `runtime model: tensor '${name}' has shape [${t.shape.join(', ')}], the network expects [${shape.join(', ')}]`,
      );
    }
    if (t.data.length !== t.shape.reduce((a, b) => a * b, 1))
      throw new Error(
        `runtime model: tensor '${name}' holds ${t.data.length} values for shape [${t.shape.join(', ')}]`,
      );
    this.used.add(name);
    return t;
  }

  conv(prefix: string, stride: number, padding: number, withBias: boolean): Conv {
    const w = this.get(`${prefix}.weight`);
    if (w.shape.length !== 4)
      throw new Error(`runtime model: tensor '${prefix}.weight' must be 4-d, got [${w.shape.join(', ')}]`);
    const shape = [...w.shape] as [number, number, number, number];
    return {
      weight: w.data,
      shape,
      bias: withBias ? this.get(`${prefix}.bias`, [shape[0]]).data : null,
      stride,
      padding,
    };
  }

  /** conv (no bias) followed by BatchNorm `bn`, folded: W·s, bias β - μ·s with s = γ / sqrt(σ² + eps). */
  convBn(convPrefix: string, bnPrefix: string, stride: number, padding: number): Conv {
    const c = this.conv(convPrefix, stride, padding, false);
    const n = c.shape[0];
    const g = this.get(`${bnPrefix}.weight`, [n]).data;
    const b = this.get(`${bnPrefix}.bias`, [n]).data;
    const m = this.get(`${bnPrefix}.running_mean`, [n]).data;
    const v = this.get(`${bnPrefix}.running_var`, [n]).data;
    if (this.sd.has(`${bnPrefix}.num_batches_tracked`)) this.used.add(`${bnPrefix}.num_batches_tracked`);
    const per = c.weight.length / n;
    const weight = new Float32Array(c.weight.length);
    const bias = new Float32Array(n);
    for (let o = 0; o < n; o++) {
      // float32 steps in libtorch's order: rsqrt(v + eps), γ·inv, -(μ·scale) + β
      const inv = Math.fround(1 / Math.sqrt(Math.fround((v[o] as number) + BN_EPS)));
      const s = Math.fround((g[o] as number) * inv);
      bias[o] = Math.fround(-Math.fround((m[o] as number) * s) + (b[o] as number));
      for (let k = 0; k < per; k++) weight[o * per + k] = Math.fround((c.weight[o * per + k] as number) * s);
    }
    return { ...c, weight, bias };
  }
}

export function runConv(c: Conv, x: FMap): FMap {
  return conv2d(x, c.weight, c.shape, c.bias, c.stride, c.padding);
}
