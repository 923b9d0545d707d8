export {
  ResNet,
  BasicBlock,
  Bottleneck,
  type ResNetDepth,
  type ResNetOptions,
  type ResNetSpec,
} from './backbones/resnet.js';
export {
  RESNET_ARCH,
  resolveResNetSpec,
  resnetStageBlocks,
  type ResNetArchOptions,
  type ResNetBlock,
} from './backbones/resnet_spec.js';
export type { Backbone } from './backbones/backbone.js';
export {
  BACKBONES,
  BACKBONE_TYPES,
  DEFAULT_BACKBONE,
  BACKBONE_SCHEMAS,
  createBackbone,
  type BackboneConfig,
  type BackboneType,
} from './backbones/registry.js';
export { pyramidStrides, type ModelSpec, type BackboneSpec, type NeckSpec, type HeadSpec } from './spec.js';
export { FPN, type FPNOptions, type ExtraConvs } from './necks/fpn.js';
export { NECKS, createNeck, type Neck } from './necks/registry.js';
export { HEADS, HEAD_TYPES, createHead, type HeadOptions } from './heads/registry.js';
export { PAAHead, type PAAHeadOptions } from './heads/paa_head.js';
export { COPHead, copProbabilities, type COPHeadOptions } from './heads/cop_head.js';
export { IOPHead, iopProbabilities, IOP_BIAS_PRIOR } from './heads/iop_head.js';
export { flattenHeadOutputs, levelSizes, type HeadOutputs, type FlatHeadOutputs } from './heads/outputs.js';
export {
  Detector,
  headSpecOf,
  neckSpecOf,
  paaR50FpnConfig,
  type DetectorConfig,
  type NeckConfig,
  type HeadConfig,
  type HeadType,
} from './detector.js';
