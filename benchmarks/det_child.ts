// One side of the `det` suite in its own process (so that its peak RSS is its own): ladet's PAA-R50-FPN from
// configs/paa_r50_fpn_1x_coco.yaml, either training steps (the trainer's own step, engine/train_step.ts trainStep:
// SelfAssignStrategy forward + PAA assignment + losses, their sum, backward, clipping, SGD step) or inference (eval
// forward + predictBatch with NMS and score voting). The parent drives it step by step so that ladet and peer steps can alternate:
//   node dist/benchmarks/det_child.js '<DetJob JSON>'
//   stdout: {"ready": ...} once set up; then per stdin line "step" one DetStep line; "end" -> {"peak_rss_kb"} and exit.
// det_peer.py speaks the same protocol.
import { readFileSync, readSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cudaSynchronize,
  dispose,
  getNumThreads,
  libtorchVersion,
  manualSeed,
  noGrad,
  setNumThreads,
  tensor,
  tidy,
} from '../src/torch/index.js';
import { loadSafetensors } from '../src/io/index.js';
import { loadConfig } from '../src/config/schema.js';
import { buildAnchorGenerator, buildDetector, inferenceConfigOf } from '../src/build/model.js';
import { AnchorCache } from '../src/assign/targets.js';
import { buildStrategy } from '../src/build/strategy.js';
import { buildOptimizer, trainStep } from '../src/engine/train_step.js';
import { levelSizes } from '../src/models/heads/outputs.js';
import { predictBatch } from '../src/models/heads/paa_inference.js';
import type { ImageMeta } from '../src/data/transforms.js';
import type { SampleTargets } from '../src/data/batch.js';

/** What a child runs; the python peer (det_peer.py) reads the same object. */
export interface DetJob {
  mode: 'train' | 'infer';
  threads: number;
  batch: number;
  height: number;
  width: number;
  /** per image: GT boxes [x1, y1, x2, y2] in input pixels (train only) */
  boxes: number[][][];
  /** per image: class indices 0..79 */
  labels: number[][];
  /** score threshold of inference (both sides) */
  scoreThr: number;
  /** the input batch: raw little-endian float32 (batch, 3, height, width) */
  image: string;
  /** ladet safetensors to load (the peer maps the names), or null for each side's own init */
  weights: string | null;
  /** 'cpu' (the suite `det`) or 'cuda' (`det_cuda`): where both sides put the network and the batch */
  device: string;
}

export interface DetReady {
  ready: true;
  threads: number;
  params: number;
  /** peak RSS (KiB) after model build and input load, before the first step */
  base_rss_kb: number;
  /** the engine's versions (libtorch; the peer: torch and torchvision) */
  versions: Record<string, string>;
}

export interface DetStep {
  /** wall time of the step (ms; infer: per image) */
  ms: number;
  /** process CPU time (user + system), same units */
  cpu_ms: number;
  /** train: ms per phase of this step */
  split_ms?: Record<string, number>;
  /** train: loss terms and positives of this step */
  logs?: Record<string, number>;
  /** infer: detections of the first image */
  detections?: number;
}

export interface DetEnd {
  /** peak RSS (KiB) of the process */
  peak_rss_kb: number;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function metaOf(i: number, h: number, w: number): ImageMeta {
  return {
    imageId: i,
    file: `synthetic_${i}`,
    oriShape: [h, w],
    imgShape: [h, w],
    padShape: [h, w],
    scaleFactor: [1, 1, 1, 1],
    flip: false,
  };
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Blocking read of one line from stdin (the parent writes one command per step). */
function readLine(): string | null {
  const buf = Buffer.alloc(1);
  let line = '';
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, 1, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw e;
    }
    if (n === 0) return line.length ? line : null;
    const ch = buf.toString('utf8', 0, 1);
    if (ch === '\n') return line;
    line += ch;
  }
}

function say(x: object): void {
  process.stdout.write(JSON.stringify(x) + '\n');
}

function main(job: DetJob): void {
  setNumThreads(job.threads);
  manualSeed(0);
  const config = loadConfig(join(root, 'configs', 'paa_r50_fpn_1x_coco.yaml'));
  const det = buildDetector(config.model, 80);
  if (job.weights !== null) {
    const { tensors } = loadSafetensors(job.weights);
    det.loadStateDict(tensors);
    dispose([...tensors.values()]);
  }
  det.toDevice(job.device);
  const anchors = new AnchorCache(buildAnchorGenerator(config.model), job.device);
  const bytes = readFileSync(job.image);
  const images = tensor(
    new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4),
    [job.batch, 3, job.height, job.width],
    { device: job.device },
  );
  // a GPU runs behind the host: a step's time ends when its kernels have run
  const sync = job.device === 'cpu' ? (): void => {} : cudaSynchronize;
  const metas = Array.from({ length: job.batch }, (_, i) => metaOf(i, job.height, job.width));

  let step: () => DetStep;
  let cleanup = (): void => {};
  if (job.mode === 'train') {
    const targets: SampleTargets[] = job.boxes.map((b, i) => ({
      boxes: Float32Array.from(b.flat()),
      labels: Int32Array.from(job.labels[i] as number[]),
    }));
    // the trainer's own PAA strategy and SGD, from the preset
    const { strategy } = buildStrategy(config, () => det, 80, anchors);
    const opt = buildOptimizer(config, det);
    det.train();
    step = () => {
      const c0 = cpuMs();
      const { logs, ms } = trainStep(strategy, opt, { images, targets, metas }, config.optimizer.gradClip);
      sync();
      const split_ms = {
        forward_assign_loss: ms.step,
        assign: logs.assign_ms as number,
        backward: ms.backward,
        optimizer: ms.optimizer,
      };
      return { ms: ms.total, cpu_ms: cpuMs() - c0, split_ms, logs };
    };
    cleanup = () => opt.disposeState();
  } else {
    det.eval();
    const cfg = { ...inferenceConfigOf(config), scoreThr: job.scoreThr };
    step = () => {
      const c0 = cpuMs();
      const t0 = performance.now();
      const dets = noGrad(() =>
        tidy(() => {
          const out = det.forward(images);
          return predictBatch(out, anchors.get(levelSizes(out)).perLevel, metas, cfg);
        }),
      );
      sync();
      return {
        ms: (performance.now() - t0) / job.batch,
        cpu_ms: (cpuMs() - c0) / job.batch,
        detections: dets[0]?.scores.length ?? 0,
      };
    };
  }
  const ready: DetReady = {
    ready: true,
    threads: getNumThreads(),
    params: det.numParameters(),
    base_rss_kb: process.resourceUsage().maxRSS,
    versions: { libtorch: libtorchVersion },
  };
  say(ready);
  for (let cmd = readLine(); cmd !== null && cmd !== 'end'; cmd = readLine()) {
    if (cmd !== 'step') throw new Error(`det_child: unknown command '${cmd}' (step | end)`);
    say(step());
  }
  const end: DetEnd = { peak_rss_kb: process.resourceUsage().maxRSS };
  say(end);
  cleanup();
  images.dispose();
  anchors.dispose();
  det.dispose();
}

const arg = process.argv[2];
if (arg === undefined) {
  console.error("usage: node dist/benchmarks/det_child.js '<DetJob JSON>'");
  process.exit(2);
}
main(JSON.parse(arg) as DetJob);
