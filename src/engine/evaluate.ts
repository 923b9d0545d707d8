// Evaluation: run a detector over a split, collect COCO results (category ids, [x, y, w, h] in original pixels)
// and score them with ladet's COCO evaluator.
import type { Detector } from '../models/detector.js';
import type { ImageDetections, InferenceConfig } from '../models/heads/paa_inference.js';
import { detectBatch } from './predict.js';
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
  model: Detector;
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

/** Runs the model in eval mode over the split and evaluates it. Restores the model's previous mode. */
export async function evaluateDetector(o: EvalOptions): Promise<EvalRun> {
  const t0 = performance.now();
  const wasTraining = o.model.training;
  o.model.eval();
  const loader = new DataLoader({
    dataset: o.dataset,
    imageDir: o.imageDir,
    batchSize: o.batchSize,
    pipeline: o.pipeline,
    shuffle: false,
    workers: o.workers,
  });
  const dets: ImageDetections[] = [];
  let skipped = 0;
  let done = 0;
  try {
    for await (const batch of loader.epoch(0)) {
      skipped += batch.skipped.length;
      const batchDets = detectBatch(o.model, batch.images, batch.metas, o.anchors, o.inference);
      batch.images.dispose();
      dets.push(...batchDets);
      done++;
      o.onBatch?.(done, loader.length);
    }
  } finally {
    await loader.close();
    o.model.train(wasTraining);
  }
  const gt = readCocoGt(o.annotations);
  // as pycocotools, only the ground truth's categories are scored (a model may know more classes than a test set)
  const results = toCocoResults(dets, o.categoryIds ?? o.dataset.labels.categoryIds).filter((r) =>
    gt.categoryIndex.has(r.category_id),
  );
  const coco = evaluateCoco(gt, results, { imageIds: o.dataset.images.map((im) => im.id) });
  return { results, coco, images: dets.length, skipped, seconds: (performance.now() - t0) / 1000 };
}
