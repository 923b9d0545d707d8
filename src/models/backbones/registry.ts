// The backbones a detector can be built on: `type` -> its entry (the config section's schema and a constructor).
// Adding a backbone is its file (a Module implementing Backbone with its resolved `spec`, and a `defineBackbone`
// entry) plus one line here; the detector, the config's `model.backbone` section and the runtime exporter read this
// list. ladet/runtime runs a backbone only where it has a kernel for its type (src/runtime/backbones.ts) and refuses
// others by name.
import { z } from 'zod';
import type { Backbone } from './backbone.js';
import { resnetBackbone } from './resnet.js';

export const BACKBONES = {
  resnet: resnetBackbone,
} as const;

export type BackboneType = keyof typeof BACKBONES;
type Entries = typeof BACKBONES;

/** The registered types, for messages. */
export const BACKBONE_TYPES = Object.keys(BACKBONES) as [BackboneType, ...BackboneType[]];

/** What an absent `type` means: configs and files from before there was a choice are ResNets. */
export const DEFAULT_BACKBONE = 'resnet' satisfies BackboneType;

type OptionsOf<K extends BackboneType> = Parameters<Entries[K]['create']>[0];

/** A backbone's settings: its type (absent = DEFAULT_BACKBONE) and its constructor's options. */
export type BackboneConfig = { [K in BackboneType]: { type?: K } & OptionsOf<K> }[BackboneType];

/** What every backbone section has besides its own options (read by src/build, not by the backbone). */
export interface CommonOptions {
  /**
   * Pretrained weights for the backbone (`.pth` or `.safetensors`: torchvision / mmdetection / mmcv / ladet names),
   * loaded when a run starts, as mmdetection's `init_cfg=Pretrained`. Absent: random init.
   */
  init?: string;
}
const Common = { init: z.string().min(1).optional() };

/** The `model.backbone` section as validated (defaults filled): one member per registered backbone. */
export type BackboneSection = { [K in BackboneType]: z.output<Entries[K]['options']> & CommonOptions }[BackboneType];
export type BackboneSectionInput = {
  [K in BackboneType]: z.input<Entries[K]['options']> & CommonOptions;
}[BackboneType];

/** The sections' schemas, in registration order (the config schema unites them). */
export const BACKBONE_SCHEMAS = Object.values(BACKBONES).map((e) => e.options.extend(Common)) as unknown as [
  z.ZodType<BackboneSection, BackboneSectionInput>,
  ...z.ZodType<BackboneSection, BackboneSectionInput>[],
];

/** The backbone `config` describes. */
export function createBackbone(config: BackboneConfig): Backbone {
  const { type = DEFAULT_BACKBONE, ...options } = config;
  if (!Object.hasOwn(BACKBONES, type))
    throw new Error(`unknown backbone type '${String(type)}' (registered: ${BACKBONE_TYPES.join(', ')})`);
  const entry = BACKBONES[type] as { create(o: typeof options): Backbone };
  return entry.create(options);
}
