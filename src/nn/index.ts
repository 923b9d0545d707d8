export { Module, type Layer, type StateDict, type LoadResult } from './module.js';
export * from './layers.js';
export * as init from './init.js';
export { biasInitWithProb } from './init.js';
