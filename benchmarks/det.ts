// Detector suite: PAA-R50-FPN (configs/paa_r50_fpn_1x_coco.yaml) in ladet vs torchvision's FCOS-R50-FPN (same
// ResNet-50 + FPN P3-P7, a GN head of the same shape) in Debian's python3-torch / python3-torchvision, same run,
// same thread count:
//   train: one training step, batch 2 at 512x512 with 7 GT boxes per image. ladet: what its trainer does per
//          iteration (SelfAssignStrategy: forward, PAA assignment with the GMM, losses; backward; SGD step).
//          torchvision: FCOS's own forward + losses, backward, SGD step. Both freeze the stem and layer1 and keep
//          BatchNorm statistics frozen (ladet frozenStages 1 / normEval true, the preset's settings; torchvision
//          FrozenBatchNorm2d / trainable_backbone_layers 3, fcos_resnet50_fpn's pretrained-path setup).
//   infer: eval forward + post-processing of one 800x1344 image (ladet: predictBatch with PAA's test settings,
//          NMS and score voting; torchvision: FCOS forward incl. transform and postprocess_detections), both
//          networks holding the SAME weights (ladet's init, mapped to torchvision's names) and the same input, so
//          that both post-processors see the same scores (except on P7, which torchvision computes from relu(P6)
//          and mmdetection's PAA from P6: 77 of 22,400 anchors). A fresh network scores every (anchor, class) near the
//          class prior (~0.07, above the 0.05 threshold), a load no trained detector gives its NMS; the class
//          bias of both is therefore shifted so that about INFER_CANDIDATES pairs pass the threshold.
//   memory: peak RSS of the training processes (each side runs in its own child process: det_child.js,
//          det_peer.py), also less the peak RSS after model build.
//   lad:   one LAD step vs the PAA step of the same student (small presets, batch 16 at 160x160, one thread; no peer:
//          ladet against itself), with the split of the extra time (det_lad.ts); lad_vs_paa_step_ratio.
// Both sides live at once and take turns step by step (which goes first alternates), so that the load of a shared
// machine hits both alike; ratios are medians over adjacent (ladet, peer) step pairs; the load average is recorded.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { cat, cudaAvailable, manualSeed, noGrad, randn, setNumThreads, tidy, type Tensor } from '../src/torch/index.js';
import { saveSafetensors } from '../src/io/index.js';
import { loadConfig } from '../src/config/schema.js';
import { buildDetector } from '../src/build/model.js';
import { peerPython } from './peer.js';
import type { DetEnd, DetJob, DetReady, DetStep } from './det_child.js';
import { rng, median } from './util.js';
import { ladStep } from './det_lad.js';
import { TRAIN_STEP } from '../src/engine/train_step.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCORE_THR = 0.05;
const INFER_CANDIDATES = 2000;
const TRAIN = { batch: 2, height: 512, width: 512, gtPerImage: 7 };
const INFER = { batch: 1, height: 800, width: 1344 };

/** GT boxes with COCO-like spread: side 24..400 px (log-uniform), aspect 1:2..2:1, inside the image. */
function makeScene(
  seed: number,
  batch: number,
  h: number,
  w: number,
  n: number,
): { boxes: number[][][]; labels: number[][] } {
  const r = rng(seed);
  const boxes: number[][][] = [];
  const labels: number[][] = [];
  for (let i = 0; i < batch; i++) {
    const bs: number[][] = [];
    const ls: number[] = [];
    for (let k = 0; k < n; k++) {
      const side = Math.exp(Math.log(24) + r() * Math.log(400 / 24));
      const aspect = Math.exp((r() * 2 - 1) * Math.log(2));
      const bw = Math.min(w - 2, side * Math.sqrt(aspect));
      const bh = Math.min(h - 2, side / Math.sqrt(aspect));
      const x1 = r() * (w - bw);
      const y1 = r() * (h - bh);
      bs.push([x1, y1, x1 + bw, y1 + bh].map((v) => Math.round(v * 10) / 10));
      ls.push(Math.floor(r() * 80));
    }
    boxes.push(bs);
    labels.push(ls);
  }
  return { boxes, labels };
}

/** A child process speaking det_child.ts's protocol: one JSON line per command. */
class StepProcess {
  readonly #proc: ChildProcessWithoutNullStreams;
  readonly #lines: AsyncIterator<string>;
  #stderr = '';

  constructor(
    readonly what: string,
    cmd: string,
    args: string[],
  ) {
    this.#proc = spawn(cmd, args, { cwd: root });
    this.#proc.stderr.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    this.#lines = createInterface({ input: this.#proc.stdout })[Symbol.asyncIterator]();
  }

  async #next<T>(): Promise<T> {
    const r = await this.#lines.next();
    if (r.done) {
      const code = await new Promise<number | null>((res) =>
        this.#proc.exitCode !== null ? res(this.#proc.exitCode) : this.#proc.on('exit', res),
      );
      throw new Error(`det: ${this.what} ended early (exit ${code}): ${this.#stderr}`);
    }
    return JSON.parse(r.value) as T;
  }

  ready(): Promise<DetReady> {
    return this.#next<DetReady>();
  }

  step(): Promise<DetStep> {
    this.#proc.stdin.write('step\n');
    return this.#next<DetStep>();
  }

  async end(): Promise<DetEnd> {
    this.#proc.stdin.write('end\n');
    const e = await this.#next<DetEnd>();
    this.#proc.stdin.end();
    return e;
  }

  kill(): void {
    if (this.#proc.exitCode === null) this.#proc.kill();
  }
}

interface SideRun {
  ready: DetReady;
  steps: DetStep[];
  end: DetEnd;
}

/**
 * Runs a job on both sides at once, alternating their steps (and which side goes first) so that both see the
 * same machine load: `warm` discarded pairs, then `steps` timed pairs. Without a peer only ladet runs.
 */
async function runPaired(
  job: DetJob,
  python: string | null,
  warm: number,
  steps: number,
  loads: number[],
): Promise<{ ladet: SideRun; peer: SideRun | null }> {
  const ladet = new StepProcess(`ladet ${job.mode} child`, process.execPath, [
    join(root, 'dist', 'benchmarks', 'det_child.js'),
    JSON.stringify(job),
  ]);
  const peer =
    python === null
      ? null
      : new StepProcess(`torchvision ${job.mode} peer`, python, [
          join(root, 'benchmarks', 'det_peer.py'),
          JSON.stringify(job),
        ]);
  try {
    const lr = await ladet.ready();
    const pr = peer ? await peer.ready() : null;
    const ls: DetStep[] = [];
    const ps: DetStep[] = [];
    for (let i = 0; i < warm + steps; i++) {
      const runLadet = async (): Promise<void> => {
        const s = await ladet.step();
        if (i >= warm) ls.push(s);
      };
      const runPeer = async (): Promise<void> => {
        const s = await peer!.step();
        if (i >= warm) ps.push(s);
      };
      if (peer === null || i % 2 === 0) {
        await runLadet();
        if (peer) await runPeer();
      } else {
        await runPeer();
        await runLadet();
      }
      loads.push(loadavg()[0] as number);
      const fmt = (xs: DetStep[]): string => (i >= warm ? (xs[xs.length - 1]?.ms.toFixed(0) ?? '-') : 'warm-up');
      console.log(`${job.mode} ${i + 1}/${warm + steps}: ladet ${fmt(ls)} ms, peer ${peer ? fmt(ps) : '-'} ms`);
    }
    const le = await ladet.end();
    const pe = peer ? await peer.end() : null;
    return {
      ladet: { ready: lr, steps: ls, end: le },
      peer: peer && pr && pe ? { ready: pr, steps: ps, end: pe } : null,
    };
  } finally {
    ladet.kill();
    peer?.kill();
  }
}

/**
 * Writes the shared inference weights and image: ladet's PAA-R50-FPN init with the class bias shifted so that about
 * `target` (anchor, class) scores sqrt(sigmoid(cls) * sigmoid(iou)) exceed `thr` on this image. Returns the shift.
 */
function writeInferenceInputs(
  dir: string,
  threads: number,
  target: number,
  thr: number,
): { shift: number; candidates: number } {
  setNumThreads(threads);
  manualSeed(0);
  const config = loadConfig(join(root, 'configs', 'paa_r50_fpn_1x_coco.yaml'));
  const det = buildDetector(config.model, 80);
  det.eval();
  const image = randn([INFER.batch, 3, INFER.height, INFER.width]);
  writeFileSync(join(dir, 'infer_image.f32'), image.toTypedArray<'float32'>());
  const { cls, iou } = noGrad(() => {
    const out = det.forward(image);
    const flat = (ts: Tensor[], k: number): Tensor =>
      tidy(() => cat(ts.map((t) => t.permute([0, 2, 3, 1]).reshape([-1, k]))));
    const r = { cls: flat(out.cls, 80), iou: flat(out.iou!, 1) };
    for (const t of [...out.cls, ...out.reg, ...out.iou!]) t.dispose();
    return r;
  });
  // count(shift) = #{(a, c): sigmoid(cls + shift) * sigmoid(iou) > thr^2}, decreasing as the shift goes down.
  const count = (shift: number): number =>
    noGrad(() =>
      tidy(() =>
        cls
          .add(shift)
          .sigmoid()
          .mul(iou.sigmoid())
          .gt(thr * thr)
          .sum()
          .item(),
      ),
    );
  let lo = -20;
  let hi = 0;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (count(mid) > target) hi = mid;
    else lo = mid;
  }
  const shift = lo;
  const candidates = count(shift);
  noGrad(() => det.head.atssCls.bias!.add_(shift));
  saveSafetensors(join(dir, 'infer_weights.safetensors'), det.stateDict());
  for (const t of [cls, iou, image]) t.dispose();
  det.dispose();
  return { shift, candidates };
}

/** The suite `det_cuda`: the same comparison with both networks and batches on the CUDA device. */
export async function detCuda(): Promise<Record<string, unknown>> {
  if (!cudaAvailable()) throw new Error('det_cuda: no CUDA device (or a CPU-only libtorch)');
  return det('cuda');
}

export async function det(device = 'cpu'): Promise<Record<string, unknown>> {
  const threads = Number(process.env.LADET_BENCH_THREADS ?? availableParallelism());
  const steps = Number(process.env.LADET_BENCH_STEPS ?? 8);
  const warm = 2;
  const python = peerPython(['torch', 'torchvision']);
  const loadStart = loadavg()[0] as number;
  const loads: number[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'ladet-bench-det-'));
  try {
    const scene = makeScene(7, TRAIN.batch, TRAIN.height, TRAIN.width, TRAIN.gtPerImage);
    manualSeed(1);
    const trainImage = randn([TRAIN.batch, 3, TRAIN.height, TRAIN.width]);
    writeFileSync(join(dir, 'train_image.f32'), trainImage.toTypedArray<'float32'>());
    trainImage.dispose();
    const calib = writeInferenceInputs(dir, threads, INFER_CANDIDATES, SCORE_THR);
    const { gtPerImage: _, ...trainShape } = TRAIN;
    const train = await runPaired(
      {
        mode: 'train',
        threads,
        ...trainShape,
        ...scene,
        scoreThr: SCORE_THR,
        image: join(dir, 'train_image.f32'),
        weights: null,
        device,
      },
      python,
      warm,
      steps,
      loads,
    );
    const infer = await runPaired(
      {
        mode: 'infer',
        threads,
        ...INFER,
        boxes: [],
        labels: [],
        scoreThr: SCORE_THR,
        image: join(dir, 'infer_image.f32'),
        weights: join(dir, 'infer_weights.safetensors'),
        device,
      },
      python,
      warm,
      steps,
      loads,
    );
    // see det_lad.ts: one thread keeps a difference of a few hundred ms above the shared machine's noise (CPU only)
    const lad = device === 'cpu' ? ladStep(1) : null;
    const ms = (r: SideRun): number => median(r.steps.map((s) => s.ms));
    const cpu = (r: SideRun): number => median(r.steps.map((s) => s.cpu_ms));
    const split = (r: SideRun): Record<string, number> => {
      const names = Object.keys(r.steps[0]?.split_ms ?? {});
      return Object.fromEntries(names.map((n) => [n, Math.round(median(r.steps.map((s) => s.split_ms?.[n] ?? 0)))]));
    };
    const mb = (kb: number): number => Math.round(kb / 1024);
    const memory = (r: SideRun): Record<string, number> => ({
      peak_rss_mb: mb(r.end.peak_rss_kb),
      after_build_rss_mb: mb(r.ready.base_rss_kb),
      growth_mb: mb(r.end.peak_rss_kb - r.ready.base_rss_kb),
    });
    const pairRatios = (l: SideRun, p: SideRun): number[] => l.steps.map((s, i) => s.ms / (p.steps[i] as DetStep).ms);
    const result: Record<string, unknown> = {
      device,
      ladet_versions: train.ladet.ready.versions,
      threads,
      timed_pairs: steps,
      warmup_pairs: warm,
      load_avg_1m: {
        start: loadStart,
        during_median: median(loads),
        during_max: Math.max(...loads),
        end: loadavg()[0],
      },
      train_setup: {
        ...TRAIN,
        ladet:
          'PAA-R50-FPN, configs/paa_r50_fpn_1x_coco.yaml (frozenStages 1, normEval true), SelfAssignStrategy + SGD',
        step: TRAIN_STEP,
      },
      infer_setup: {
        ...INFER,
        score_thr: SCORE_THR,
        class_bias_shift: calib.shift,
        candidates_above_thr: calib.candidates,
      },
      ladet_params: train.ladet.ready.params,
      ladet_train_step_ms: ms(train.ladet),
      ladet_train_step_cpu_ms: cpu(train.ladet),
      ladet_train_split_ms: split(train.ladet),
      ladet_train_first_losses: train.ladet.steps[0]?.logs,
      ladet_infer_ms_per_image: ms(infer.ladet),
      ladet_infer_cpu_ms_per_image: cpu(infer.ladet),
      ladet_infer_detections: infer.ladet.steps[0]?.detections,
      ladet_train_memory: memory(train.ladet),
      ...(lad !== null ? { lad_vs_paa_step_ratio: lad.lad_vs_paa_step_ratio, lad } : {}),
    };
    if (train.peer !== null && infer.peer !== null) {
      const trainPairs = pairRatios(train.ladet, train.peer);
      const inferPairs = pairRatios(infer.ladet, infer.peer);
      Object.assign(result, {
        peer: `torchvision ${train.peer.ready.versions.torchvision} FCOS-R50-FPN (80 classes, FrozenBatchNorm2d, trainable_backbone_layers 3) on ${python} torch ${train.peer.ready.versions.torch}`,
        peer_params: train.peer.ready.params,
        peer_train_step_ms: ms(train.peer),
        peer_train_step_cpu_ms: cpu(train.peer),
        peer_train_split_ms: split(train.peer),
        peer_train_first_losses: train.peer.steps[0]?.logs,
        peer_infer_ms_per_image: ms(infer.peer),
        peer_infer_cpu_ms_per_image: cpu(infer.peer),
        peer_infer_detections: infer.peer.steps[0]?.detections,
        peer_train_memory: memory(train.peer),
        // the median over adjacent (ladet, peer) step pairs: robust to load that changes during the run
        train_step_ratio: median(trainPairs),
        train_step_ratio_of_medians: ms(train.ladet) / ms(train.peer),
        train_step_cpu_ratio: cpu(train.ladet) / cpu(train.peer),
        train_step_pair_ratios: trainPairs,
        infer_ratio: median(inferPairs),
        infer_ratio_of_medians: ms(infer.ladet) / ms(infer.peer),
        infer_cpu_ratio: cpu(infer.ladet) / cpu(infer.peer),
        infer_pair_ratios: inferPairs,
        peak_memory_ratio: train.ladet.end.peak_rss_kb / train.peer.end.peak_rss_kb,
        memory_growth_ratio:
          (train.ladet.end.peak_rss_kb - train.ladet.ready.base_rss_kb) /
          (train.peer.end.peak_rss_kb - train.peer.ready.base_rss_kb),
        targets: { train_step_ratio_max: 1.0, infer_ratio_max: 1.0, peak_memory_ratio_max: 1.2 },
      });
    } else {
      result.note = 'python3-torch / python3-torchvision not importable from /usr/bin/python3: no peer figures';
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
