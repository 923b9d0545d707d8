// The high-level API: train a detector from a config, then open it and detect objects in images.
export { trainDetector, type TrainDetectorOptions } from './train_detector.js';
export { TrainedDetector, type DetectOptions, type OpenDetectorOptions } from './trained_detector.js';
export type { Detection } from '../engine/predict.js';
export type { OnnxExportOptions } from '../engine/export_onnx.js';
export type { TrainProgress, TrainSummary } from '../engine/trainer.js';
export type { EvalRun } from '../engine/evaluate.js';
export { loadConfig, parseConfig, ConfigSchema, type Config, type ConfigInput } from '../config/schema.js';
export { ImageError, type ImageSource } from '../data/image.js';
