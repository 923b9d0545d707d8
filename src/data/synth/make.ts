// `ladet data make`: writes a built-in dataset as an ordinary COCO dataset:
//   OUT/train/000001.png ...          OUT/annotations/instances_train.json
//   OUT/val/000001.png ...            OUT/annotations/instances_val.json
//   OUT/ladet-dataset.json            (what made it: generator, seed, parameters; written last)
// Canvases are rendered by worker threads in chunks; the JSON is assembled in index order, so the files are the
// same for a seed whatever the number of workers. OUT is locked while it is made: a second maker (two trainings
// started on one built-in dataset at once) waits for the first, then finds its dataset made.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { writeFileAtomic } from '../../io/atomic.js';
import { LOCK_FILE, lockOwner, lockRunDir, RunLockedError, type RunLock } from '../../io/run_lock.js';
import { checkParams, DEFAULT_PARAMS, type GeneratorParams, type Split } from './generator.js';
import type { MakeWorkerReply } from './make_worker.js';
import { generator } from './registry.js';
import { canvasFileName, renderRange, type RangeRequest, type RangeResult } from './render_range.js';

export const MANIFEST = 'ladet-dataset.json';
/** Bumped whenever the same seed and parameters would draw different pixels or boxes. */
export const GENERATOR_VERSION = 1;
const SPLITS: readonly Split[] = ['train', 'val'];
const CHUNK = 50;
/** How often a maker waiting for another one looks again (ms). */
const WAIT_POLL_MS = 500;

export interface MakeOptions {
  out: string;
  seed?: number;
  params?: Partial<GeneratorParams>;
  /** Worker threads; 0 renders on the calling thread. Default min(2, cores). */
  workers?: number;
  /** Replace a dataset made with other settings. */
  force?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Told once when another process (or call) is making OUT and this one waits for it. */
  onWait?: (line: string) => void;
}

export interface SplitFiles {
  annotations: string;
  images: string;
  canvases: number;
  boxes: number;
}

export interface MakeResult {
  out: string;
  /** False when OUT already held this exact dataset. */
  made: boolean;
  splits: Record<Split, SplitFiles>;
}

interface Manifest {
  generator: string;
  version: number;
  seed: number;
  params: GeneratorParams;
  classes: readonly string[];
  splits: Record<Split, { canvases: number; boxes: number }>;
}

/** The annotation file and image folder of a split under `out`. */
export function splitPaths(out: string, split: Split): { annotations: string; images: string } {
  return { annotations: join(out, 'annotations', `instances_${split}.json`), images: join(out, split) };
}

export async function makeDataset(name: string, opts: MakeOptions): Promise<MakeResult> {
  const gen = generator(name);
  const missing = gen.missing();
  if (missing) throw new Error(`cannot make ${name}: ${missing}`);
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative integer (got ${seed})`);
  const params: GeneratorParams = { ...DEFAULT_PARAMS, ...opts.params };
  checkParams(params);
  const out = opts.out;
  const want = { generator: name, version: GENERATOR_VERSION, seed, params, classes: gen.classes };
  const ready = (): MakeResult | null => {
    const previous = readManifest(out);
    if (previous && sameSettings(previous, want) && SPLITS.every((s) => existsSync(splitPaths(out, s).annotations)))
      return { out, made: false, splits: splitResult(out, previous.splits) };
    return null;
  };
  // already made: no lock (a finished dataset may sit on a read-only disk); else made once, whoever asks first
  const before = ready();
  if (before) return before;
  const lock = await lockOut(out, opts.onWait);
  try {
    return ready() ?? (await makeLocked(want, opts));
  } finally {
    lock.release();
  }
}

/** Takes OUT's lock, waiting while another maker holds it (a maker that died leaves a lock the next one takes over). */
async function lockOut(out: string, onWait: MakeOptions['onWait']): Promise<RunLock> {
  let told = false;
  for (;;) {
    try {
      return lockRunDir(out, 'ladet data make');
    } catch (e) {
      if (!(e instanceof RunLockedError)) throw e;
      const owner = lockOwner(out);
      if (!told && owner) {
        onWait?.(`waiting for ${owner.what} (pid ${owner.pid} on ${owner.host}) to finish making ${out}`);
        told = true;
      }
    }
    await new Promise((res) => setTimeout(res, WAIT_POLL_MS));
  }
}

/** Makes the dataset `want` describes in opts.out, which this process has locked. */
async function makeLocked(want: Omit<Manifest, 'splits'>, opts: MakeOptions): Promise<MakeResult> {
  const { generator: name, seed, params } = want;
  const out = opts.out;
  const previous = readManifest(out);
  if (existsSync(out) && readdirSync(out).some((f) => f !== LOCK_FILE)) {
    if (!opts.force) {
      const what = previous ? `a ${previous.generator} dataset made with other settings` : 'files that are not a ladet dataset';
      throw new Error(`${out} already holds ${what}; choose another out=DIR or pass force=true to replace it`);
    }
    // only a folder with make's manifest is make's to replace: a user's own COCO folders (train/, annotations/)
    // look the same, and force=true must never delete those
    if (!previous) throw new Error(`${out} holds files that are not a ladet dataset (no ${MANIFEST}); force=true only replaces a ladet dataset`);
    // Only what make writes is removed: never anything else a user keeps there.
    for (const p of [join(out, MANIFEST), join(out, 'annotations'), ...SPLITS.map((s) => join(out, s))]) rmSync(p, { recursive: true, force: true });
  }

  const total = params.train + params.val;
  let done = 0;
  const counts = {} as Record<Split, { canvases: number; boxes: number }>;
  const pool = new RenderPool(opts.workers ?? Math.min(2, availableParallelism()));
  try {
    for (const split of SPLITS) {
      const n = params[split];
      const { annotations, images } = splitPaths(out, split);
      mkdirSync(images, { recursive: true });
      const requests: RangeRequest[] = [];
      for (let start = 0; start < n; start += CHUNK) {
        requests.push({ generator: name, split, seed, params, imageDir: images, start, end: Math.min(n, start + CHUNK) });
      }
      const results = await Promise.all(
        requests.map((r) =>
          pool.run(r).then((res) => {
            done += r.end - r.start;
            opts.onProgress?.(done, total);
            return res;
          }),
        ),
      );
      const json = cocoJson(name, want.classes, split, seed, params, results);
      writeFileAtomic(annotations, JSON.stringify(json));
      counts[split] = { canvases: n, boxes: json.annotations.length };
    }
  } finally {
    await pool.close();
  }
  const manifest: Manifest = { ...want, splits: counts };
  writeFileAtomic(join(out, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
  return { out, made: true, splits: splitResult(out, counts) };
}

function splitResult(out: string, counts: Record<Split, { canvases: number; boxes: number }>): Record<Split, SplitFiles> {
  const r = {} as Record<Split, SplitFiles>;
  for (const s of SPLITS) r[s] = { ...splitPaths(out, s), ...(counts[s] ?? { canvases: 0, boxes: 0 }) };
  return r;
}

function readManifest(out: string): Manifest | null {
  try {
    return JSON.parse(readFileSync(join(out, MANIFEST), 'utf8')) as Manifest;
  } catch {
    return null;
  }
}

function sameSettings(m: Manifest, want: Omit<Manifest, 'splits'>): boolean {
  return m.generator === want.generator && m.version === want.version && m.seed === want.seed && JSON.stringify(m.params) === JSON.stringify(want.params);
}

/** The COCO annotation object of a split. */
function cocoJson(name: string, classes: readonly string[], split: Split, seed: number, params: GeneratorParams, results: RangeResult[]) {
  const images: { id: number; file_name: string; width: number; height: number }[] = [];
  const annotations: { id: number; image_id: number; category_id: number; bbox: number[]; area: number; iscrowd: number }[] = [];
  for (const r of results) {
    r.objects.forEach((objs, k) => {
      const index = r.start + k;
      images.push({ id: index + 1, file_name: canvasFileName(index), width: params.size, height: params.size });
      for (const o of objs) {
        const [x1, y1, x2, y2] = o.box;
        annotations.push({
          id: annotations.length + 1,
          image_id: index + 1,
          category_id: o.label + 1,
          bbox: [x1, y1, x2 - x1, y2 - y1],
          area: (x2 - x1) * (y2 - y1),
          iscrowd: 0,
        });
      }
    });
  }
  return {
    info: { description: `ladet built-in dataset ${name}, ${split} split`, version: String(GENERATOR_VERSION), generator: name, seed, params },
    licenses: [],
    images,
    annotations,
    categories: classes.map((c, i) => ({ id: i + 1, name: c, supercategory: name })),
  };
}

/** Worker threads taking render requests (or the calling thread when there are none). */
class RenderPool {
  private readonly workers: { worker: Worker; busy: boolean }[] = [];
  private readonly queue: { req: RangeRequest; resolve: (r: RangeResult) => void; reject: (e: Error) => void }[] = [];

  constructor(count: number) {
    if (!Number.isInteger(count) || count < 0) throw new Error(`workers must be a non-negative integer (got ${count})`);
    for (let i = 0; i < count; i++) this.workers.push({ worker: new Worker(new URL('./make_worker.js', import.meta.url)), busy: false });
  }

  run(req: RangeRequest): Promise<RangeResult> {
    if (this.workers.length === 0) return renderRange(req);
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    for (const w of this.workers) {
      if (w.busy) continue;
      const job = this.queue.shift();
      if (!job) return;
      w.busy = true;
      const done = (): void => {
        w.worker.off('message', onMessage);
        w.worker.off('error', onError);
        w.busy = false;
        this.pump();
      };
      const onMessage = (m: MakeWorkerReply): void => {
        done();
        if (m.ok) job.resolve(m.result);
        else job.reject(new Error(m.message));
      };
      const onError = (e: Error): void => {
        done();
        job.reject(e);
      };
      w.worker.on('message', onMessage);
      w.worker.on('error', onError);
      w.worker.postMessage(job.req);
    }
  }

  async close(): Promise<void> {
    for (const j of this.queue.splice(0)) j.reject(new Error('data make: stopped'));
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
