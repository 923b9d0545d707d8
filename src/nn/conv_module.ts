// ConvModule: conv -> optional norm -> optional ReLU, with mmcv's child names (`conv`, then `bn` or `gn`), so
// mmdetection checkpoints of FPNs and heads load by name.
import type { Tensor } from '../torch/index.js';
import { Module, type Layer } from './module.js';
import { BatchNorm2d, Conv2d, GroupNorm } from './layers.js';

export type ConvNorm = { type: 'gn'; groups: number } | { type: 'bn' } | null;

export interface ConvModuleOptions {
  stride?: number;
  padding?: number;
  /** Normalisation after the conv; null (default) for none. */
  norm?: ConvNorm;
  /** ReLU after the norm (default true, as mmcv). */
  relu?: boolean;
  /** Conv bias; 'auto' (default) means bias only without a norm, as mmcv. */
  bias?: boolean | 'auto';
}

export class ConvModule extends Module implements Layer {
  readonly conv: Conv2d;
  readonly norm: BatchNorm2d | GroupNorm | null;
  readonly withRelu: boolean;

  constructor(inChannels: number, outChannels: number, kernelSize: number, o: ConvModuleOptions = {}) {
    super();
    const norm = o.norm ?? null;
    const bias = o.bias === undefined || o.bias === 'auto' ? norm === null : o.bias;
    this.conv = this.registerModule(
      'conv',
      new Conv2d(inChannels, outChannels, kernelSize, { stride: o.stride ?? 1, padding: o.padding ?? 0, bias }),
    );
    if (norm === null) this.norm = null;
    else if (norm.type === 'gn') this.norm = this.registerModule('gn', new GroupNorm(norm.groups, outChannels));
    else this.norm = this.registerModule('bn', new BatchNorm2d(outChannels));
    this.withRelu = o.relu ?? true;
  }

  /** x (N,Cin,H,W) -> (N,Cout,H',W'). */
  forward(x: Tensor): Tensor {
    let y = this.conv.forward(x);
    if (this.norm !== null) {
      const n = this.norm.forward(y);
      y.dispose();
      y = n;
    }
    // In place, as mmcv's ReLU(inplace=True): saves one activation per layer in training.
    if (this.withRelu) y.relu_();
    return y;
  }
}
