// The training/evaluation data loader. Decoding and augmentation run in worker threads (whole batches per job),
// up to `prefetch` batches ahead; the training thread only wraps each returned buffer in a Tensor.
// Determinism: the epoch order comes from (seed, epoch) and each sample's augmentation from (seed, epoch, index),
// and batches are yielded in order, so the batch sequence is the same for any number of workers.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { tensor, type Tensor } from '../torch/index.js';
import { BufferPool } from './buffer_pool.js';
import { buildBatch, type BatchOptions, type RawBatch, type SampleSpec, type SampleTargets, type SkippedSample } from './batch.js';
import { imagePath, requireTrainImages, type CocoDataset, type CocoImage } from './coco.js';
import type { ResizeKernel } from './image.js';
import type { WorkerReply, WorkerRequest } from './loader_worker.js';
import { mix, Rng } from './rng.js';
import { checkPipeline, type ImageMeta, type PipelineConfig } from './transforms.js';

export interface LoaderOptions {
  dataset: CocoDataset;
  /**
   * Folder the images' file_name are relative to; an image leading out of it (a symlink) is refused when the loader
   * is built. '' when the file names are full paths (no folder to stay inside).
   */
  imageDir: string;
  batchSize: number;
  pipeline: PipelineConfig;
  /** Shuffle each epoch (training). Default true. */
  shuffle?: boolean;
  /** Seeds the order and the augmentation. Default 0. */
  seed?: number;
  /** Worker threads; 0 runs the pipeline on the calling thread (still asynchronous). Default min(2, cores). */
  workers?: number;
  /** Batches prepared ahead of the one being consumed, at most. Default 2 per worker. */
  prefetch?: number;
  /** Drop a last, incomplete batch. Default false. */
  dropLast?: boolean;
  /**
   * Leave out images with no training box (mmdetection's filter_empty_gt); when none is left, the constructor throws
   * naming the annotation file. Default false.
   */
  filterEmpty?: boolean;
  /** Boxes narrower or shorter than this (original pixels) are not trained on. Default 1. */
  minBoxSize?: number;
  /** Data-parallel sharding: this process takes every worldSize-th sample of the epoch order from `rank`. */
  rank?: number;
  worldSize?: number;
  /**
   * Pad the epoch order by wrapping around so every rank gets the same count, as torch's DistributedSampler
   * (training: every rank must run the same steps). Off for evaluation, where each image counts once. Default true.
   */
  padShards?: boolean;
  kernel?: ResizeKernel;
  /** Told about each image that could not be used; by default a warning on stderr, so none passes silently. */
  onSkip?: (s: SkippedSample) => void;
}

export interface Batch {
  epoch: number;
  /** Position of the batch in its epoch. */
  index: number;
  /** [N, 3, H, W] float32, normalised, zero-padded right/bottom. The caller disposes it. */
  images: Tensor;
  /** Per image: boxes [n*4] x1,y1,x2,y2 in network-input pixels, labels [n] class indices. */
  targets: SampleTargets[];
  metas: ImageMeta[];
  /** Dataset sample indices of the images. */
  indices: number[];
  /** Images of this batch that were left out. */
  skipped: SkippedSample[];
}

/** A built batch and how to hand its buffer back to the thread that filled it. */
interface Built {
  raw: RawBatch;
  recycle: (buffer: ArrayBuffer) => void;
}

interface Job {
  resolve: (b: Built) => void;
  reject: (e: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  jobs: Map<number, Job>;
  dead: Error | null;
}

export class DataLoader implements AsyncIterable<Batch> {
  /** The images the loader draws from (after filtering), in dataset order. */
  readonly images: readonly CocoImage[];
  /** Images skipped so far (corrupt, missing, wrong size). */
  skippedCount = 0;
  private readonly specs: Omit<SampleSpec, 'seed'>[];
  private readonly opts: Required<Omit<LoaderOptions, 'onSkip' | 'kernel'>> & Pick<LoaderOptions, 'onSkip' | 'kernel'>;
  private pool: PoolWorker[] | null = null;
  private readonly inlineBuffers = new BufferPool();
  private nextJob = 0;
  private nextEpoch = 0;
  private closed = false;

  constructor(options: LoaderOptions) {
    const workers = options.workers ?? Math.min(2, availableParallelism());
    this.opts = {
      shuffle: true,
      seed: 0,
      dropLast: false,
      filterEmpty: false,
      minBoxSize: 1,
      rank: 0,
      worldSize: 1,
      padShards: true,
      ...options,
      workers,
      prefetch: options.prefetch ?? Math.max(2, 2 * workers),
    };
    const o = this.opts;
    checkPipeline(o.pipeline);
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error(`DataLoader: batchSize must be a positive integer (got ${o.batchSize})`);
    if (!Number.isInteger(o.workers) || o.workers < 0) throw new Error(`DataLoader: workers must be a non-negative integer (got ${o.workers})`);
    if (!Number.isInteger(o.prefetch) || o.prefetch < 1) throw new Error(`DataLoader: prefetch must be a positive integer (got ${o.prefetch})`);
    if (!(o.worldSize >= 1 && o.rank >= 0 && o.rank < o.worldSize)) throw new Error(`DataLoader: bad rank ${o.rank} of worldSize ${o.worldSize}`);
    // Training (filterEmpty) on a split without a single usable box is an error naming the annotation file.
    this.images = o.filterEmpty ? requireTrainImages(o.dataset, { minSize: o.minBoxSize }) : o.dataset.trainImages({ minSize: o.minBoxSize });
    this.specs = this.images.map((im, index) => {
      const t = o.dataset.targets(im.id, o.minBoxSize);
      return { index, imageId: im.id, file: imagePath(o.imageDir, im), width: im.width, height: im.height, boxes: t.boxes, labels: t.labels };
    });
  }

  /** Samples this process sees per epoch. */
  get samplesPerEpoch(): number {
    const { rank, worldSize, padShards } = this.opts;
    if (padShards) return Math.ceil(this.images.length / worldSize);
    return Math.ceil(Math.max(0, this.images.length - rank) / worldSize);
  }

  /** Batches per epoch (before any batch emptied by unreadable images is dropped). */
  get length(): number {
    const n = this.samplesPerEpoch;
    return this.opts.dropLast ? Math.floor(n / this.opts.batchSize) : Math.ceil(n / this.opts.batchSize);
  }

  /** The dataset indices of an epoch, in the order this process visits them. */
  order(epoch: number): number[] {
    const { shuffle, seed, rank, worldSize, padShards } = this.opts;
    const all = this.images.map((_, i) => i);
    if (shuffle) Rng.derive(seed, epoch, 0x5f).shuffle(all);
    if (worldSize === 1) return all;
    if (!padShards) return all.filter((_, i) => i % worldSize === rank);
    // As torch's DistributedSampler: pad by wrapping around so every rank gets the same count.
    const total = this.samplesPerEpoch * worldSize;
    for (let i = 0; all.length < total; i++) all.push(all[i % this.images.length] as number);
    return all.filter((_, i) => i % worldSize === rank);
  }

  /** Iterates the next epoch (0, 1, 2, ... on successive loops). */
  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    return this.epoch(this.nextEpoch++)[Symbol.asyncIterator]();
  }

  /** The batches of one epoch, in order. Breaking out early is fine: work in flight is dropped. */
  /**
   * `startBatch` skips the first batches without loading them (resuming mid-epoch): the batches that follow are
   * the same as in an uninterrupted epoch, since order and augmentation depend only on (seed, epoch, index).
   */
  async *epoch(epoch: number, startBatch = 0): AsyncGenerator<Batch> {
    if (this.closed) throw new Error('DataLoader: closed');
    const { batchSize, dropLast, prefetch, seed } = this.opts;
    const order = this.order(epoch);
    const plan: SampleSpec[][] = [];
    for (let i = 0; i < order.length; i += batchSize) {
      const chunk = order.slice(i, i + batchSize);
      if (chunk.length < batchSize && dropLast) break;
      plan.push(chunk.map((idx) => ({ ...(this.specs[idx] as Omit<SampleSpec, 'seed'>), seed: mix(seed, epoch, idx) })));
    }
    const pending = new Map<number, Promise<Built>>();
    let dispatched = startBatch;
    try {
      for (let b = startBatch; b < plan.length; b++) {
        while (dispatched < plan.length && dispatched - b < prefetch) {
          const p = this.run(plan[dispatched] as SampleSpec[]);
          p.catch(() => undefined); // awaited below; this keeps an abandoned one from being an unhandled rejection
          pending.set(dispatched++, p);
        }
        const { raw, recycle } = await (pending.get(b) as Promise<Built>);
        pending.delete(b);
        for (const s of raw.skipped) this.reportSkip(s);
        if (raw.metas.length === 0) continue;
        const images = tensor(raw.data, raw.shape); // a copy: the buffer can go back
        recycle(raw.data.buffer as ArrayBuffer);
        yield {
          epoch,
          index: b,
          images,
          targets: raw.targets,
          metas: raw.metas,
          indices: raw.indices,
          skipped: raw.skipped,
        };
      }
    } finally {
      pending.clear();
    }
  }

  /** Stops the workers; pending batches fail. Safe to call more than once. */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = null;
    if (!pool) return;
    for (const w of pool) failAll(w, new Error('DataLoader: closed'));
    await Promise.all(pool.map((w) => w.worker.terminate()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private reportSkip(s: SkippedSample): void {
    this.skippedCount++;
    if (this.opts.onSkip) this.opts.onSkip(s);
    else process.stderr.write(`ladet: skipped image ${s.file} (image id ${s.imageId}): ${s.reason}\n`);
  }

  private options(): BatchOptions {
    return this.opts.kernel ? { pipeline: this.opts.pipeline, kernel: this.opts.kernel } : { pipeline: this.opts.pipeline };
  }

  private run(specs: SampleSpec[]): Promise<Built> {
    if (this.opts.workers === 0) {
      const buffers = this.inlineBuffers;
      return buildBatch(specs, this.options(), (n) => buffers.take(n)).then((raw) => ({ raw, recycle: (b) => buffers.give(b) }));
    }
    const pool = this.startPool();
    // The least busy worker; which one builds a batch does not change its content.
    let w = pool[0] as PoolWorker;
    for (const c of pool) if (c.jobs.size < w.jobs.size) w = c;
    if (w.dead) return Promise.reject(w.dead);
    const id = this.nextJob++;
    return new Promise<Built>((resolve, reject) => {
      w.jobs.set(id, { resolve, reject });
      w.worker.ref();
      w.worker.postMessage({ type: 'batch', id, specs } satisfies WorkerRequest);
    });
  }

  private startPool(): PoolWorker[] {
    if (this.closed) throw new Error('DataLoader: closed');
    if (this.pool) return this.pool;
    const pool: PoolWorker[] = [];
    for (let i = 0; i < this.opts.workers; i++) {
      const worker = new Worker(new URL('./loader_worker.js', import.meta.url));
      const pw: PoolWorker = { worker, jobs: new Map(), dead: null };
      worker.on('message', (msg: WorkerReply) => {
        const job = pw.jobs.get(msg.id);
        if (!job) return;
        pw.jobs.delete(msg.id);
        if (pw.jobs.size === 0) worker.unref();
        const recycle = (buffer: ArrayBuffer): void => {
          if (!pw.dead) worker.postMessage({ type: 'recycle', buffer } satisfies WorkerRequest, [buffer]);
        };
        if (msg.type === 'batch') job.resolve({ raw: msg.batch, recycle });
        else job.reject(new Error(`data loader worker: ${msg.message}`));
      });
      worker.on('error', (e) => failAll(pw, new Error(`data loader worker crashed: ${e.message}`)));
      worker.on('exit', (code) => failAll(pw, new Error(`data loader worker exited (code ${code})`)));
      // An idle loader must not keep the process alive; a worker is ref'd only while it has jobs.
      worker.unref();
      worker.postMessage({ type: 'init', options: this.options() } satisfies WorkerRequest);
      pool.push(pw);
    }
    this.pool = pool;
    return pool;
  }
}

function failAll(w: PoolWorker, e: Error): void {
  if (!w.dead) w.dead = e;
  for (const job of w.jobs.values()) job.reject(e);
  w.jobs.clear();
}
