// ResNet's architecture as plain data, defined once: the block table of each depth, the resolution of ResNet's
// options into its resolved description (ResNetSpec) and the list of blocks a stage holds. The libtorch ResNet
// (resnet.ts) is built from these and ladet/runtime's ResNet kernel (src/runtime/resnet.ts) runs from them, so
// this file imports nothing (no libtorch: the runtime imports it).
import type { BackboneSpec } from '../spec.js';

export type ResNetDepth = 18 | 34 | 50 | 101;

/** Per depth: basic blocks (two 3x3 convs, expansion 1) or bottlenecks (1x1-3x3-1x1, expansion 4), blocks per stage. */
export const RESNET_ARCH: Readonly<
  Record<ResNetDepth, { readonly bottleneck: boolean; readonly blocks: readonly number[] }>
> = {
  18: { bottleneck: false, blocks: [2, 2, 2, 2] },
  34: { bottleneck: false, blocks: [3, 4, 6, 3] },
  50: { bottleneck: true, blocks: [3, 4, 6, 3] },
  101: { bottleneck: true, blocks: [3, 4, 23, 3] },
};

/** Output channels over `planes` (the block's 3x3 width). */
export const BASIC_EXPANSION = 1;
export const BOTTLENECK_EXPANSION = 4;

/** The architecture part of ResNet's options (resnet.ts adds the training ones). */
export interface ResNetArchOptions {
  depth: ResNetDepth;
  /** Image channels (default 3). */
  inChannels?: number;
  /** Width of the stem and of the first stage's 3x3 convs (default 64); stage i uses baseChannels * 2^i. */
  baseChannels?: number;
  /** Scales baseChannels (default 1) for narrow presets; baseChannels * widthMultiplier must be a whole number. */
  widthMultiplier?: number;
  /** Stages whose outputs forward returns: 0..3 = C2..C5 (default all four). */
  outIndices?: readonly number[];
}

/** A resolved ResNet ("pytorch" style: the stride on the 3x3 conv; a 7x7 stride-2 stem and a 3x3 stride-2 max-pool). */
export interface ResNetSpec extends BackboneSpec {
  type: 'resnet';
  depth: ResNetDepth;
  inChannels: number;
  /** the stem width after the width multiplier; stage i's 3x3 convs are baseChannels * 2^i wide */
  baseChannels: number;
  /** RESNET_ARCH[depth] */
  bottleneck: boolean;
  blocks: number[];
  /** stages forward returns (0..3 = C2..C5, increasing) */
  outIndices: number[];
  /** output channels of each of the four stages */
  stageChannels: number[];
}

/**
 * Options (or a recorded ResNetSpec: its depth, inChannels, baseChannels and outIndices) -> the resolved spec.
 * Throws on an unknown depth, a width that is not a positive whole number or bad outIndices.
 */
export function resolveResNetSpec(o: ResNetArchOptions): ResNetSpec {
  const arch = RESNET_ARCH[o.depth];
  if (arch === undefined) throw new Error(`ResNet: depth must be one of 18, 34, 50, 101 (got ${String(o.depth)})`);
  const width = (o.baseChannels ?? 64) * (o.widthMultiplier ?? 1);
  if (!Number.isInteger(width) || width < 1) {
    throw new Error(`ResNet: baseChannels x widthMultiplier must be a positive whole number (got ${width})`);
  }
  const outIndices = [...(o.outIndices ?? [0, 1, 2, 3])];
  if (
    outIndices.length === 0 ||
    outIndices.some((i, k) => !Number.isInteger(i) || i < 0 || i > 3 || (k > 0 && i <= outIndices[k - 1]!))
  ) {
    throw new Error(`ResNet: outIndices must be increasing stage indices in 0..3 (got [${outIndices.join(', ')}])`);
  }
  const inChannels = o.inChannels ?? 3;
  if (!Number.isInteger(inChannels) || inChannels < 1)
    throw new Error(`ResNet: inChannels must be a positive whole number (got ${inChannels})`);
  const expansion = arch.bottleneck ? BOTTLENECK_EXPANSION : BASIC_EXPANSION;
  const stageChannels = arch.blocks.map((_, i) => width * 2 ** i * expansion);
  return {
    type: 'resnet',
    depth: o.depth,
    inChannels,
    baseChannels: width,
    bottleneck: arch.bottleneck,
    blocks: [...arch.blocks],
    outIndices,
    stageChannels,
    outChannels: outIndices.map((i) => stageChannels[i] as number),
    outStrides: outIndices.map((i) => 4 * 2 ** i),
  };
}

/** One residual block: `layer{stage + 1}.{index}`. */
export interface ResNetBlock {
  inChannels: number;
  /** width of the block's 3x3 conv(s) */
  planes: number;
  outChannels: number;
  /** on the first block of stages 2..4 (on its 3x3 conv) */
  stride: number;
  /** a projection shortcut (`downsample`: 1x1 conv with the stride + BN) */
  downsample: boolean;
}

/** The blocks of stage `stage` (0..3), in order. */
export function resnetStageBlocks(spec: ResNetSpec, stage: number): ResNetBlock[] {
  const planes = spec.baseChannels * 2 ** stage;
  const outChannels = spec.stageChannels[stage] as number;
  const stageIn = stage === 0 ? spec.baseChannels : (spec.stageChannels[stage - 1] as number);
  return Array.from({ length: spec.blocks[stage] as number }, (_, i) => {
    const inChannels = i === 0 ? stageIn : outChannels;
    const stride = i === 0 && stage > 0 ? 2 : 1;
    return { inChannels, planes, outChannels, stride, downsample: stride !== 1 || inChannels !== outChannels };
  });
}
