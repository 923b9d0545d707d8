// File formats and file writing: atomic writes, safetensors, PyTorch .pth checkpoints, ONNX models (writing).
export { writeFileAtomic } from './atomic.js';
export { findDuplicateKey, type DuplicateKey } from './json_keys.js';
export * from './safetensors_raw.js';
export * from './safetensors.js';
export {
  PthError,
  PickleGlobal,
  PickleObject,
  isPthTensor,
  parsePth,
  pickleToPlain,
  pthStateDictOf,
  readPth,
  readPthStateDict,
  serializePth,
  writePth,
  type PickleKey,
  type PickleValue,
  type PthFile,
} from './pth.js';
export {
  OnnxGraph,
  attr,
  decodeOnnxModel,
  encodeOnnxModel,
  writeOnnxModel,
  ONNX_IR_VERSION,
  type OnnxAttribute,
  type OnnxDim,
  type OnnxElemType,
  type OnnxInitializer,
  type OnnxModel,
  type OnnxNode,
  type OnnxValueInfo,
} from './onnx.js';
