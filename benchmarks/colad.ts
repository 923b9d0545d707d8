// CoLAD suite: the time of one CoLAD training step (both networks forward, two cost tables on one pre-assignment,
// the switch, one PAA re-assignment, both losses, one backward, one SGD step over both) against two independent
// PAA steps of the same two networks (each: forward, pre-assignment, costs, re-assignment, loss, backward, SGD), all
// through the trainer's own step (engine/train_step.ts trainStep), interleaved in the same run on the same batch.
// Networks as the fashion-det CoLAD presets: ResNet-18 at 1/4 and 1/2 width, 10 classes, 160x160 images.
// Target: CoLAD within 10% of the two PAA steps (colad_vs_two_paa_ratio).
// One intra-op thread: this machine's 2 cores are shared with other jobs, and libtorch's thread team slows down many
// times over when one of its threads is descheduled; a single thread makes both sides suffer contention alike. The
// ratio is the median over reps of CoLAD / (PAA 1 + PAA 2) measured back to back (order alternating per rep).
import { SGD } from '../src/optim/index.js';
import { getNumThreads, manualSeed, setNumThreads } from '../src/torch/index.js';
import { TRAIN_STEP, trainStep } from '../src/engine/train_step.js';
import { parseConfig } from '../src/config/schema.js';
import { buildAnchorGenerator, buildAssigner } from '../src/build/model.js';
import { AnchorCache } from '../src/assign/targets.js';
import { SelfAssignStrategy } from '../src/distill/self_assign.js';
import { CoLADStrategy, type CoLADOptions } from '../src/distill/colad.js';
import { buildColadPair } from '../src/build/colad.js';
import type { Strategy, StepInput } from '../src/distill/strategy.js';
import { loadavg } from 'node:os';
import { interleave, median, syntheticBatch } from './util.js';

const BATCH = 2;
const SIZE = 160;
const CLASSES = 10;
const WARMUP = 2;
const REPS = 9;
const THREADS = 1;
/** 3 boxes of 16-80 px per image, classes 0..9 */
const BATCH_SPEC = {
  batch: BATCH,
  size: SIZE,
  classes: CLASSES,
  gtPerImage: [3, 3] as const,
  boxSide: [16, 80] as const,
  seed: 7,
};

const model = (width: number) => ({
  backbone: { depth: 18 as const, widthMultiplier: width, frozenStages: -1, normEval: false },
  neck: { outChannels: 64, startLevel: 1, numOuts: 4 },
  head: { featChannels: 64, stackedConvs: 2, gnGroups: 16 },
  anchors: { strides: [8, 16, 32, 64], octaveBaseScale: 4 },
});

/** One full training step (the trainer's: engine/train_step.ts trainStep); its wall time in ms and the assignment's. */
function timedStep(s: Strategy, opt: SGD, input: StepInput): { ms: number; assignMs: number } {
  const r = trainStep(s, opt, input);
  return { ms: r.ms.total, assignMs: r.logs.assign_ms ?? 0 };
}

interface VariantResult {
  colad_step_ms: number;
  /** fastest rep of each side (least disturbed by other jobs) */
  colad_min_ms: number;
  two_paa_min_ms: number;
  paa_net1_step_ms: number;
  paa_net2_step_ms: number;
  two_paa_ms: number;
  colad_assign_ms: number;
  two_paa_assign_ms: number;
  /** median of colad / (paa1 + paa2) measured rep by rep */
  paired_ratio: number;
  /** every timed rep, for reading the spread */
  reps_ms: { colad: number[]; two_paa: number[] };
}

function runVariant(opts: CoLADOptions, input: StepInput): VariantResult {
  const config = parseConfig({
    name: 'bench',
    data: { root: 'unused' },
    model: model(0.25),
    distill: { strategy: 'colad', colad: { net2: model(0.5) } },
  });
  manualSeed(0);
  const pair = buildColadPair(config, CLASSES);
  const anchors = new AnchorCache(buildAnchorGenerator(config.model));
  const colad = new CoLADStrategy(pair, buildAssigner(config), anchors, { ...opts, loss: {} });
  const paa1 = new SelfAssignStrategy(pair.net1, buildAssigner(config), anchors);
  const paa2 = new SelfAssignStrategy(pair.net2, buildAssigner(config), anchors);
  const sgd = (params: ReturnType<typeof pair.parameters>) =>
    new SGD(params, { lr: 0.001, momentum: 0.9, weightDecay: 1e-4 });
  const optColad = sgd(pair.parameters());
  const opt1 = sgd(pair.net1.parameters());
  const opt2 = sgd(pair.net2.parameters());
  pair.train();
  const { a: cs, b: ps } = interleave(
    {
      a: () => timedStep(colad, optColad, input),
      b: () => [timedStep(paa1, opt1, input), timedStep(paa2, opt2, input)] as const,
    },
    { warmup: WARMUP, reps: REPS },
  );
  const c = cs.map((t) => t.ms);
  const p1 = ps.map(([t1]) => t1.ms);
  const p2 = ps.map(([, t2]) => t2.ms);
  const ca = cs.map((t) => t.assignMs);
  const pa = ps.map(([t1, t2]) => t1.assignMs + t2.assignMs);
  const two = p1.map((v, i) => v + (p2[i] as number));
  const ratios = c.map((v, i) => v / (two[i] as number));
  for (const o of [optColad, opt1, opt2]) o.disposeState();
  pair.dispose();
  anchors.dispose();
  return {
    colad_step_ms: median(c),
    colad_min_ms: Math.min(...c),
    two_paa_min_ms: Math.min(...two),
    paa_net1_step_ms: median(p1),
    paa_net2_step_ms: median(p2),
    two_paa_ms: median(two),
    colad_assign_ms: median(ca),
    two_paa_assign_ms: median(pa),
    paired_ratio: median(ratios),
    reps_ms: { colad: c, two_paa: two },
  };
}

export async function colad(): Promise<Record<string, unknown>> {
  const loadBefore = loadavg()[0];
  const threadsBefore = getNumThreads();
  setNumThreads(THREADS);
  const input = syntheticBatch(BATCH_SPEC);
  let local: VariantResult;
  let network: VariantResult;
  try {
    local = runVariant({ switch: 'local', criterion: 'stdmean' }, input);
    network = runVariant({ switch: 'network', criterion: 'fisher' }, input);
  } finally {
    input.images.dispose();
    setNumThreads(threadsBefore);
  }
  const ratio = local.paired_ratio;
  return {
    setup: {
      batch: BATCH,
      image: `${SIZE}x${SIZE}`,
      classes: CLASSES,
      net1: 'ResNet-18 x0.25, FPN 64, head 64x2',
      net2: 'ResNet-18 x0.5, FPN 64, head 64x2',
      reps: REPS,
      warmup: WARMUP,
      threads: THREADS,
      step: TRAIN_STEP,
      note: 'interleaved in one run, order alternating per rep; times are medians over reps; ratios are medians of per-rep ratios',
      // other jobs share this machine: the 1-minute load average before and after the suite
      load_avg: [loadBefore, loadavg()[0]],
    },
    local_stdmean: local,
    network_fisher: network,
    colad_vs_two_paa_ratio: ratio,
    colad_vs_two_paa_min_ratio: local.colad_min_ms / local.two_paa_min_ms,
    colad_network_fisher_vs_two_paa_ratio: network.paired_ratio,
    target_ratio: 1.1,
    within_target: ratio <= 1.1,
  };
}
