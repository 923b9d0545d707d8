// Precision suite (issue 22): what bf16 autocast (Detector.precision = 'bf16', src/torch/autocast.ts) buys on this CPU.
//   train (a): the mini preset's network (configs/paa_r18_fashion_mini.yaml), batch 16 at 160x160, the trainer's own
//          step (buildStrategy's PAA strategy + trainStep), fp32 against bf16 from the same seed-0 init, interleaved,
//          one intra-op thread (as the det suite's small-model part): bf16_train_speedup = fp32 time / bf16 time.
//   infer (c): the same network in eval mode, forward only (no grad), batch 16 and batch 1 at 160x160:
//          bf16_infer_speedup = fp32 time / bf16 time (batch 16).
//   r50 (b): PAA-R50-FPN (configs/paa_r50_fpn_1x_coco.yaml) training step at batch 2, 512x512, 7 GT boxes per image
//          in bf16, against torchvision 0.14's FCOS-R50-FPN under torch.autocast('cpu', torch.bfloat16) in
//          Debian's PyTorch 1.13 (precision_peer.py; det_peer.py's model), and ladet's own fp32 step; the three take
//          turns step by step (the order rotates) with the det suite's thread count: bf16_train_step_ratio =
//          ladet bf16 time / peer bf16 time (median of per-rep ratios). The peer's GroupNorm modules normalise in
//          fp32, as ladet's (PyTorch 1.13's autocast fails on them otherwise).
//   mini vs PyTorch (d): the mini network written in torch.nn (precision_mini_peer.py, parameter counts checked
//          equal), its forward + backward and its eval forward in fp32 and bf16 autocast, and the LAD teacher's
//          (R18w50) eval forward, taking turns with ladet's training step and eval forward at both precisions, one
//          thread: what PyTorch's own fp32 -> bf16 gain is on this network (the targets of (a), (c) and the LAD
//          ratio assume the gain a wide conv stack gets), and ladet's time against PyTorch's at each precision.
import { ladStep } from './det_lad.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import {
  autocast,
  cpuHasNativeBf16,
  getNumThreads,
  manualSeed,
  noGrad,
  randn,
  setNumThreads,
  tidy,
} from '../src/torch/index.js';
import { loadConfig, type Config } from '../src/config/schema.js';
import { buildAnchorGenerator, buildDetector } from '../src/build/model.js';
import { AnchorCache } from '../src/assign/targets.js';
import { buildStrategy } from '../src/build/strategy.js';
import { TRAIN_STEP, buildOptimizer, trainStep, type TrainStepResult } from '../src/engine/train_step.js';
import type { Detector } from '../src/models/detector.js';
import type { StepInput } from '../src/distill/strategy.js';
import { peerPython } from './peer.js';
import { interleave, median, syntheticBatch, timeIt } from './util.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MINI_CONFIG = 'configs/paa_r18_fashion_mini.yaml';
const R50_CONFIG = 'configs/paa_r50_fpn_1x_coco.yaml';
export const MINI = { batch: 16, size: 160, classes: 10, gtPerImage: [2, 5] as const, boxSide: [12, 96] as const };
const R50 = { batch: 2, size: 512, classes: 80, gtPerImage: [7, 7] as const, boxSide: [24, 400] as const };
type Prec = 'fp32' | 'bf16';

interface Side {
  config: Config;
  det: Detector;
  strategy: ReturnType<typeof buildStrategy>['strategy'];
  optimizer: ReturnType<typeof buildOptimizer>;
  anchors: AnchorCache;
}

/** The preset's network with the seed-0 init (the same weights at both precisions), its strategy and SGD. */
export function side(configPath: string, classes: number, precision: Prec): Side {
  const config = loadConfig(join(root, configPath));
  const anchors = new AnchorCache(buildAnchorGenerator(config.model));
  manualSeed(0);
  const det = buildDetector(config.model, classes);
  det.precision = precision;
  const { strategy } = buildStrategy(config, () => det, classes, anchors);
  det.train();
  return { config, det, strategy, optimizer: buildOptimizer(config, det), anchors };
}

function disposeSide(s: Side): void {
  s.optimizer.disposeState();
  s.strategy.dispose();
  s.det.dispose();
  s.anchors.dispose();
}

const step = (s: Side, input: StepInput): TrainStepResult =>
  trainStep(s.strategy, s.optimizer, input, s.config.optimizer.gradClip);

const round = (x: number): number => Math.round(x * 10) / 10;

/** (a): the mini preset's training step, fp32 vs bf16, one thread. */
function miniTrain(): Record<string, unknown> {
  const counts = { warmup: 2, reps: Number(process.env.LADET_BENCH_REPS ?? 9) };
  const input = syntheticBatch({ ...MINI, seed: 11 });
  const fp32 = side(MINI_CONFIG, MINI.classes, 'fp32');
  const bf16 = side(MINI_CONFIG, MINI.classes, 'bf16');
  const loads: number[] = [];
  try {
    const { a: f, b: h } = interleave(
      { a: () => step(fp32, input), b: () => step(bf16, input) },
      counts,
      (rep, a, b) => {
        loads.push(loadavg()[0] as number);
        console.log(
          `mini train ${rep + 1}/${counts.warmup + counts.reps}: fp32 ${a.ms.total.toFixed(0)} ms, bf16 ${b.ms.total.toFixed(0)} ms`,
        );
      },
    );
    const med = (xs: TrainStepResult[], k: keyof TrainStepResult['ms']): number =>
      round(median(xs.map((r) => r.ms[k])));
    const split = (xs: TrainStepResult[]) => ({
      forward_assign_loss: med(xs, 'step'),
      assign: round(median(xs.map((r) => r.logs.assign_ms as number))),
      backward: med(xs, 'backward'),
      optimizer: med(xs, 'optimizer'),
    });
    return {
      setup: {
        model: `${MINI_CONFIG} (ResNet-18 x0.25, FPN 64, head 64x2 with GroupNorm; BatchNorm trains), seed-0 init on both sides`,
        batch: MINI.batch,
        image: `${MINI.size}x${MINI.size}`,
        step: TRAIN_STEP,
        threads: 1,
        ...counts,
        load_avg_1m_median: median(loads),
      },
      fp32_step_ms: med(f, 'total'),
      bf16_step_ms: med(h, 'total'),
      fp32_split_ms: split(f),
      bf16_split_ms: split(h),
      fp32_step_min_ms: round(Math.min(...f.map((r) => r.ms.total))),
      bf16_step_min_ms: round(Math.min(...h.map((r) => r.ms.total))),
      speedup_pairs: h.map((r, i) => Math.round(((f[i] as TrainStepResult).ms.total / r.ms.total) * 100) / 100),
      bf16_train_speedup: median(h.map((r, i) => (f[i] as TrainStepResult).ms.total / r.ms.total)),
      first_losses: { fp32: f[0]?.logs, bf16: h[0]?.logs },
    };
  } finally {
    disposeSide(fp32);
    disposeSide(bf16);
    input.images.dispose();
  }
}

/** (c): the mini network's eval forward (no grad), fp32 vs bf16, batch 16 and 1, one thread. */
function miniInfer(): Record<string, unknown> {
  const config = loadConfig(join(root, MINI_CONFIG));
  manualSeed(0);
  const det = buildDetector(config.model, MINI.classes);
  det.eval();
  const out: Record<string, unknown> = {};
  try {
    for (const batch of [16, 1]) {
      manualSeed(12);
      const x = randn([batch, 3, MINI.size, MINI.size]);
      const forward = (p: Prec) => (): number => {
        det.precision = p;
        const t0 = performance.now();
        tidy(() => noGrad(() => det.forward(x)));
        return performance.now() - t0;
      };
      const reps = batch === 1 ? 30 : 15;
      const { a: f, b: h } = interleave({ a: forward('fp32'), b: forward('bf16') }, { warmup: 3, reps });
      out[`batch${batch}`] = {
        fp32_ms: round(median(f)),
        bf16_ms: round(median(h)),
        fp32_min_ms: round(Math.min(...f)),
        bf16_min_ms: round(Math.min(...h)),
        speedup: median(h.map((t, i) => (f[i] as number) / t)),
        speedup_of_mins: Math.min(...f) / Math.min(...h),
      };
      console.log(`mini infer batch ${batch}: ${JSON.stringify(out[`batch${batch}`])}`);
      x.dispose();
    }
    // where the forward's time goes: the backbone (convs with BatchNorm folded in) against neck + head (GN towers)
    manualSeed(12);
    const x = randn([MINI.batch, 3, MINI.size, MINI.size]);
    const backbone = (p: Prec) => (): void => {
      tidy(() => noGrad(() => autocast(p === 'bf16' ? 'bfloat16' : null, () => det.backbone.forward(x))));
    };
    out.backbone_forward_ms = { fp32: round(timeIt(backbone('fp32'), 9)), bf16: round(timeIt(backbone('bf16'), 9)) };
    x.dispose();
  } finally {
    det.dispose();
  }
  const b16 = out.batch16 as { speedup: number };
  return {
    setup: {
      model: MINI_CONFIG,
      mode: 'eval, no grad, forward only (outputs cast to fp32)',
      image: '160x160',
      threads: 1,
    },
    ...out,
    bf16_infer_speedup: b16.speedup,
  };
}

/** A peer process speaking precision_peer.py's protocol (or `script`'s, the same): one JSON line per command. */
class PeerProcess {
  readonly #proc: ChildProcessWithoutNullStreams;
  readonly #lines: AsyncIterator<string>;
  #stderr = '';

  constructor(python: string, job: object, script = 'precision_peer.py') {
    this.#proc = spawn(python, [join(root, 'benchmarks', script), JSON.stringify(job)], { cwd: root });
    this.#proc.stderr.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    this.#lines = createInterface({ input: this.#proc.stdout })[Symbol.asyncIterator]();
  }

  async next<T>(cmd?: string): Promise<T> {
    if (cmd !== undefined) this.#proc.stdin.write(cmd + '\n');
    const r = await this.#lines.next();
    if (r.done) throw new Error(`precision: the torchvision peer ended early: ${this.#stderr}`);
    return JSON.parse(r.value) as T;
  }

  end(): void {
    if (this.#proc.exitCode === null) {
      this.#proc.stdin.end('end\n');
      this.#proc.kill();
    }
  }
}

interface PeerStep {
  ms: number;
  cpu_ms: number;
  split_ms: Record<string, number>;
  logs: Record<string, number>;
}

/** (b): PAA-R50-FPN at 512x512 in bf16 (and fp32) against torchvision FCOS-R50 under PyTorch's bf16 autocast. */
async function r50VsPeer(threads: number, dir: string): Promise<Record<string, unknown>> {
  const warm = 2;
  const steps = Number(process.env.LADET_BENCH_STEPS ?? 6);
  const python = peerPython(['torch', 'torchvision']);
  const input = syntheticBatch({ ...R50, seed: 7 });
  const imageFile = join(dir, 'r50_image.f32');
  writeFileSync(imageFile, input.images.toTypedArray<'float32'>());
  const job = {
    threads,
    batch: R50.batch,
    height: R50.size,
    width: R50.size,
    image: imageFile,
    boxes: input.targets.map((t) =>
      Array.from({ length: t.labels.length }, (_, k) => Array.from(t.boxes.slice(4 * k, 4 * k + 4))),
    ),
    labels: input.targets.map((t) => Array.from(t.labels)),
    precision: 'bf16',
    fp32GroupNorm: true,
  };
  const threadsBefore = getNumThreads();
  setNumThreads(threads);
  const bf16 = side(R50_CONFIG, R50.classes, 'bf16');
  const fp32 = side(R50_CONFIG, R50.classes, 'fp32');
  const peer = python === null ? null : new PeerProcess(python, job);
  const loads: number[] = [];
  try {
    const ready = peer ? await peer.next<Record<string, unknown>>() : null;
    const lb: TrainStepResult[] = [];
    const lf: TrainStepResult[] = [];
    const ps: PeerStep[] = [];
    for (let i = 0; i < warm + steps; i++) {
      const runs: (() => Promise<void>)[] = [
        async () => void (i >= warm ? lb.push(step(bf16, input)) : step(bf16, input)),
        async () => {
          if (!peer) return;
          const s = await peer.next<PeerStep>('step');
          if (i >= warm) ps.push(s);
        },
        async () => void (i >= warm ? lf.push(step(fp32, input)) : step(fp32, input)),
      ];
      for (let k = 0; k < runs.length; k++) await (runs[(i + k) % runs.length] as () => Promise<void>)();
      loads.push(loadavg()[0] as number);
      const last = <T>(xs: T[], f: (x: T) => number): string =>
        i >= warm && xs.length ? f(xs[xs.length - 1] as T).toFixed(0) : 'warm-up';
      console.log(
        `r50 ${i + 1}/${warm + steps}: ladet bf16 ${last(lb, (r) => r.ms.total)} ms, peer bf16 ${last(ps, (s) => s.ms)} ms, ladet fp32 ${last(lf, (r) => r.ms.total)} ms`,
      );
    }
    const ms = (xs: TrainStepResult[]): number => round(median(xs.map((r) => r.ms.total)));
    const split = (xs: TrainStepResult[]) => ({
      forward_assign_loss: round(median(xs.map((r) => r.ms.step))),
      assign: round(median(xs.map((r) => r.logs.assign_ms as number))),
      backward: round(median(xs.map((r) => r.ms.backward))),
      optimizer: round(median(xs.map((r) => r.ms.optimizer))),
    });
    const result: Record<string, unknown> = {
      setup: {
        ladet: `PAA-R50-FPN, ${R50_CONFIG} (frozenStages 1, normEval true), SelfAssignStrategy + SGD, Detector.precision bf16`,
        step: TRAIN_STEP,
        batch: R50.batch,
        image: `${R50.size}x${R50.size}`,
        gt_per_image: R50.gtPerImage[0],
        threads,
        warmup: warm,
        timed: steps,
        note: 'ladet bf16, peer bf16 and ladet fp32 take turns step by step, the order rotating per rep',
        load_avg_1m: { median: median(loads), max: Math.max(...loads) },
      },
      ladet_bf16_step_ms: ms(lb),
      ladet_fp32_step_ms: ms(lf),
      ladet_bf16_split_ms: split(lb),
      ladet_fp32_split_ms: split(lf),
      ladet_r50_bf16_speedup: median(lb.map((r, i) => (lf[i] as TrainStepResult).ms.total / r.ms.total)),
      ladet_first_losses: { bf16: lb[0]?.logs, fp32: lf[0]?.logs },
    };
    if (peer && ready) {
      const pairs = lb.map((r, i) => r.ms.total / (ps[i] as PeerStep).ms);
      Object.assign(result, {
        peer: `torchvision 0.14 FCOS-R50-FPN (80 classes, FrozenBatchNorm2d, trainable_backbone_layers 3) on ${python} torch ${String(ready.torch)}, forward + losses under torch.autocast('cpu', dtype=torch.bfloat16), backward and SGD outside`,
        peer_group_norm: `PyTorch 1.13's CPU autocast leaves group_norm out, and it fails on a bf16 input with fp32 affine parameters; the peer's ${String(ready.fp32_group_norms)} GroupNorm modules normalise in fp32 and cast back to the input dtype, as ladet's GroupNorm does`,
        peer_note:
          "torchvision's FrozenBatchNorm2d computes x * scale + bias with fp32 scale and bias, so under autocast every BN output is promoted to fp32 and the next conv casts it back to bf16 (PyTorch's own behaviour, kept); ladet folds frozen BN into the conv weights (nn/conv_bn.ts). docs/engine.md#mixed-precision has the peer's profile",
        peer_bf16_step_ms: round(median(ps.map((s) => s.ms))),
        peer_bf16_split_ms: Object.fromEntries(
          Object.keys(ps[0]?.split_ms ?? {}).map((k) => [k, round(median(ps.map((s) => s.split_ms[k] as number)))]),
        ),
        peer_first_losses: ps[0]?.logs,
        bf16_train_step_ratio: median(pairs),
        bf16_train_step_pair_ratios: pairs.map((r) => Math.round(r * 100) / 100),
      });
    } else {
      result.note = 'python3-torch / python3-torchvision not importable from /usr/bin/python3: no peer figures';
    }
    return result;
  } finally {
    peer?.end();
    disposeSide(bf16);
    disposeSide(fp32);
    input.images.dispose();
    setNumThreads(threadsBefore);
  }
}

const TEACHER_CONFIG = 'configs/demo/teacher_r18w50.yaml';

/** (d): ladet's mini step and eval forward against the same network in PyTorch, at both precisions, one thread. */
async function miniVsPeer(): Promise<Record<string, unknown>> {
  const python = peerPython(['torch']);
  if (python === null) return { note: 'python3-torch not importable from /usr/bin/python3: no peer figures' };
  const reps = Number(process.env.LADET_BENCH_REPS ?? 9);
  const warmup = 2;
  const job = {
    threads: 1,
    batch: MINI.batch,
    size: MINI.size,
    classes: MINI.classes,
    studentWidth: 0.25,
    teacherWidth: 0.5,
  };
  const peer = new PeerProcess(python, job, 'precision_mini_peer.py');
  const input = syntheticBatch({ ...MINI, seed: 11 });
  const train = { fp32: side(MINI_CONFIG, MINI.classes, 'fp32'), bf16: side(MINI_CONFIG, MINI.classes, 'bf16') };
  const count = (d: Detector): number => d.parameters().reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  manualSeed(0);
  const eval_ = buildDetector(loadConfig(join(root, MINI_CONFIG)).model, MINI.classes);
  const teacher = buildDetector(loadConfig(join(root, TEACHER_CONFIG)).model, MINI.classes);
  const teacherParams = count(teacher);
  teacher.dispose();
  eval_.eval();
  manualSeed(12);
  const x = randn([MINI.batch, 3, MINI.size, MINI.size]);
  try {
    const ready = await peer.next<{ torch: string; params: { student: number; teacher: number } }>();
    const mine = { student: count(eval_), teacher: teacherParams };
    if (ready.params.student !== mine.student || ready.params.teacher !== mine.teacher)
      throw new Error(
        `precision: the PyTorch mini network has ${JSON.stringify(ready.params)} parameters, ladet's ${JSON.stringify(mine)}`,
      );
    const infer = (p: Prec): number => {
      eval_.precision = p;
      const t0 = performance.now();
      tidy(() => noGrad(() => eval_.forward(x)));
      return performance.now() - t0;
    };
    type Key =
      | 'l_train_fp32'
      | 'l_train_bf16'
      | 'l_infer_fp32'
      | 'l_infer_bf16'
      | 'p_train_fp32'
      | 'p_train_bf16'
      | 'p_infer_fp32'
      | 'p_infer_bf16'
      | 'p_teacher_bf16';
    const runs: Record<Key, () => Promise<number>> = {
      l_train_fp32: async () => step(train.fp32, input).ms.total,
      l_train_bf16: async () => step(train.bf16, input).ms.total,
      l_infer_fp32: async () => infer('fp32'),
      l_infer_bf16: async () => infer('bf16'),
      p_train_fp32: async () => (await peer.next<{ ms: number }>('train fp32')).ms,
      p_train_bf16: async () => (await peer.next<{ ms: number }>('train bf16')).ms,
      p_infer_fp32: async () => (await peer.next<{ ms: number }>('infer fp32')).ms,
      p_infer_bf16: async () => (await peer.next<{ ms: number }>('infer bf16')).ms,
      p_teacher_bf16: async () => (await peer.next<{ ms: number }>('teacher bf16')).ms,
    };
    const keys = Object.keys(runs) as Key[];
    const t = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<Key, number[]>;
    for (let rep = 0; rep < warmup + reps; rep++) {
      // the order rotates, so that no side always runs after the same one
      const order = keys.map((_, i) => keys[(i + rep) % keys.length] as Key);
      const got: Partial<Record<Key, number>> = {};
      for (const k of order) got[k] = await runs[k]();
      console.log(
        `mini vs PyTorch ${rep + 1}/${warmup + reps}: ${keys.map((k) => `${k} ${(got[k] as number).toFixed(0)}`).join(', ')}`,
      );
      if (rep >= warmup) for (const k of keys) t[k].push(got[k] as number);
    }
    const ratio = (a: Key, b: Key): number => median(t[a].map((v, i) => v / (t[b][i] as number)));
    return {
      setup: {
        peer: `precision_mini_peer.py on ${python} torch ${ready.torch}: ${MINI_CONFIG}'s network (${mine.student} parameters on both sides) and ${TEACHER_CONFIG}'s (${mine.teacher}) in torch.nn, NCHW, GroupNorm in fp32 under autocast`,
        peer_train:
          'forward (autocast for bf16) + a sum-of-squares loss of the outputs + backward: the network alone, no assignment, detection loss or optimizer',
        ladet_train: `${TRAIN_STEP}: the whole step, PAA assignment, losses and SGD included`,
        infer: 'eval forward, no grad, outputs cast to fp32',
        batch: MINI.batch,
        image: `${MINI.size}x${MINI.size}`,
        threads: 1,
        warmup,
        reps,
        note: 'the nine measurements take turns in a rotating order; each ratio is the median of per-rep ratios',
      },
      ms: Object.fromEntries(keys.map((k) => [k, round(median(t[k]))])),
      peer_mini_bf16_train_speedup: ratio('p_train_fp32', 'p_train_bf16'),
      peer_mini_bf16_infer_speedup: ratio('p_infer_fp32', 'p_infer_bf16'),
      ladet_mini_bf16_train_speedup: ratio('l_train_fp32', 'l_train_bf16'),
      ladet_mini_bf16_infer_speedup: ratio('l_infer_fp32', 'l_infer_bf16'),
      mini_fp32_train_step_ratio: ratio('l_train_fp32', 'p_train_fp32'),
      mini_bf16_train_step_ratio: ratio('l_train_bf16', 'p_train_bf16'),
      mini_fp32_infer_ratio: ratio('l_infer_fp32', 'p_infer_fp32'),
      mini_bf16_infer_ratio: ratio('l_infer_bf16', 'p_infer_bf16'),
      // PyTorch's LAD overhead on the network alone: the teacher's bf16 eval forward over the student's bf16
      // forward + backward (assignment and losses left out, which would lower it)
      peer_lad_vs_paa_network_ratio: median(t.p_teacher_bf16.map((v, i) => 1 + v / (t.p_train_bf16[i] as number))),
    };
  } finally {
    peer.end();
    x.dispose();
    eval_.dispose();
    disposeSide(train.fp32);
    disposeSide(train.bf16);
    input.images.dispose();
  }
}

export async function precision(): Promise<Record<string, unknown>> {
  const threads = Number(process.env.LADET_BENCH_THREADS ?? availableParallelism());
  const threadsBefore = getNumThreads();
  const dir = mkdtempSync(join(tmpdir(), 'ladet-bench-precision-'));
  const loadStart = loadavg()[0] as number;
  try {
    setNumThreads(1);
    const train = miniTrain();
    const infer = miniInfer();
    // LAD's step against PAA's of the same student, both in bf16 (the teacher's forward in bf16 too): det's lad
    // record at one thread, in bf16
    const lad = ladStep(1, 'bf16');
    const vsPeer = await miniVsPeer();
    setNumThreads(threadsBefore);
    const r50 = await r50VsPeer(threads, dir);
    return {
      cpu_native_bf16: cpuHasNativeBf16(),
      load_avg_1m: { start: loadStart, end: loadavg()[0] },
      bf16_train_speedup: train.bf16_train_speedup,
      bf16_train_step_ratio: r50.bf16_train_step_ratio ?? null,
      bf16_infer_speedup: infer.bf16_infer_speedup,
      lad_vs_paa_step_ratio: lad.lad_vs_paa_step_ratio,
      targets: {
        bf16_train_speedup_min: 1.8,
        bf16_train_step_ratio_max: 1.0,
        bf16_infer_speedup_min: 1.5,
        lad_vs_paa_step_ratio_max: 1.25,
      },
      mini_train: train,
      mini_infer: infer,
      r50_train: r50,
      lad_bf16: lad,
      mini_vs_pytorch: {
        ...vsPeer,
        // ladet's counterpart of peer_lad_vs_paa_network_ratio, from (lad_bf16)'s same-run split
        ladet_lad_vs_paa_network_ratio: 1 + (lad.teacher_forward_ms as number) / (lad.paa_student_fwd_bwd_ms as number),
      },
    };
  } finally {
    setNumThreads(threadsBefore);
    rmSync(dir, { recursive: true, force: true });
  }
}
