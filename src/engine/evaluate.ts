// Evaluation: run a detector over a split, collect COCO results (category ids, [x, y, w, h] in original pixels)
// and score them with ladet's COCO evaluator.
import type { Detector } from '../models/detector.js';
import type { ImageDetections, InferenceConfig } from '../models/heads/paa_inference.js';
import { detectWith, type BatchDetector } from './predict.js';
import { DataLoader } from '../data/loader.js';
import type { CocoDataset } from '../data/coco.js';
import type { PipelineConfig } from '../data/transforms.js';
import { evaluateCoco, readCocoGt, type CocoDetection, type CocoEvalResult } from '../eval/index.js';
import type { AnchorCache } from '../assign/targets.js';

export interface EvalRun {
  results: CocoDetection[];
  coco: CocoEvalResult;
  /** images evaluated / skipped as unreadable */
  images: number;
  skipped: number;
  seconds: number;
}

export interface EvalOptions {
  /** a libtorch network, or one run elsewhere (an ONNX model on onnxruntime) */
  model: Detector | BatchDetector;
  dataset: CocoDataset;
  annotations: string;
  imageDir: string;
  pipeline: PipelineConfig;
  anchors: AnchorCache;
  inference: InferenceConfig;
  batchSize: number;
  workers: number;
  /** category id of each label of the model; default: the dataset's own categories (a model trained on it) */
  categoryIds?: readonly number[];
  onBatch?: (done: number, total: number) => void;
  /**
   * Data parallelism: this process runs the images `rank`, `rank + worldSize`, ... and the results of every rank
   * are gathered before scoring, so every rank returns the numbers of one process over the whole split.
   */
  shard?: EvalShard;
}

/** What sharded evaluation needs of a process group (engine/ddp.ts DataParallel). */
export interface EvalShard {
  rank: number;
  worldSize: number;
  /** every rank's array (any length), by rank */
  allGatherF64(local: Float64Array): Float64Array[];
}

// a COCO result as numbers for gathering: position of its image in the split, category, box, score
const FIELDS = 7;

/** `images`: the split in order (the loader's); results are gathered by their image's position in it. */
function gatherResults(
  shard: EvalShard,
  local: readonly CocoDetection[],
  images: readonly { id: number }[],
  counts: { images: number; skipped: number },
): { results: CocoDetection[]; images: number; skipped: number } {
  const position = new Map(images.map((im, i) => [im.id, i]));
  const flat = new Float64Array(2 + FIELDS * local.length);
  flat[0] = counts.images;
  flat[1] = counts.skipped;
  local.forEach((r, i) => {
    const o = 2 + FIELDS * i;
    flat[o] = position.get(r.image_id) as number;
    flat[o + 1] = r.category_id;
    flat[o + 2] = r.bbox[0];
    flat[o + 3] = r.bbox[1];
    flat[o + 4] = r.bbox[2];
    flat[o + 5] = r.bbox[3];
    flat[o + 6] = r.score;
  });
  const all = shard.allGatherF64(flat);
  const merged: { pos: number; r: CocoDetection }[] = [];
  let evaluated = 0;
  let skipped = 0;
  for (const f of all) {
    evaluated += f[0] as number;
    skipped += f[1] as number;
    for (let o = 2; o + FIELDS <= f.length; o += FIELDS) {
      const pos = f[o] as number;
      const bbox = [f[o + 2], f[o + 3], f[o + 4], f[o + 5]] as [number, number, number, number];
      merged.push({
        pos,
        r: { image_id: images[pos]?.id as number, category_id: f[o + 1] as number, bbox, score: f[o + 6] as number },
      });
    }
  }
  // one process's order: images in split order, each image's results as it listed them (a stable sort)
  merged.sort((a, b) => a.pos - b.pos);
  return { results: merged.map((m) => m.r), images: evaluated, skipped };
}

export function toCocoResults(dets: readonly ImageDetections[], categoryIds: readonly number[]): CocoDetection[] {
  const out: CocoDetection[] = [];
  for (const d of dets) {
    for (let k = 0; k < d.scores.length; k++) {
      const x1 = d.boxes[4 * k] as number;
      const y1 = d.boxes[4 * k + 1] as number;
      const x2 = d.boxes[4 * k + 2] as number;
      const y2 = d.boxes[4 * k + 3] as number;
      out.push({
        image_id: d.imageId,
        category_id: categoryIds[d.labels[k] as number] as number,
        bbox: [round(x1), round(y1), round(x2 - x1), round(y2 - y1)],
        score: round(d.scores[k] as number),
      });
    }
  }
  return out;
}

// Results files stay readable; 1e-4 px / score is far below what evaluation can resolve.
function round(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}

/** Runs the model in eval mode over the split and evaluates it. Restores a libtorch model's previous mode. */
export async function evaluateDetector(o: EvalOptions): Promise<EvalRun> {
  const t0 = performance.now();
  const torchModel = 'external' in o.model ? null : o.model;
  const wasTraining = torchModel?.training ?? false;
  torchModel?.eval();
  const loader = new DataLoader({
    dataset: o.dataset,
    imageDir: o.imageDir,
    batchSize: o.batchSize,
    pipeline: o.pipeline,
    shuffle: false,
    workers: o.workers,
    // sharded: every worldSize-th image from rank, no padding (each image evaluated once)
    rank: o.shard?.rank ?? 0,
    worldSize: o.shard?.worldSize ?? 1,
    padShards: false,
  });
  const dets: ImageDetections[] = [];
  let skipped = 0;
  let done = 0;
  try {
    for await (const batch of loader.epoch(0)) {
      skipped += batch.skipped.length;
      const batchDets = await detectWith(o.model, batch.images, batch.metas, o.anchors, o.inference);
      batch.images.dispose();
      dets.push(...batchDets);
      done++;
      o.onBatch?.(done, loader.length);
    }
  } finally {
    await loader.close();
    torchModel?.train(wasTraining);
  }
  const gt = readCocoGt(o.annotations);
  // as pycocotools, only the ground truth's categories are scored (a model may know more classes than a test set)
  let results = toCocoResults(dets, o.categoryIds ?? o.dataset.labels.categoryIds).filter((r) =>
    gt.categoryIndex.has(r.category_id),
  );
  let images = dets.length;
  if (o.shard !== undefined && o.shard.worldSize > 1) {
    ({ results, images, skipped } = gatherResults(o.shard, results, loader.images, { images, skipped }));
  }
  const coco = evaluateCoco(gt, results, { imageIds: o.dataset.images.map((im) => im.id) });
  return { results, coco, images, skipped, seconds: (performance.now() - t0) / 1000 };
}
