// What the neck and the detector need of a backbone, whichever it is: feature maps of known channels and strides,
// and its resolved description (`spec`, plain data: what exporters record and ladet/runtime runs). A backbone is a
// Module whose parameters sit under `backbone.` in the detector's state dict. The implementations are listed in
// registry.ts (type -> constructor).
import type { Tensor } from '../../torch/index.js';
import type { Module } from '../../nn/index.js';
import type { BackboneSpec } from '../spec.js';

export interface Backbone extends Module {
  /** The resolved description; `spec.type` is the backbone's registry key. */
  readonly spec: BackboneSpec;
  /** Channels of the feature maps forward returns, in order (spec.outChannels). */
  readonly outChannels: readonly number[];
  /** Their strides in input pixels, finest first (spec.outStrides). */
  readonly outStrides: readonly number[];
  /** images (N, C, H, W) -> the feature maps, finest first (owned by the caller). */
  forward(images: Tensor): Tensor[];
}
