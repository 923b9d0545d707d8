// One rank of the `dist` suite (dist.ts), started with torchrun's variables (one process when WORLD_SIZE is unset):
//   node dist_child.js engine STEPS WARM   the engine suite's ResNet-18 stack, batch 8 at 128 px, SGD
//   node dist_child.js mini STEPS WARM     the mini preset's trainer step (PAA), batch 16 at 160 px, fp32
// One intra-op thread per rank. Rank 0 prints one JSON line: median step ms, median gradient all-reduce ms (the
// DataParallel.allReduceGradients call), the gradient bytes reduced per step.
import {
  BYTES_PER_ELEMENT,
  crossEntropy,
  manualSeed,
  randint,
  randn,
  setNumThreads,
  tidy,
} from '../src/torch/index.js';
import { SGD } from '../src/optim/index.js';
import { DataParallel, distEnvOf } from '../src/engine/ddp.js';
import { trainStep } from '../src/engine/train_step.js';
import type { Tensor } from '../src/torch/index.js';
import { ResNet18Stack } from './engine.js';
import { MINI, MINI_CONFIG, side } from './precision.js';
import { median, syntheticBatch } from './util.js';

const [mode = 'engine', stepsArg = '10', warmArg = '2'] = process.argv.slice(2);
const steps = Number(stepsArg);
const warm = Number(warmArg);
setNumThreads(1);
const env = distEnvOf();
const dp = env === null ? null : DataParallel.join(env, 120_000);
const rank = dp?.rank ?? 0;

// times the all-reduce inside the step
const reduceMs: number[] = [];
let gradBytes = 0;
const sync = dp && {
  allReduceGradients(params: readonly Tensor[], ok: boolean): boolean {
    gradBytes = params.reduce((s, p) => s + p.numel * BYTES_PER_ELEMENT[p.dtype], 0);
    const t0 = performance.now();
    const r = dp.allReduceGradients(params, ok);
    reduceMs.push(performance.now() - t0);
    return r;
  },
};

const times: number[] = [];
if (mode === 'engine') {
  manualSeed(0);
  const net = new ResNet18Stack();
  const params = net.parameters();
  const opt = new SGD(params, { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  dp?.broadcastModule(net);
  manualSeed(1 + rank); // each rank its own batch
  const x = randn([8, 3, 128, 128]);
  const y = randint(0, 10, [8]);
  for (let i = 0; i < warm + steps; i++) {
    const t0 = performance.now();
    opt.zeroGrad();
    tidy(() => crossEntropy(net.forward(x), y).backward());
    sync?.allReduceGradients(params, true);
    opt.step();
    if (i >= warm) times.push(performance.now() - t0);
  }
} else if (mode === 'mini') {
  // the precision suite's mini side: the preset's network (seed-0 init), its PAA strategy and SGD, fp32
  const { config, det, strategy, optimizer } = side(MINI_CONFIG, MINI.classes, 'fp32');
  dp?.broadcastModule(det);
  dp?.installLossReducer();
  const input = syntheticBatch({ ...MINI, seed: 11 + rank });
  for (let i = 0; i < warm + steps; i++) {
    const r = trainStep(strategy, optimizer, input, config.optimizer.gradClip, undefined, sync ?? undefined);
    if (i >= warm) times.push(r.ms.total);
  }
} else {
  throw new Error(`dist_child: unknown mode '${mode}'`);
}
const steady = reduceMs.slice(warm);
if (rank === 0) {
  console.log(
    JSON.stringify({
      step_ms: median(times),
      allreduce_ms: steady.length ? median(steady) : 0,
      grad_bytes: gradBytes,
      world: dp?.worldSize ?? 1,
    }),
  );
}
dp?.destroy();
