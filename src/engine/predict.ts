// Inference on arbitrary image files: each image goes through the config's test pipeline (keep-ratio resize,
// normalise, pad) via the data loader over a small in-memory dataset, one image per batch so its detections do not
// depend on which other images share a folder. Boxes come back in the original (EXIF-oriented) pixels.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { noGrad, sameDevice, tidy, type Tensor } from '../torch/index.js';
import { CocoDataset, type CocoImage } from '../data/coco.js';
import { DataLoader } from '../data/loader.js';
import { ImageError, readImageHeader, sourceName, type ImageSource } from '../data/image.js';
import { buildBatch, type RawBatch, type SampleSpec } from '../data/batch.js';
import type { ImageMeta, PipelineConfig } from '../data/transforms.js';
import type { Category } from '../data/label_map.js';
import type { AnchorConfig } from '../det/anchor_grid.js';
import { AnchorGenerator } from '../det/anchors.js';
import type { Detector } from '../models/detector.js';
import { levelSizes } from '../models/heads/outputs.js';
import { predictBatch, type ImageDetections, type InferenceConfig } from '../models/heads/paa_inference.js';
import { UsageError } from '../config/usage_error.js';
import type { Config } from '../config/schema.js';
import { anchorConfig, inferenceConfigOf, testPipelineOf } from '../build/model.js';
import { AnchorCache } from '../assign/targets.js';

/** Extensions taken from a folder (what sharp's libvips reads); a file named directly is tried whatever its name. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif'];

/** An image file, or the image files of a folder (not recursive) sorted by name. */
export function listImages(source: string): string[] {
  if (!existsSync(source)) throw new UsageError(`source not found: ${source}`);
  if (!statSync(source).isDirectory()) return [source];
  const files = readdirSync(source, { withFileTypes: true })
    .filter((e) => e.isFile() && IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase()))
    .map((e) => e.name)
    .sort();
  if (files.length === 0) throw new UsageError(`${source}: no image files (${IMAGE_EXTENSIONS.join(', ')})`);
  return files.map((f) => join(source, f));
}

export interface ImagePrediction {
  file: string;
  /** original (EXIF-oriented) size */
  width: number;
  height: number;
  /** (K·4) x1, y1, x2, y2 in original pixels, best score first */
  boxes: Float64Array;
  scores: Float32Array;
  /** class indices (into the model's class list) */
  labels: Int32Array;
}

export { toDetections, type Detection } from '../det/detection.js';

/**
 * Forward pass + PAA post-processing of one batch without autograd: images (B, 3, H, W) normalised and padded, one
 * meta per image -> each image's detections in original pixels. The tensors it makes are freed; `images` stays the
 * caller's. What evaluation, `ladet predict` and TrainedDetector all run.
 */
export function detectBatch(
  model: Detector,
  images: Tensor,
  metas: readonly ImageMeta[],
  anchors: AnchorCache,
  inference: InferenceConfig,
): ImageDetections[] {
  return tidy(() =>
    noGrad(() => {
      // the loader's images are on the CPU; a network on a GPU takes a copy there (freed with the scope)
      const out = model.forward(sameDevice(images.device, model.device) ? images : images.toDevice(model.device));
      return predictBatch(out, anchors.get(levelSizes(out)).perLevel, metas, inference);
    }),
  );
}

/**
 * A network that runs outside libtorch (an ONNX model on onnxruntime: onnx_detector.ts) in place of a Detector:
 * one normalised, padded batch (B, 3, H, W) in, each image's detections in original pixels out, through ladet's
 * shared post-processing. Its own anchors (the file's); `external` tells it from a Detector.
 */
export interface BatchDetector {
  readonly external: true;
  detect(images: Tensor, metas: readonly ImageMeta[], inference: InferenceConfig): Promise<ImageDetections[]>;
  dispose(): void;
}

/** detectBatch for a libtorch Detector, the network's own run for a BatchDetector (anchors unused there). */
export async function detectWith(
  model: Detector | BatchDetector,
  images: Tensor,
  metas: readonly ImageMeta[],
  anchors: AnchorCache,
  inference: InferenceConfig,
): Promise<ImageDetections[]> {
  if ('external' in model) return model.detect(images, metas, inference);
  return detectBatch(model, images, metas, anchors, inference);
}

/** What inference on image files reads from a config (or from an ONNX file's metadata, which records the same). */
export interface TestSettings {
  pipeline: PipelineConfig;
  inference: InferenceConfig;
  /** the network's anchors (a libtorch Detector's; a BatchDetector brings its own) */
  anchors: AnchorConfig;
  /** decoding workers (data.workers) */
  workers: number;
  device: string;
}

export function testSettingsOf(config: Config): TestSettings {
  return {
    pipeline: testPipelineOf(config),
    inference: inferenceConfigOf(config),
    anchors: anchorConfig(config.model),
    workers: config.data.workers,
    device: config.device,
  };
}

/**
 * One image (a path or encoded bytes) through a test pipeline on this thread, as a batch of one: its header read for
 * the size, then decoded, resized, normalised and padded. An image that cannot be used throws an ImageError naming it.
 */
export async function loadTestImage(image: ImageSource, pipeline: PipelineConfig): Promise<RawBatch> {
  const name = sourceName(image);
  const header = await readImageHeader(image);
  const spec: SampleSpec = {
    index: 0,
    imageId: 1,
    file: name,
    ...(typeof image === 'string' ? {} : { bytes: image }),
    width: header.width,
    height: header.height,
    boxes: new Float32Array(0),
    labels: new Int32Array(0),
    seed: 0,
  };
  const raw = await buildBatch([spec], { pipeline });
  const skipped = raw.skipped[0];
  if (skipped) throw new ImageError(name, skipped.reason);
  return raw;
}

export type PredictOptions = {
  model: Detector | BatchDetector;
  classes: readonly Category[];
  files: readonly string[];
  /** an image that cannot be read or decoded; the run goes on without it */
  onSkip: (file: string, reason: string) => void;
  onProgress?: (done: number, total: number) => void;
} & (
  | {
      /** the config the network was trained with: its test pipeline, post-processing, anchors, workers */
      config: Config;
    }
  | {
      /** or those settings themselves (an ONNX model alone: the ones its metadata records) */
      settings: TestSettings;
    }
);

/** Runs the detector over the files in order, yielding each readable image's detections. */
export async function* predictImages(o: PredictOptions): AsyncGenerator<ImagePrediction> {
  const settings = 'settings' in o ? o.settings : testSettingsOf(o.config);
  // Sizes first: the loader checks each decoded image against them, and unreadable files drop out here.
  const images: CocoImage[] = [];
  for (const [i, file] of o.files.entries()) {
    try {
      const h = await readImageHeader(file);
      images.push({ id: i + 1, fileName: file, width: h.width, height: h.height });
    } catch (e) {
      o.onSkip(file, e instanceof ImageError ? e.reason : (e as Error).message);
    }
  }
  const total = o.files.length;
  let done = total - images.length;
  if (images.length === 0) return;
  const dataset = new CocoDataset('(images)', images, [], o.classes);
  const loader = new DataLoader({
    dataset,
    imageDir: '', // file names are full paths
    batchSize: 1,
    pipeline: settings.pipeline,
    shuffle: false,
    workers: Math.min(settings.workers, images.length),
    onSkip: (s) => {
      o.onSkip(s.file, s.reason);
      o.onProgress?.(++done, total);
    },
  });
  const anchors = new AnchorCache(new AnchorGenerator(settings.anchors), settings.device);
  try {
    for await (const batch of loader.epoch(0)) {
      const [det] = await detectWith(o.model, batch.images, batch.metas, anchors, settings.inference);
      batch.images.dispose();
      const im = dataset.image(det!.imageId);
      o.onProgress?.(++done, total);
      yield {
        file: im.fileName,
        width: im.width,
        height: im.height,
        boxes: det!.boxes,
        scores: det!.scores,
        labels: det!.labels,
      };
    }
  } finally {
    await loader.close();
    anchors.dispose();
  }
}
