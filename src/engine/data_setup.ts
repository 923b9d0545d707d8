// Opening a config's dataset: make the built-in one on first use, read and validate the split, apply limits.
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { CocoDataset, readCoco, requireTrainImages } from '../data/coco.js';
import { makeDataset } from '../data/synth/make.js';
import { DataLoader, type LoaderOptions } from '../data/loader.js';
import { trainPipelineOf } from '../build/model.js';
import type { Config } from '../config/schema.js';

export interface OpenSplit {
  dataset: CocoDataset;
  annotations: string;
  images: string;
}

export type DataPathKey = 'trainAnn' | 'valAnn' | 'trainImages' | 'valImages';

/**
 * The file or folder of a data path key: a relative value lies under data.root, an absolute one is used as it is
 * (as path.resolve would, and as most tools do; data.root then does not apply to that key).
 */
export function dataPath(data: Config['data'], key: DataPathKey): string {
  const p = data[key];
  return isAbsolute(p) ? p : join(data.root, p);
}

/** The config key a missing data path is fixed with: data.root for a relative value, else the key itself. */
export function dataPathKey(data: Config['data'], key: DataPathKey): string {
  return isAbsolute(data[key]) ? `data.${key}` : 'data.root';
}

/**
 * Makes the built-in dataset under data.root when its annotation files are missing (or waits for another process
 * making it, telling `onMessage`).
 */
export async function ensureDataset(
  config: Config,
  onProgress?: (done: number, total: number) => void,
  onMessage?: (line: string) => void,
): Promise<void> {
  const d = config.data;
  const train = dataPath(d, 'trainAnn');
  const val = dataPath(d, 'valAnn');
  if (existsSync(train) && existsSync(val)) return;
  const key: DataPathKey = existsSync(train) ? 'valAnn' : 'trainAnn';
  if (d.builtin === undefined || isAbsolute(d[key])) {
    const hint =
      d.builtin === undefined
        ? 'set data.builtin to make a built-in dataset there'
        : `a built-in dataset is made under data.root, not at an absolute data.${key}`;
    throw new Error(`${dataPathKey(d, key)}: ${dataPath(d, key)} not found (${hint})`);
  }
  const { seed, ...params } = d.builtinArgs as Record<string, number | string | boolean>;
  await makeDataset(d.builtin, {
    out: d.root,
    seed: typeof seed === 'number' ? seed : 0,
    params: params as never,
    ...(onProgress ? { onProgress } : {}),
    ...(onMessage ? { onWait: onMessage } : {}),
  });
}

/**
 * Reads one split; `limit` > 0 keeps only the first `limit` images (and their annotations). The train split must
 * hold at least one image with a usable box: otherwise a CocoError naming the annotation file, here, before any
 * model is built (the trainer's DataLoader with filterEmpty checks the same).
 */
export function openSplit(config: Config, split: 'train' | 'val'): OpenSplit {
  const d = config.data;
  const annotations = dataPath(d, split === 'train' ? 'trainAnn' : 'valAnn');
  const images = dataPath(d, split === 'train' ? 'trainImages' : 'valImages');
  const full = readCoco(annotations);
  const limit = split === 'train' ? d.trainLimit : d.valLimit;
  const limited = limit > 0 && limit < full.images.length;
  const dataset = limited ? subset(full, limit) : full;
  if (split === 'train') {
    requireTrainImages(
      dataset,
      limited ? { subsetOf: { images: full.images.length, key: `data.trainLimit=${limit}` } } : {},
    );
  }
  return { dataset, annotations, images };
}

export function subset(ds: CocoDataset, n: number): CocoDataset {
  const images = ds.images.slice(0, n);
  const ids = new Set(images.map((im) => im.id));
  return new CocoDataset(
    ds.file,
    images,
    ds.annotations.filter((a) => ids.has(a.imageId)),
    ds.categories,
    ds.problems,
  );
}

/**
 * The training loader of a config's train split (openSplit): its batch size, augmentation pipeline, seed and
 * workers, images without a usable box left out; `more` adds options or replaces these (sharding, onSkip, workers).
 */
export function trainLoader(config: Config, train: OpenSplit, more: Partial<LoaderOptions> = {}): DataLoader {
  return new DataLoader({
    dataset: train.dataset,
    imageDir: train.images,
    batchSize: config.data.batchSize,
    pipeline: trainPipelineOf(config),
    seed: config.seed,
    workers: config.data.workers,
    filterEmpty: true,
    ...more,
  });
}
