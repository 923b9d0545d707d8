// What the neck and the detector need of a backbone, whichever it is: feature maps of known channels and strides,
// and its resolved description (`spec`, plain data: what exporters record and ladet/runtime runs). A backbone is a
// Module whose parameters sit under `backbone.` in the detector's state dict. The implementations are listed in
// registry.ts (type -> constructor).
import type { z } from 'zod';
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

/**
 * One backbone type, as registry.ts lists it. `options`: its config section (a strict zod object whose `type` is an
 * optional literal: configs written before there was a choice leave it out), with the defaults a config gets;
 * `create`: the module from constructor options (the section's output, or options written in code).
 */
export interface BackboneEntry<O, S extends z.ZodObject> {
  options: S;
  create(options: O): Backbone;
}

/** Types an entry: the section's output must be valid constructor options. */
export function defineBackbone<O, S extends z.ZodObject & z.ZodType<O & { type?: string }>>(
  entry: BackboneEntry<O, S>,
): BackboneEntry<O, S> {
  return entry;
}
