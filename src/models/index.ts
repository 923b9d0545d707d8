export { ResNet, BasicBlock, Bottleneck, type ResNetDepth, type ResNetOptions } from './backbones/resnet.js';
export { FPN, type FPNOptions, type ExtraConvs } from './necks/fpn.js';
export { PAAHead, type PAAHeadOptions } from './heads/paa_head.js';
export { flattenHeadOutputs, levelSizes, type HeadOutputs, type FlatHeadOutputs } from './heads/outputs.js';
export { Detector, paaR50FpnConfig, type DetectorConfig, type NeckConfig, type HeadConfig } from './detector.js';
