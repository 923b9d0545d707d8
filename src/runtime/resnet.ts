// ladet/runtime's ResNet kernel: the forward pass of a resolved ResNetSpec over Float32Arrays, the blocks of each
// stage from the same table and rules as the libtorch ResNet (src/models/backbones/resnet_spec.ts), BatchNorms
// folded into their convs at load, the forward pass in NetOps (computed, or recorded into an ONNX graph).
import {
  RESNET_ARCH,
  resnetStageBlocks,
  resolveResNetSpec,
  type ResNetDepth,
  type ResNetSpec,
} from '../models/backbones/resnet_spec.js';
import type { Conv, Weights } from './weights.js';
import type { NetOps } from './net_ops.js';
import type { BackboneKernel, BackboneKernelEntry } from './backbones.js';

const isCount = (v: unknown): boolean => Number.isInteger(v) && (v as number) > 0;

interface Block {
  convs: Conv[];
  downsample: Conv | null;
}

class ResNetKernel implements BackboneKernel {
  private readonly stem: Conv;
  private readonly stages: Block[][] = [];
  private readonly outIndices: readonly number[];

  /** Reads every stage, as the libtorch ResNet holds them all (forward stops at the last of outIndices). */
  constructor(spec: ResNetSpec, w: Weights) {
    this.outIndices = spec.outIndices;
    this.stem = w.convBn('backbone.conv1', 'backbone.bn1', 2, 3);
    for (let i = 0; i < spec.blocks.length; i++) {
      this.stages.push(
        resnetStageBlocks(spec, i).map((b, j) => {
          const p = `backbone.layer${i + 1}.${j}`;
          const convs = spec.bottleneck
            ? [
                w.convBn(`${p}.conv1`, `${p}.bn1`, 1, 0),
                w.convBn(`${p}.conv2`, `${p}.bn2`, b.stride, 1),
                w.convBn(`${p}.conv3`, `${p}.bn3`, 1, 0),
              ]
            : [w.convBn(`${p}.conv1`, `${p}.bn1`, b.stride, 1), w.convBn(`${p}.conv2`, `${p}.bn2`, 1, 1)];
          return {
            convs,
            downsample: b.downsample ? w.convBn(`${p}.downsample.0`, `${p}.downsample.1`, b.stride, 0) : null,
          };
        }),
      );
    }
  }

  /** (C, H, W) -> the maps of outIndices (C2..C5 by default). */
  forward<T>(ops: NetOps<T>, x: T): T[] {
    let h = ops.maxPool2d(ops.relu(ops.conv(this.stem, x)), 3, 2, 1);
    const outs: T[] = [];
    const last = this.outIndices[this.outIndices.length - 1] as number;
    this.stages.slice(0, last + 1).forEach((blocks, i) => {
      for (const b of blocks) {
        let y = h;
        b.convs.forEach((c, k) => {
          y = ops.conv(c, y);
          if (k < b.convs.length - 1) y = ops.relu(y);
        });
        h = ops.relu(ops.add(y, b.downsample ? ops.conv(b.downsample, h) : h));
      }
      if (this.outIndices.includes(i)) outs.push(h);
    });
    return outs;
  }
}

export const resnetKernel: BackboneKernelEntry = {
  problem(b) {
    if (!Object.hasOwn(RESNET_ARCH, String(b.depth)) || typeof b.depth !== 'number')
      return `depth must be 18, 34, 50 or 101 (got ${JSON.stringify(b.depth)})`;
    if (!isCount(b.baseChannels))
      return `baseChannels must be a positive whole number (got ${JSON.stringify(b.baseChannels)})`;
    if (b.inChannels !== undefined && !isCount(b.inChannels))
      return `inChannels must be a positive whole number (got ${JSON.stringify(b.inChannels)})`;
    const arch = RESNET_ARCH[b.depth as ResNetDepth];
    if (b.blocks !== undefined && JSON.stringify(b.blocks) !== JSON.stringify(arch.blocks)) {
      return `blocks must be ResNet-${b.depth}'s [${arch.blocks.join(', ')}] (got ${JSON.stringify(b.blocks)})`;
    }
    if (b.outIndices !== undefined) {
      try {
        resolveResNetSpec({ depth: b.depth as ResNetDepth, outIndices: b.outIndices as number[] });
      } catch {
        return `outIndices must be increasing stage indices in 0..3 (got ${JSON.stringify(b.outIndices)})`;
      }
    }
    return null;
  },
  // what is recorded: a ResNetSpec, or (files written before the model description) only depth and baseChannels
  resolve: (b) =>
    resolveResNetSpec({
      depth: b.depth as ResNetDepth,
      baseChannels: b.baseChannels as number,
      ...(b.inChannels === undefined ? {} : { inChannels: b.inChannels as number }),
      ...(b.outIndices === undefined ? {} : { outIndices: b.outIndices as number[] }),
    }),
  build: (spec, w) => new ResNetKernel(spec as ResNetSpec, w),
};
