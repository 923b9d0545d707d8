// The basic layers. Parameter and buffer names match torch.nn's, so weights load by name.
import {
  Tensor,
  batchNorm,
  conv2d,
  empty,
  groupNorm,
  linear,
  maxPool2d,
  noGrad,
  ones,
  scalar,
  zeros,
} from '../torch/index.js';
import { Module, type Layer } from './module.js';
import { defaultLayerInit } from './init.js';

type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

export class Conv2d extends Module implements Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly dilation: Pair;
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    o: Conv2dOptions = {},
  ) {
    super();
    const [kh, kw] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    this.stride = o.stride ?? 1;
    this.padding = o.padding ?? 0;
    this.dilation = o.dilation ?? 1;
    this.groups = o.groups ?? 1;
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new Error(`Conv2d: channels ${inChannels}->${outChannels} not divisible by groups ${this.groups}`);
    }
    this.weight = this.param('weight', empty([outChannels, inChannels / this.groups, kh, kw]));
    this.bias = this.registerParameter('bias', o.bias === false ? null : empty([outChannels]));
    defaultLayerInit(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }
}

export class Linear extends Module implements Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    bias = true,
  ) {
    super();
    this.weight = this.param('weight', empty([outFeatures, inFeatures]));
    this.bias = this.registerParameter('bias', bias ? empty([outFeatures]) : null);
    defaultLayerInit(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

export interface BatchNormOptions {
  eps?: number;
  momentum?: number;
  affine?: boolean;
  /**
   * Keep the running statistics frozen: always normalise with them, even in training mode (mmdetection's
   * norm_eval=True). The affine weight and bias still train unless frozen separately.
   */
  frozenStats?: boolean;
}

export class BatchNorm2d extends Module implements Layer {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;
  readonly momentum: number;
  frozenStats: boolean;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;

  constructor(
    readonly numFeatures: number,
    o: BatchNormOptions = {},
  ) {
    super();
    this.eps = o.eps ?? 1e-5;
    this.momentum = o.momentum ?? 0.1;
    this.frozenStats = o.frozenStats ?? false;
    const affine = o.affine ?? true;
    this.weight = this.registerParameter('weight', affine ? ones([numFeatures]) : null);
    this.bias = this.registerParameter('bias', affine ? zeros([numFeatures]) : null);
    this.runningMean = this.registerBuffer('running_mean', zeros([numFeatures]));
    this.runningVar = this.registerBuffer('running_var', ones([numFeatures]));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int64' }));
  }

  forward(x: Tensor): Tensor {
    const useBatchStats = this.training && !this.frozenStats;
    if (useBatchStats) noGrad(() => this.numBatchesTracked.add_(1));
    return batchNorm(
      x,
      this.runningMean,
      this.runningVar,
      this.weight,
      this.bias,
      useBatchStats,
      this.momentum,
      this.eps,
    );
  }
}

export class GroupNorm extends Module implements Layer {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    readonly eps = 1e-5,
    affine = true,
  ) {
    super();
    if (numChannels % numGroups !== 0)
      throw new Error(`GroupNorm: ${numChannels} channels not divisible by ${numGroups} groups`);
    this.weight = this.registerParameter('weight', affine ? ones([numChannels]) : null);
    this.bias = this.registerParameter('bias', affine ? zeros([numChannels]) : null);
  }

  /**
   * Under autocast a bf16 input (a conv's output) meets float32 affine parameters, which libtorch 1.13's group_norm
   * refuses ("expected scalar type BFloat16 but found Float"): the input is cast to float32, normalised in float32
   * and the result cast back to the input's dtype (so the ReLU after it and the next conv stay in bf16). Measured
   * against the alternatives (conv-GN-ReLU x2 + conv over the pyramid levels, forward + backward, one thread, freed
   * memory kept mapped, median ms; fp32 / this / fp32 output kept / bf16 GN with bf16 affine): the mini preset's head
   * shapes 55.7 / 39.4 / 41.7 / 69.9, PAA-R50's at 512 px 534 / 291 / 291 / 345. libtorch 1.13's bf16 group_norm
   * is slow (2x256x16x16: 1.14 ms vs 0.14 in fp32) and 1.7x less accurate (max error 0.048 vs 0.027 vs float64).
   */
  forward(x: Tensor): Tensor {
    const pdtype = (this.weight ?? this.bias)?.dtype ?? 'float32';
    const reduced = x.dtype === 'bfloat16' || x.dtype === 'float16';
    if (!reduced || pdtype !== 'float32') return groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
    const xf = x.float();
    const y = groupNorm(xf, this.numGroups, this.weight, this.bias, this.eps);
    xf.dispose();
    const out = y.to(x.dtype);
    y.dispose();
    return out;
  }
}

export class ReLU extends Module implements Layer {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}

/** One learnable scalar `scale` (0-d, as mmcv's Scale) multiplying its input. */
export class Scale extends Module implements Layer {
  readonly scale: Tensor;

  constructor(init = 1) {
    super();
    this.scale = this.param('scale', scalar(init));
  }

  forward(x: Tensor): Tensor {
    return x.mul(this.scale);
  }
}

export class Identity extends Module implements Layer {
  forward(x: Tensor): Tensor {
    return x.clone();
  }
}

export class MaxPool2d extends Module implements Layer {
  constructor(
    readonly kernelSize: Pair,
    readonly stride: Pair = kernelSize,
    readonly padding: Pair = 0,
    readonly ceilMode = false,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.stride, this.padding, this.ceilMode);
  }
}

/** Children named "0", "1", ... applied in order; intermediate results are freed as it goes. */
export class Sequential extends Module implements Layer {
  readonly layers: Layer[];

  constructor(...layers: Layer[]) {
    super();
    this.layers = layers;
    layers.forEach((l, i) => this.registerModule(String(i), l));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (const layer of this.layers) {
      const next = layer.forward(h);
      if (h !== x) h.dispose();
      h = next;
    }
    return h === x ? x.clone() : h;
  }
}

/** A list of modules named "0", "1", ... (torch.nn.ModuleList). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];

  constructor(items: readonly M[] = []) {
    super();
    for (const m of items) this.push(m);
  }

  push(m: M): M {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
    return m;
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    const m = this.items[i];
    if (m === undefined) throw new RangeError(`ModuleList index ${i} out of range (${this.items.length})`);
    return m;
  }
}
