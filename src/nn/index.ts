export { Module, type Layer, type StateDict, type LoadResult } from './module.js';
export * from './layers.js';
export { convBn } from './conv_bn.js';
export { ConvModule, type ConvModuleOptions, type ConvNorm } from './conv_module.js';
export * as init from './init.js';
export { biasInitWithProb } from './init.js';
