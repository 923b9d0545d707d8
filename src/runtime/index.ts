// ladet/runtime: run a model exported by `ladet export` with nothing but TypeScript (browsers, workers, any Node
// without the native addon). Importing this entry point loads no libtorch and no Node built-in module.
export {
  RuntimeDetector,
  prepareImage,
  detectionsFromOutputs,
  type PreparedImage,
  type RuntimeDetection,
  type RuntimeImage,
} from './detector.js';
export type { LevelOutputs } from './postprocess.js';
export { onnxMetadata, onnxRuntimeSpec, ONNX_SPEC_KEY } from './onnx_spec.js';
export {
  parseRuntimeModel,
  parseRuntimeSpec,
  runtimeSpecProblem,
  RUNTIME_FORMAT,
  RUNTIME_VERSION,
  type RuntimeModel,
  type RuntimeSpec,
} from './model_file.js';
export {
  Network,
  resolveNetworkSpec,
  type LegacyNetworkSpec,
  type LevelMaps,
  type NetworkSpec,
  type StateDict,
  type WeightTensor,
} from './network.js';
export { RUNTIME_BACKBONES, type BackboneKernel, type BackboneKernelEntry } from './backbones.js';
export type { ModelSpec, BackboneSpec, NeckSpec, HeadSpec } from '../models/spec.js';
export { resizeBilinear } from './resize.js';
export type { FMap } from './ops.js';
