// The training loop: seeded data order and init, SGD with warmup + step decay, evaluation every N epochs, a
// resumable `last` checkpoint after every epoch (and on a stop request), `best` by val bbox mAP, CSV / JSONL /
// TensorBoard logs. Everything tensor-related runs on the calling thread (libtorch grad mode is thread-local).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { dispose, manualSeed, setNumThreads, tidy } from '../torch/index.js';
import { SGD, LrScheduler, clipGradNorm } from '../optim/index.js';
import { DataLoader } from '../data/loader.js';
import { writeFileAtomic } from '../io/atomic.js';
import { configHash, configToYaml, type Config } from './config.js';
import { buildAnchorGenerator, buildDetector, inferenceConfigOf, testPipelineOf, trainPipelineOf } from './build.js';
import { ensureDataset, openSplit } from './data_setup.js';
import { AnchorCache } from './targets.js';
import { evaluateDetector, type EvalRun } from './evaluate.js';
import { classList, readCheckpoint, saveCheckpoint, type TrainerState } from './checkpoint.js';
import { MetricsCsv, JsonlLog, type Row } from './metrics_log.js';
import { EventWriter } from './tensorboard.js';
import { codeVersion } from './code_version.js';
import { makeRunDir, runPaths, type RunPaths } from './run_dir.js';
import { buildStrategy, precheckStrategy } from '../distill/build.js';
import type { Strategy } from '../distill/strategy.js';
import type { Detector } from '../models/detector.js';
import type { Module } from '../nn/index.js';

export interface TrainProgress {
  phase: 'data' | 'train' | 'eval';
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  iter: number;
  lr: number;
  losses: Record<string, number>;
}

export interface TrainHooks {
  onProgress?: (p: TrainProgress) => void;
  /** polled after every step; true saves `last` and returns */
  shouldStop?: () => boolean;
  onMessage?: (line: string) => void;
}

export interface TrainOptions {
  resume?: boolean;
  hooks?: TrainHooks;
  /** builds the strategy; default: the network assigns its own labels (PAA or max-IoU per config) */
  strategy?: (ctx: StrategyContext) => Strategy | Promise<Strategy>;
}

export interface StrategyContext {
  config: Config;
  numClasses: number;
  anchors: AnchorCache;
  /** the network the run evaluates and saves as best */
  buildStudent: () => Detector;
}

export interface TrainSummary {
  runDir: string;
  stopped: boolean;
  epochsDone: number;
  best: { metric: number; epoch: number } | null;
  lastEval: EvalRun | null;
}

export { configHash } from './config.js';

/** Throws a clear error when a loss is NaN or infinite. */
function checkFinite(logs: Record<string, number>, epoch: number, batch: number, iter: number): void {
  for (const [k, v] of Object.entries(logs)) {
    if (!Number.isFinite(v)) {
      throw new Error(`training diverged: ${k} = ${v} at iteration ${iter} (epoch ${epoch + 1}, batch ${batch + 1}); lower optimizer.lr or enable optimizer.gradClip`);
    }
  }
}

export async function train(config: Config, opts: TrainOptions = {}): Promise<TrainSummary> {
  const hooks = opts.hooks ?? {};
  const say = hooks.onMessage ?? ((l: string) => console.log(l));
  if (config.threads) setNumThreads(config.threads);
  const paths = runPaths(config.runsDir, config.name);
  const hash = configHash(config);
  const resuming = opts.resume === true && existsSync(paths.last);
  if (opts.resume === true && !resuming) say(`resume: no ${paths.last}; starting from scratch`);
  precheckStrategy(config);
  makeRunDir(paths);
  writeFileAtomic(paths.config, configToYaml(config));

  hooks.onProgress?.({ phase: 'data', epoch: 0, epochs: config.schedule.epochs, batch: 0, batches: 0, iter: 0, lr: 0, losses: {} });
  await ensureDataset(config);
  const train = openSplit(config, 'train');
  const val = openSplit(config, 'val');
  const numClasses = train.dataset.labels.size;
  // recorded in every checkpoint, so `ladet test` / `ladet predict` can name classes without the dataset
  const classes = classList(train.dataset.labels);

  manualSeed(config.seed);
  const anchors = new AnchorCache(buildAnchorGenerator(config.model), config.device);
  const ctx: StrategyContext = { config, numClasses, anchors, buildStudent: () => buildDetector(config.model, numClasses) };
  let runInfo: Record<string, unknown> = {};
  let strategy: Strategy;
  if (opts.strategy) {
    strategy = await opts.strategy(ctx);
  } else {
    const built = buildStrategy(config, ctx.buildStudent, numClasses, anchors);
    strategy = built.strategy;
    runInfo = built.info;
  }
  const model = strategy.trainable;
  const evalNet = (model as unknown as { evalNetwork?: () => Detector }).evalNetwork?.() ?? (model as Detector);
  const params = model.parameters().filter((p) => p.requiresGrad);
  const optimizer = new SGD(params, {
    lr: config.optimizer.lr,
    momentum: config.optimizer.momentum,
    weightDecay: config.optimizer.weightDecay,
  });
  const loader = new DataLoader({
    dataset: train.dataset,
    imageDir: train.images,
    batchSize: config.data.batchSize,
    pipeline: trainPipelineOf(config),
    seed: config.seed,
    workers: config.data.workers,
    filterEmpty: true,
    onSkip: (s) => log.write('skip', { file: s.file, image_id: s.imageId, reason: s.reason }),
  });
  const itersPerEpoch = loader.length;
  const s = config.schedule;
  const scheduler = new LrScheduler(optimizer, {
    decay: { policy: 'step', steps: s.steps, gamma: s.gamma },
    warmup: s.warmupIters > 0 ? { policy: 'linear', iters: s.warmupIters, ratio: s.warmupRatio } : null,
    byEpoch: true,
    itersPerEpoch,
  });

  const log = new JsonlLog(paths.dir);
  let state: TrainerState = { epoch: 0, batch: 0, iter: 0, best: null, scheduler: null, optimizer: null, configHash: hash };
  if (resuming) {
    state = resumeFrom(paths, model, optimizer, scheduler, hash);
    say(`resuming ${paths.dir} at epoch ${state.epoch + 1}, batch ${state.batch + 1} (iteration ${state.iter})`);
  }
  const csv = new MetricsCsv(paths.dir, resuming);
  const tb = new EventWriter(paths.dir);
  // each start (fresh or resumed) names the code it trains with: a run resumed across commits lists both
  log.write('start', { config: config.name, strategy: strategy.name, ...runInfo, hash, resume: resuming, code: codeVersion(), train_images: loader.images.length, classes: numClasses, params: model.numParameters() });

  const saveLast = (): void => {
    saveCheckpoint(paths.last, model, { format: 'ladet-checkpoint', version: 1, kind: 'last', trainer: { ...state, scheduler: scheduler.stateDict() }, info: { classes, resolvedConfig: config, ...runInfo } }, optimizer);
  };

  let stopped = false;
  let lastEval: EvalRun | null = null;
  try {
    for (let epoch = state.epoch; epoch < s.epochs && !stopped; epoch++) {
      model.train();
      const t0 = performance.now();
      const sums: Record<string, number> = {};
      let count = 0;
      const startBatch = epoch === state.epoch ? state.batch : 0;
      for await (const batch of loader.epoch(epoch, startBatch)) {
        const lr = scheduler.step()[0] as number;
        const logs = tidy(() => {
          const r = strategy.step({ images: batch.images, targets: batch.targets, metas: batch.metas });
          r.total.backward();
          return r.logs;
        });
        batch.images.dispose();
        checkFinite(logs, epoch, batch.index, state.iter);
        if (config.optimizer.gradClip !== null) logs.grad_norm = clipGradNorm(params, config.optimizer.gradClip);
        optimizer.step();
        optimizer.zeroGrad();
        state.iter++;
        state.batch = batch.index + 1;
        for (const [k, v] of Object.entries(logs)) sums[k] = (sums[k] ?? 0) + v;
        count++;
        if (state.iter % config.logEvery === 0) {
          log.write('iter', { iter: state.iter, epoch: epoch + 1, lr, ...logs });
          for (const [k, v] of Object.entries(logs)) if (k.startsWith('loss')) tb.scalar(`train/${k}`, v, state.iter);
          tb.scalar('train/lr', lr, state.iter);
        }
        hooks.onProgress?.({ phase: 'train', epoch, epochs: s.epochs, batch: batch.index + 1, batches: itersPerEpoch, iter: state.iter, lr, losses: logs });
        if (hooks.shouldStop?.()) {
          stopped = true;
          break;
        }
      }
      if (stopped) {
        saveLast();
        log.write('stop', { iter: state.iter, epoch: epoch + 1, batch: state.batch });
        // how to continue is the caller's to say: `ladet train` needs resume=true, the demo and repro just rerun
        say(`stopped: saved ${paths.last} (epoch ${epoch + 1}, batch ${state.batch})`);
        break;
      }
      state.epoch = epoch + 1;
      state.batch = 0;
      const row: Row = { epoch: epoch + 1, time: (performance.now() - t0) / 1000 };
      for (const [k, v] of Object.entries(sums)) row[`train/${k}`] = v / Math.max(1, count);
      row['train/lr'] = optimizer.paramGroups[0]?.lr ?? null;
      const evalDue = config.eval.every > 0 && ((epoch + 1) % config.eval.every === 0 || epoch + 1 === s.epochs);
      if (evalDue) {
        lastEval = await evaluateDetector({
          model: evalNet,
          dataset: val.dataset,
          annotations: val.annotations,
          imageDir: val.images,
          pipeline: testPipelineOf(config),
          anchors,
          inference: inferenceConfigOf(config),
          batchSize: config.data.batchSize,
          workers: config.data.workers,
          onBatch: (done, total) =>
            hooks.onProgress?.({ phase: 'eval', epoch, epochs: s.epochs, batch: done, batches: total, iter: state.iter, lr: 0, losses: {} }),
        });
        const n = lastEval.coco.named;
        for (const [k, v] of Object.entries(n)) row[`val/${k}`] = v;
        for (const [k, v] of Object.entries(n)) tb.scalar(`val/${k}`, v, epoch + 1);
        writeFileAtomic(join(paths.evalDir, `epoch_${epoch + 1}.json`), JSON.stringify({ epoch: epoch + 1, stats: n, perClassAP: lastEval.coco.perClassAP }, null, 2) + '\n');
        const metric = lastEval.coco.stats[0] as number;
        if (state.best === null || metric > state.best.metric) {
          state.best = { metric, epoch: epoch + 1 };
          saveCheckpoint(paths.best, evalNet, { format: 'ladet-checkpoint', version: 1, kind: 'best', info: { epoch: epoch + 1, bbox_mAP: metric, config: config.name, classes, resolvedConfig: config, ...runInfo } });
          writeFileAtomic(join(paths.evalDir, 'best_results.json'), JSON.stringify(lastEval.results) + '\n');
        }
      }
      csv.add(row);
      tb.flush();
      log.write('epoch', row);
      saveLast();
    }
  } finally {
    tb.close();
    await loader.close();
    anchors.dispose();
    strategy.dispose();
    optimizer.disposeState();
    model.dispose();
  }
  return { runDir: paths.dir, stopped, epochsDone: state.epoch, best: state.best, lastEval };
}

function resumeFrom(paths: RunPaths, model: Module, optimizer: SGD, scheduler: LrScheduler, hash: string): TrainerState {
  const ck = readCheckpoint(paths.last);
  try {
    const st = ck.meta?.trainer;
    if (!st) throw new Error(`${paths.last}: not a resumable checkpoint (no trainer state)`);
    if (st.configHash !== hash) {
      throw new Error(`${paths.last}: the run was started with a different config; resume needs the same config (or start a new run name)`);
    }
    model.loadStateDict(ck.model);
    if (st.optimizer) optimizer.loadStateDict(ck.optimizer, st.optimizer);
    if (st.scheduler) scheduler.loadStateDict(st.scheduler);
    return st;
  } finally {
    dispose([...ck.model.values(), ck.optimizer]);
  }
}
