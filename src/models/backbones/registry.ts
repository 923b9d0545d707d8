// The backbones a detector can be built on: `type` -> constructor (options -> Backbone). Adding a backbone is its
// file (a Module implementing Backbone, with its resolved `spec`) plus one line here; the detector, the config's
// `model.backbone.type` and the runtime exporter read this list. ladet/runtime runs a backbone only where it has
// a kernel for its type (src/runtime/backbones.ts) and refuses others by name.
import type { Backbone } from './backbone.js';
import { ResNet } from './resnet.js';

export const BACKBONES = {
  resnet: ResNet,
} as const satisfies Record<string, new (options: never) => Backbone>;

export type BackboneType = keyof typeof BACKBONES;

/** The registered types, for the config schema and messages. */
export const BACKBONE_TYPES = Object.keys(BACKBONES) as [BackboneType, ...BackboneType[]];

/** What an absent `type` means: configs and files from before there was a choice are ResNets. */
export const DEFAULT_BACKBONE = 'resnet' satisfies BackboneType;

type OptionsOf<K extends BackboneType> = ConstructorParameters<(typeof BACKBONES)[K]>[0];

/** A backbone's settings: its type (absent = DEFAULT_BACKBONE) and its constructor's options. */
export type BackboneConfig = { [K in BackboneType]: { type?: K } & OptionsOf<K> }[BackboneType];

/** The backbone `config` describes. */
export function createBackbone(config: BackboneConfig): Backbone {
  const { type = DEFAULT_BACKBONE, ...options } = config;
  if (!Object.hasOwn(BACKBONES, type))
    throw new Error(`unknown backbone type '${String(type)}' (registered: ${BACKBONE_TYPES.join(', ')})`);
  const Ctor = BACKBONES[type] as new (o: typeof options) => Backbone;
  return new Ctor(options);
}
