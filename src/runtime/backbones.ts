// The backbones ladet/runtime can run: backbone type (the model registry's key, src/models/backbones/registry.ts)
// -> its kernel. A type without a kernel here is refused by name when a model file is read (and by `ladet export`).
// A kernel reads its weights at build and writes its forward pass in NetOps, so the same kernel runs the backbone in
// ladet/runtime and writes it into an ONNX graph: adding a backbone is its kernel file plus one line below.
import type { BackboneSpec } from '../models/spec.js';
import type { NetOps } from './net_ops.js';
import type { Weights } from './weights.js';
import { resnetKernel } from './resnet.js';

export interface BackboneKernel {
  /**
   * image (C, H, W) -> the backbone's feature maps (spec.outChannels), finest first, in `ops` (net_ops.ts): computed
   * by the runtime, recorded by the ONNX exporter.
   */
  forward<T>(ops: NetOps<T>, x: T): T[];
}

export interface BackboneKernelEntry {
  /** The first problem with a recorded `network.backbone` (field names relative to it), or null. */
  problem(recorded: Record<string, unknown>): string | null;
  /** A recorded `network.backbone` that passed `problem` -> the resolved spec. */
  resolve(recorded: Record<string, unknown>): BackboneSpec;
  build(spec: BackboneSpec, w: Weights): BackboneKernel;
}

export const RUNTIME_BACKBONES: Readonly<Record<string, BackboneKernelEntry>> = {
  resnet: resnetKernel,
};

/** What an absent `network.backbone.type` means: files from before there was a choice hold ResNets. */
export const DEFAULT_RUNTIME_BACKBONE = 'resnet';

/** The kernel of a recorded backbone, or a message naming its type. */
export function backboneKernel(recorded: { type?: unknown }): BackboneKernelEntry | string {
  const type = recorded.type ?? DEFAULT_RUNTIME_BACKBONE;
  if (typeof type === 'string' && Object.hasOwn(RUNTIME_BACKBONES, type))
    return RUNTIME_BACKBONES[type] as BackboneKernelEntry;
  return `backbone type ${JSON.stringify(type)} has no ladet/runtime kernel (it runs: ${Object.keys(RUNTIME_BACKBONES).join(', ')})`;
}
