// Part of the `det` suite: the time of one LAD training step against the PAA step of the same student, in the same
// process, interleaved (which goes first alternates per rep) on the same synthetic batch. Student: the network of
// configs/paa_r18_fashion_mini.yaml (ResNet-18 x0.25); teacher: configs/demo/teacher_r18w50.yaml (ResNet-18 x0.5),
// random init saved to a temporary file and loaded the way a run loads its teacher. Both sides go through the
// trainer's code: buildStrategy (SelfAssignStrategy for PAA from configs/paa_r18_fashion_mini.yaml, TeacherStrategy
// for LAD from configs/lad/t2_lad_r18w25_from_r18w50.yaml) and trainStep, the trainer's own step (losses, their sum, backward, clipping, SGD).
// The LAD step adds the teacher's forward (eval mode, no grad); its assignment replaces PAA's self-assignment at
// about the same cost, so `teacher_forward_share_of_extra` should be near 1. One intra-op thread for both sides, as
// the colad suite: on a shared 2-core machine a descheduled libtorch thread stalls its whole team, which swamps a
// difference of a few hundred ms; the `*_min_*` figures (the least disturbed rep of each side) are the steadiest.
import { rmSync, mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getNumThreads, manualSeed, setNumThreads } from '../src/torch/index.js';
import { saveSafetensors } from '../src/io/index.js';
import { loadConfig, type Config } from '../src/config/schema.js';
import { buildAnchorGenerator, buildDetector, runPrecision } from '../src/build/model.js';
import { AnchorCache } from '../src/assign/targets.js';
import { TRAIN_STEP, buildOptimizer, trainStep, type TrainStepResult } from '../src/engine/train_step.js';
import { buildStrategy } from '../src/build/strategy.js';
import { interleave, median, syntheticBatch } from './util.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PAA_CONFIG = 'configs/paa_r18_fashion_mini.yaml';
const LAD_CONFIG = 'configs/lad/t2_lad_r18w25_from_r18w50.yaml';
const TEACHER_CONFIG = 'configs/demo/teacher_r18w50.yaml';
// a batch as fashion-det's: 2-5 objects of 12-96 px per 160x160 image, classes 0..9
const SETUP = {
  batch: 16,
  size: 160,
  classes: 10,
  gtPerImage: [2, 5] as const,
  boxSide: [12, 96] as const,
  warmup: 2,
  reps: 9,
};

interface Side {
  config: Config;
  strategy: ReturnType<typeof buildStrategy>['strategy'];
  optimizer: ReturnType<typeof buildOptimizer>;
  anchors: AnchorCache;
}

/** A student with the seed-0 init (the same weights on both sides) and the config's strategy and SGD. */
function side(config: Config): Side {
  const anchors = new AnchorCache(buildAnchorGenerator(config.model));
  manualSeed(0);
  const student = buildDetector(config.model, SETUP.classes);
  // as the trainer: the student in the config's precision (the teacher follows it, see build/teacher.ts)
  student.precision = runPrecision(config);
  const { strategy } = buildStrategy(config, () => student, SETUP.classes, anchors);
  strategy.trainable.train();
  return { config, strategy, optimizer: buildOptimizer(config, strategy.trainable), anchors };
}

function dispose(s: Side): void {
  s.optimizer.disposeState();
  s.strategy.dispose();
  s.strategy.trainable.dispose();
  s.anchors.dispose();
}

/** The LAD-vs-PAA record; `threads` intra-op threads for both sides, both in `precision` (the presets pin fp32). */
export function ladStep(threads: number, precision: 'fp32' | 'bf16' = 'fp32'): Record<string, unknown> {
  const threadsBefore = getNumThreads();
  setNumThreads(threads);
  const loadStart = loadavg()[0] as number;
  const dir = mkdtempSync(join(tmpdir(), 'ladet-bench-lad-'));
  const input = syntheticBatch({ ...SETUP, seed: 11 });
  let paa: Side | null = null;
  let lad: Side | null = null;
  try {
    // the teacher's weights: its random init, saved as a run would have saved trained ones
    const teacherConfig = loadConfig(join(root, TEACHER_CONFIG));
    manualSeed(1);
    const teacher = buildDetector(teacherConfig.model, SETUP.classes);
    const teacherWeights = join(dir, 'teacher.safetensors');
    saveSafetensors(teacherWeights, teacher.stateDict());
    const teacherParams = teacher.numParameters();
    teacher.dispose();
    paa = side(loadConfig(join(root, PAA_CONFIG), { 'train.precision': precision }));
    lad = side(
      loadConfig(join(root, LAD_CONFIG), {
        'distill.teacher': { config: join(root, TEACHER_CONFIG), weights: teacherWeights },
        'train.precision': precision,
      }),
    );
    const run = (s: Side): TrainStepResult => trainStep(s.strategy, s.optimizer, input, s.config.optimizer.gradClip);
    const loads: number[] = [];
    const { a: p, b: l } = interleave(
      { a: () => run(paa as Side), b: () => run(lad as Side) },
      SETUP,
      (rep, rp, rl) => {
        loads.push(loadavg()[0] as number);
        console.log(
          `lad ${rep + 1}/${SETUP.warmup + SETUP.reps}: paa ${rp.ms.total.toFixed(0)} ms, lad ${rl.ms.total.toFixed(0)} ms (teacher ${rl.logs.teacher_ms?.toFixed(0)} ms)`,
        );
      },
    );
    const med = (xs: TrainStepResult[], f: (r: TrainStepResult) => number): number => median(xs.map(f));
    // the student's own work: strategy.step less the teacher's forward and the assignment, plus backward
    const studentFwdBwd = (r: TrainStepResult): number =>
      r.ms.step - (r.logs.teacher_ms ?? 0) - (r.logs.assign_ms ?? 0) + r.ms.backward;
    const paaStep = med(p, (r) => r.ms.total);
    const ladStepMs = med(l, (r) => r.ms.total);
    const teacherForward = med(l, (r) => r.logs.teacher_ms as number);
    const extra = ladStepMs - paaStep;
    const paaMin = Math.min(...p.map((r) => r.ms.total));
    const ladMinRep = l.reduce((a, b) => (b.ms.total < a.ms.total ? b : a));
    const extraMin = ladMinRep.ms.total - paaMin;
    return {
      setup: {
        batch: SETUP.batch,
        image: `${SETUP.size}x${SETUP.size}`,
        classes: SETUP.classes,
        gt_per_image: `${SETUP.gtPerImage[0]}-${SETUP.gtPerImage[1]}`,
        student: `${PAA_CONFIG} (ResNet-18 x0.25, seed-0 init on both sides)`,
        teacher: `${TEACHER_CONFIG} (ResNet-18 x0.5, random init, ${teacherParams} parameters)`,
        paa: `${PAA_CONFIG}: SelfAssignStrategy`,
        lad: `${LAD_CONFIG}: TeacherStrategy('lad')`,
        step: TRAIN_STEP,
        threads,
        precision,
        warmup: SETUP.warmup,
        reps: SETUP.reps,
        note: 'PAA and LAD steps interleaved, order alternating per rep; times are medians over reps, the ratio the median of per-rep ratios',
        load_avg_1m: { start: loadStart, during_median: median(loads), end: loadavg()[0] },
      },
      paa_step_ms: paaStep,
      lad_step_ms: ladStepMs,
      teacher_forward_ms: teacherForward,
      teacher_assign_ms: med(l, (r) => r.logs.assign_ms as number),
      paa_assign_ms: med(p, (r) => r.logs.assign_ms as number),
      paa_student_fwd_bwd_ms: med(p, studentFwdBwd),
      lad_student_fwd_bwd_ms: med(l, studentFwdBwd),
      paa_optimizer_ms: med(p, (r) => r.ms.optimizer),
      lad_optimizer_ms: med(l, (r) => r.ms.optimizer),
      lad_extra_ms: extra,
      teacher_forward_share_of_extra: extra > 0 ? teacherForward / extra : null,
      lad_vs_paa_step_ratio: median(p.map((r, i) => (l[i] as TrainStepResult).ms.total / r.ms.total)),
      lad_vs_paa_step_ratio_of_medians: ladStepMs / paaStep,
      paa_step_min_ms: paaMin,
      lad_step_min_ms: ladMinRep.ms.total,
      lad_vs_paa_step_min_ratio: ladMinRep.ms.total / paaMin,
      // the teacher's forward in the fastest LAD rep over the min-to-min extra time
      teacher_forward_share_of_extra_min: extraMin > 0 ? (ladMinRep.logs.teacher_ms as number) / extraMin : null,
      first_logs: { paa: p[0]?.logs, lad: l[0]?.logs },
    };
  } finally {
    if (paa) dispose(paa);
    if (lad) dispose(lad);
    input.images.dispose();
    rmSync(dir, { recursive: true, force: true });
    setNumThreads(threadsBefore);
  }
}
