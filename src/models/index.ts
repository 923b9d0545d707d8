export { ResNet, BasicBlock, Bottleneck, type ResNetDepth, type ResNetOptions } from './backbones/resnet.js';
export { FPN, type FPNOptions, type ExtraConvs } from './necks/fpn.js';
export { PAAHead, type PAAHeadOptions } from './heads/paa_head.js';
export { COPHead, copProbabilities, type COPHeadOptions } from './heads/cop_head.js';
export { IOPHead, iopProbabilities, IOP_BIAS_PRIOR } from './heads/iop_head.js';
export { flattenHeadOutputs, levelSizes, type HeadOutputs, type FlatHeadOutputs } from './heads/outputs.js';
export { Detector, buildHead, paaR50FpnConfig, type DetectorConfig, type NeckConfig, type HeadConfig, type HeadType } from './detector.js';
