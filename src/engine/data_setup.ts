// Opening a config's dataset: make the built-in one on first use, read and validate the split, apply limits.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CocoDataset, readCoco } from '../data/coco.js';
import { makeDataset } from '../data/synth/make.js';
import type { Config } from './config.js';

export interface OpenSplit {
  dataset: CocoDataset;
  annotations: string;
  images: string;
}

/** Makes the built-in dataset under data.root when its annotation files are missing. */
export async function ensureDataset(config: Config, onProgress?: (done: number, total: number) => void): Promise<void> {
  const d = config.data;
  const train = join(d.root, d.trainAnn);
  const val = join(d.root, d.valAnn);
  if (existsSync(train) && existsSync(val)) return;
  if (d.builtin === undefined) {
    throw new Error(`data.root: ${existsSync(train) ? val : train} not found (set data.builtin to make a built-in dataset there)`);
  }
  const { seed, ...params } = d.builtinArgs as Record<string, number | string | boolean>;
  await makeDataset(d.builtin, {
    out: d.root,
    seed: typeof seed === 'number' ? seed : 0,
    params: params as never,
    ...(onProgress ? { onProgress } : {}),
  });
}

/** Reads one split; `limit` > 0 keeps only the first `limit` images (and their annotations). */
export function openSplit(config: Config, split: 'train' | 'val'): OpenSplit {
  const d = config.data;
  const annotations = join(d.root, split === 'train' ? d.trainAnn : d.valAnn);
  const images = join(d.root, split === 'train' ? d.trainImages : d.valImages);
  const full = readCoco(annotations);
  const limit = split === 'train' ? d.trainLimit : d.valLimit;
  const dataset = limit > 0 && limit < full.images.length ? subset(full, limit) : full;
  return { dataset, annotations, images };
}

export function subset(ds: CocoDataset, n: number): CocoDataset {
  const images = ds.images.slice(0, n);
  const ids = new Set(images.map((im) => im.id));
  return new CocoDataset(ds.file, images, ds.annotations.filter((a) => ids.has(a.imageId)), ds.categories, ds.problems);
}
