// The data layer's public surface: COCO datasets, images, transforms, the loader and the built-in datasets.
export { CocoDataset, CocoError, checkCocoFile, formatProblem, imagePath, readCoco, requireTrainImages, validateCoco } from './coco.js';
export type { CocoAnnotation, CocoImage, CocoProblem, Targets } from './coco.js';
export { LabelMap, type Category } from './label_map.js';
export { checkImagePixels, decodeImage, DEFAULT_MAX_IMAGE_PIXELS, encodeJpeg, encodePng, ImageError, readImageHeader, sourceName, type DecodeOptions, type ImageHeader, type ImageSource, type ResizeKernel, type RgbImage } from './image.js';
export {
  checkPipeline,
  flipBoxes,
  IMAGENET_MEAN,
  IMAGENET_STD,
  mapBoxesBack,
  padTo,
  rescaleSize,
  resizeBoxes,
  sampleScale,
  testPipeline,
  trainPipeline,
  transformBoxes,
  type ImageMeta,
  type PipelineConfig,
  type Scale,
  type Shape2,
} from './transforms.js';
export type { RawBatch, SampleSpec, SampleTargets, SkippedSample } from './batch.js';
export { DataLoader, type Batch, type LoaderOptions } from './loader.js';
export { checkDataset, formatReport, type CheckOptions, type CheckReport } from './check.js';
export { guessImageDir, imageDirCandidates } from './layout.js';
export { renderPreview, type PreviewOptions } from './preview.js';
export { mix, Rng } from './rng.js';
export { DEFAULT_PARAMS, type Generator, type GeneratorParams, type Split } from './synth/generator.js';
export { makeDataset, splitPaths, type MakeOptions, type MakeResult } from './synth/make.js';
export { GENERATORS, generator } from './synth/registry.js';
