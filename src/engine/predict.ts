// Inference on arbitrary image files: each image goes through the config's test pipeline (keep-ratio resize,
// normalise, pad) via the data loader over a small in-memory dataset, one image per batch so its detections do not
// depend on which other images share a folder. Boxes come back in the original (EXIF-oriented) pixels.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { noGrad, tidy } from '../torch/index.js';
import { CocoDataset, type CocoImage } from '../data/coco.js';
import { DataLoader } from '../data/loader.js';
import { ImageError, readImageHeader } from '../data/image.js';
import type { Category } from '../data/label-map.js';
import type { Detector } from '../models/detector.js';
import { levelSizes } from '../models/heads/outputs.js';
import { predictBatch } from '../models/heads/paa_inference.js';
import { UsageError } from '../cli/args.js';
import type { Config } from './config.js';
import { buildAnchorGenerator, inferenceConfigOf, testPipelineOf } from './build.js';
import { AnchorCache } from './targets.js';

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

export interface PredictOptions {
  model: Detector;
  config: Config;
  classes: readonly Category[];
  files: readonly string[];
  /** an image that cannot be read or decoded; the run goes on without it */
  onSkip: (file: string, reason: string) => void;
  onProgress?: (done: number, total: number) => void;
}

/** Runs the detector over the files in order, yielding each readable image's detections. */
export async function* predictImages(o: PredictOptions): AsyncGenerator<ImagePrediction> {
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
    pipeline: testPipelineOf(o.config),
    shuffle: false,
    workers: Math.min(o.config.data.workers, images.length),
    onSkip: (s) => {
      o.onSkip(s.file, s.reason);
      o.onProgress?.(++done, total);
    },
  });
  const anchors = new AnchorCache(buildAnchorGenerator(o.config.model), o.config.device);
  const inference = inferenceConfigOf(o.config);
  try {
    for await (const batch of loader.epoch(0)) {
      const [det] = tidy(() =>
        noGrad(() => {
          const out = o.model.forward(batch.images);
          return predictBatch(out, anchors.get(levelSizes(out)).perLevel, batch.metas, inference);
        }),
      );
      batch.images.dispose();
      const im = dataset.image(det!.imageId);
      o.onProgress?.(++done, total);
      yield { file: im.fileName, width: im.width, height: im.height, boxes: det!.boxes, scores: det!.scores, labels: det!.labels };
    }
  } finally {
    await loader.close();
    anchors.dispose();
  }
}
