// The training loop: seeded data order and init, SGD with warmup + step decay, evaluation every N epochs, a
// resumable `last` checkpoint after every epoch (and on a stop request), `best` by val bbox mAP, CSV / JSONL /
// TensorBoard logs. Everything tensor-related runs on the calling thread (libtorch grad mode is thread-local).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { dispose, manualSeed, sameDevice, setNumThreads, tidy, zeros, type RunPrecision } from '../torch/index.js';
import { GradScaler, LrScheduler, type SGD } from '../optim/index.js';
import { buildOptimizer, trainStep } from './train_step.js';
import { DataParallel, distEnvOf } from './ddp.js';
import { writeFileAtomic } from '../io/atomic.js';
import { DIST_DEFAULTS, configHash, configToYaml, type Config } from '../config/schema.js';
import {
  buildAnchorGenerator,
  buildDetector,
  runPrecision,
  setPrecision,
  inferenceConfigOf,
  testPipelineOf,
} from '../build/model.js';
import { ensureDataset, openSplit, trainLoader } from './data_setup.js';
import { AnchorCache } from '../assign/targets.js';
import { evaluateDetector, type EvalRun } from './evaluate.js';
import {
  checkOptimizerTensors,
  classList,
  loadModelTensors,
  readCheckpoint,
  readCheckpointHeader,
  saveCheckpoint,
  type TrainerState,
} from '../build/checkpoint.js';
import { MetricsCsv, JsonlLog, type Row } from './metrics_log.js';
import { EventWriter } from './tensorboard.js';
import { codeVersion } from './code_version.js';
import { clearRun, makeRunDir, removeStaleTemps, runContents, runPaths, type RunPaths } from './run_dir.js';
import { lockRunDir } from '../io/run_lock.js';
import { UsageError } from '../config/usage_error.js';
import { buildStrategy, precheckStrategy } from '../build/strategy.js';
import { formatPretrainedReport } from '../build/pretrained.js';
import { sha256File } from '../build/teacher.js';
import type { Strategy } from '../distill/strategy.js';
import type { Detector } from '../models/detector.js';
import type { Module } from '../nn/index.js';

/** train.checkpointMinutes when the config leaves it out: mid-epoch saves of `last` this often. */
export const DEFAULT_CHECKPOINT_MINUTES = 10;

export interface TrainProgress {
  phase: 'data' | 'train' | 'eval';
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  iter: number;
  lr: number;
  losses: Record<string, number>;
  /** the precision the networks' forward runs in (train phase) */
  precision?: RunPrecision;
}

export interface TrainHooks {
  onProgress?: (p: TrainProgress) => void;
  /** polled after every step; true saves `last` and returns */
  shouldStop?: () => boolean;
  onMessage?: (line: string) => void;
}

export interface TrainOptions {
  /** continue weights/last.safetensors of the run (same config) */
  resume?: boolean;
  /** a fresh start on a run directory that holds a run replaces it (without this, such a start is refused) */
  overwrite?: boolean;
  hooks?: TrainHooks;
  /** builds the strategy; default: the network assigns its own labels (PAA or max-IoU per config) */
  strategy?: (ctx: StrategyContext) => Strategy | Promise<Strategy>;
  /**
   * this process as one rank of a data-parallel job (engine/ddp.ts); default: joined from torchrun's environment
   * when WORLD_SIZE > 1, else one process. Rank 0 alone writes the run directory.
   */
  dist?: DataParallel | null;
}

/** How a run starts: continue its `last` checkpoint, and/or replace a run already in its directory. */
export interface StartMode {
  resume: boolean;
  overwrite?: boolean;
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

export { configHash } from '../config/schema.js';

export async function train(config: Config, opts: TrainOptions = {}): Promise<TrainSummary> {
  const paths = runPaths(config.runsDir, config.name);
  let dist = opts.dist;
  let joined: DataParallel | null = null;
  if (dist === undefined) {
    const env = distEnvOf();
    const d = config.dist ?? DIST_DEFAULTS;
    joined = env === null ? null : DataParallel.join(env, d.timeout * 1000, d.startTimeout * 1000);
    dist = joined;
  }
  const main = dist === null || dist.isMain;
  // ranks other than 0 say nothing on the console either: one log per job
  const say = main ? (opts.hooks?.onMessage ?? ((l: string) => console.log(l))) : () => {};
  try {
    if (!main) return await trainLocked(config, { ...opts, dist }, paths, say);
    // one owner per run directory: a second trainer (or repro, or the API) on the same name is refused
    const lock = lockRunDir(paths.dir, `ladet train (${config.name})`, say);
    try {
      return await trainLocked(config, { ...opts, dist }, paths, say);
    } finally {
      lock.release();
    }
  } finally {
    joined?.destroy();
  }
}

/** Whether a start may go ahead in `paths.dir`, and how: throws (changing nothing) when it would replace a run. */
function planStart(
  paths: RunPaths,
  opts: TrainOptions,
  hash: string,
  say: (l: string) => void,
): { resuming: boolean; replace: string[] } {
  const previous = runContents(paths);
  if (opts.resume === true && existsSync(paths.last)) {
    checkResumable(paths.last, hash);
    return { resuming: true, replace: [] };
  }
  if (previous.length === 0) {
    if (opts.resume === true) say(`resume: no ${paths.last}; starting from scratch`);
    return { resuming: false, replace: [] };
  }
  const weights = previous.some((f) => f.endsWith('.safetensors'));
  // resume=true on a run that never saved weights (it died in its first epoch) starts it again: nothing is lost
  if (opts.overwrite === true || (opts.resume === true && !weights)) {
    if (opts.resume === true) say(`resume: no ${paths.last}; starting from scratch`);
    return { resuming: false, replace: previous };
  }
  const hint =
    opts.resume === true
      ? 'it has no weights/last.safetensors to resume from; '
      : 'pass resume=true to continue it, or ';
  throw new UsageError(
    `${paths.dir} already holds a run (${previous.join(', ')}); ${hint}overwrite=true to replace it, or choose another name`,
  );
}

/** Every rank must train the same config: their config hashes are compared at start (a clear error, not a hang). */
function checkSameConfig(dist: DataParallel, hash: string): void {
  // the hash's first 12 hex digits as a number: exact in float64
  const all = dist.gather([parseInt(hash.slice(0, 12), 16)]).map((v) => v[0]);
  const differ = all.findIndex((v) => v !== all[0]);
  if (differ >= 0) {
    throw new UsageError(
      `distributed: rank ${differ} trains another config than rank 0 (config hashes differ); start every rank with the same config`,
    );
  }
}

/** Refuses a `last` checkpoint that cannot continue this config, from its header alone (nothing is loaded). */
function checkResumable(last: string, hash: string): void {
  const st = readCheckpointHeader(last).meta?.trainer;
  if (!st) throw new Error(`${last}: not a resumable checkpoint (no trainer state)`);
  if (st.configHash !== hash) {
    throw new UsageError(
      `${last}: the run was started with a different config; resume needs the same config (or start a new run name, or overwrite=true)`,
    );
  }
}

/** A clear error for a device libtorch cannot use (device=banana, cuda without a GPU), before anything is written. */
function checkDevice(device: string): void {
  try {
    tidy(() => zeros([1], { device }));
  } catch (e) {
    throw new UsageError(`device=${device}: ${(e as Error).message.split('\n')[0]}`);
  }
}

async function trainLocked(
  config: Config,
  opts: TrainOptions,
  paths: RunPaths,
  say: (l: string) => void,
): Promise<TrainSummary> {
  const hooks = opts.hooks ?? {};
  const dist = opts.dist ?? null;
  const main = dist === null || dist.isMain;
  if (config.threads) setNumThreads(config.threads);
  const hash = configHash(config);
  if (dist !== null) checkSameConfig(dist, hash);
  // Everything is validated and built before the first byte goes into the run directory: a refused or failed
  // start leaves an existing run as it was (config.yaml included), so it can still be tested or resumed.
  // Under data parallelism rank 0 decides; the others follow what they find.
  const { resuming, replace } = main
    ? planStart(paths, opts, hash, say)
    : { resuming: opts.resume === true && existsSync(paths.last), replace: [] };
  checkDevice(config.device);
  precheckStrategy(config);

  hooks.onProgress?.({
    phase: 'data',
    epoch: 0,
    epochs: config.schedule.epochs,
    batch: 0,
    batches: 0,
    iter: 0,
    lr: 0,
    losses: {},
  });
  // a built-in dataset is made by rank 0 alone; the others wait for it (up to dist.startTimeout)
  if (dist !== null) {
    const startTimeout = (config.dist ?? DIST_DEFAULTS).startTimeout * 1000;
    await dist.rank0First('the dataset', startTimeout, () => ensureDataset(config, undefined, say));
  } else {
    await ensureDataset(config, undefined, say);
  }
  const train = openSplit(config, 'train');
  const val = openSplit(config, 'val');
  const numClasses = train.dataset.labels.size;
  // recorded in every checkpoint, so `ladet test` / `ladet predict` can name classes without the dataset
  const classes = classList(train.dataset.labels);

  manualSeed(config.seed);
  const owned: { dispose(): void | Promise<void> }[] = [];
  const anchors = new AnchorCache(buildAnchorGenerator(config.model), config.device);
  owned.push(anchors);
  try {
    return await trainBuilt();
  } finally {
    for (const o of owned.reverse()) await o.dispose();
  }

  async function trainBuilt(): Promise<TrainSummary> {
    const ctx: StrategyContext = {
      config,
      numClasses,
      anchors,
      // a fresh start loads model.backbone.init; a resumed one takes every weight from its checkpoint
      buildStudent: () =>
        buildDetector(config.model, numClasses, {
          init: !resuming,
          onInit: (r) => {
            say(`model.backbone.init: ${r.path}\n${formatPretrainedReport(r)}`);
            initInfo = { backboneInit: { path: r.path, sha256: sha256File(r.path), source: r.source } };
          },
        }),
    };
    let initInfo: Record<string, unknown> = {};
    let runInfo: Record<string, unknown> = {};
    let strategy: Strategy;
    if (opts.strategy) {
      strategy = await opts.strategy(ctx);
    } else {
      const built = buildStrategy(config, ctx.buildStudent, numClasses, anchors);
      strategy = built.strategy;
      runInfo = built.info;
    }
    runInfo = { ...runInfo, ...initInfo };
    const model = strategy.trainable;
    // the student (both CoLAD networks) on the run's device; a teacher is put there when it is built
    model.toDevice(config.device);
    // the networks' forward in bf16 under autocast, or fp32; weights, gradients, optimizer and losses stay fp32
    const precision = runPrecision(config);
    setPrecision(model, precision);
    const asked = config.train?.precision ?? 'auto';
    say(
      `precision: ${precision}${asked === 'auto' ? ` (auto: ${precision === 'bf16' ? 'native bf16 on this device' : 'no native bf16 on this device'})` : ''}${precision === 'fp16' ? ' with dynamic loss scaling' : ''}`,
    );
    // float16's narrow exponent range needs the loss scaled (bf16 and fp32 do not)
    const scaler = precision === 'fp16' ? new GradScaler() : null;
    runInfo = { ...runInfo, precision, ...(dist !== null ? { worldSize: dist.worldSize } : {}) };
    owned.push(model, strategy); // disposed in reverse: the strategy, then the network
    const evalNet = (model as unknown as { evalNetwork?: () => Detector }).evalNetwork?.() ?? (model as Detector);
    const optimizer = buildOptimizer(config, model);
    owned.push({ dispose: () => optimizer.disposeState() });
    const log: Pick<JsonlLog, 'write'> = main ? new JsonlLog(paths.dir) : { write: () => {} };
    const loader = trainLoader(config, train, {
      // data parallelism: disjoint shards of each epoch's order, as torch's DistributedSampler
      rank: dist?.rank ?? 0,
      worldSize: dist?.worldSize ?? 1,
      onSkip: (s) => log.write('skip', { file: s.file, image_id: s.imageId, reason: s.reason }),
    });
    owned.push({ dispose: () => loader.close() });
    const itersPerEpoch = loader.length;
    const s = config.schedule;
    const scheduler = new LrScheduler(optimizer, {
      decay: { policy: 'step', steps: s.steps, gamma: s.gamma },
      warmup: s.warmupIters > 0 ? { policy: 'linear', iters: s.warmupIters, ratio: s.warmupRatio } : null,
      byEpoch: true,
      itersPerEpoch,
    });

    let state: TrainerState = {
      epoch: 0,
      batch: 0,
      iter: 0,
      best: null,
      scheduler: null,
      optimizer: null,
      configHash: hash,
      epochLog: null,
      gradScaler: null,
    };
    if (resuming) {
      const resumed = resumeFrom(paths, model, optimizer, scheduler, hash);
      state = resumed.state;
      // an fp16 run continues with its scale; one that trained in another precision starts the scaler afresh
      if (scaler !== null && state.gradScaler) scaler.loadStateDict(state.gradScaler);
      // allowed (checkpoints are fp32 either way), and said, since the steps before and after differ in rounding
      const before = resumed.info?.precision ?? 'fp32';
      if (before !== precision)
        say(`resume: the run trained in ${String(before)} so far and continues in ${precision}`);
      // another world size works (the order of images is per rank); the global batch, and so the step, differs
      const ranksBefore = Number(resumed.info?.worldSize ?? 1);
      const ranksNow = dist?.worldSize ?? 1;
      if (ranksBefore !== ranksNow)
        say(`resume: the run trained on ${ranksBefore} rank(s) so far and continues on ${ranksNow}`);
    }

    if (dist !== null) {
      // rank 0's weights everywhere (equal already from the seed or the checkpoint; this makes it so regardless)
      dist.broadcastModule(model);
      // until the run ends (owned is disposed however it ends)
      if ((config.dist ?? DIST_DEFAULTS).syncNumPos) owned.push({ dispose: dist.installLossReducer() });
      say(`data parallel: ${dist.worldSize} ranks, ${config.data.batchSize} images per rank and step`);
    }
    // From here on the run directory is written (by rank 0 alone under data parallelism).
    if (main) {
      if (replace.length) {
        clearRun(paths);
        say(`overwrite: removed the earlier run's ${replace.join(', ')} in ${paths.dir}`);
      }
      makeRunDir(paths);
      const temps = removeStaleTemps(paths);
      if (temps.length)
        say(`removed ${temps.length} temp file(s) an interrupted write left in ${paths.dir}: ${temps.join(', ')}`);
      writeFileAtomic(paths.config, configToYaml(config));
    }
    if (resuming)
      say(`resuming ${paths.dir} at epoch ${state.epoch + 1}, batch ${state.batch + 1} (iteration ${state.iter})`);
    const csv = main ? new MetricsCsv(paths.dir, resuming) : null;
    const tb = main ? new EventWriter(paths.dir) : null;
    if (tb !== null) owned.push({ dispose: () => tb.close() });
    // each start (fresh or resumed) names the code it trains with: a run resumed across commits lists both
    log.write('start', {
      config: config.name,
      strategy: strategy.name,
      ...runInfo,
      hash,
      resume: resuming,
      precision,
      code: codeVersion(),
      train_images: loader.images.length,
      classes: numClasses,
      params: model.numParameters(),
    });

    const saveLast = (): void => {
      if (!main) return;
      saveCheckpoint(
        paths.last,
        model,
        {
          format: 'ladet-checkpoint',
          version: 1,
          kind: 'last',
          trainer: { ...state, scheduler: scheduler.stateDict(), gradScaler: scaler?.stateDict() ?? null },
          info: { classes, resolvedConfig: config, ...runInfo },
        },
        optimizer,
      );
    };

    const saveBest = (run: EvalRun, epoch: number, metric: number): void => {
      saveCheckpoint(paths.best, evalNet, {
        format: 'ladet-checkpoint',
        version: 1,
        kind: 'best',
        info: { epoch, bbox_mAP: metric, config: config.name, classes, resolvedConfig: config, ...runInfo },
      });
      writeFileAtomic(join(paths.evalDir, 'best_results.json'), JSON.stringify(run.results) + '\n');
    };

    let stopped = false;
    let lastEval: EvalRun | null = null;
    // mid-epoch saves of `last` (the Ctrl-C stop's state), so that a crash or a kill -9 loses at most this much
    const checkpointMs = (config.train?.checkpointMinutes ?? DEFAULT_CHECKPOINT_MINUTES) * 60_000;
    let savedAt = performance.now();
    try {
      for (let epoch = state.epoch; epoch < s.epochs && !stopped; epoch++) {
        model.train();
        const startBatch = epoch === state.epoch ? state.batch : 0;
        // an epoch resumed mid-way continues the running sums the stop saved, so its metrics.csv row is the
        // uninterrupted run's (only its time differs)
        const carried = startBatch > 0 ? state.epochLog : null;
        const t0 = performance.now() - (carried?.seconds ?? 0) * 1000;
        const sums: Record<string, number> = { ...(carried?.sums ?? {}) };
        let count = carried?.count ?? 0;
        // `last` at a position inside this epoch, with its running sums (a stop's save and the periodic one)
        const saveMidEpoch = (): void => {
          state.epochLog = { sums, count, seconds: (performance.now() - t0) / 1000 };
          saveLast();
        };
        for await (const batch of loader.epoch(epoch, startBatch)) {
          const lr = scheduler.step()[0] as number;
          // the one step (train_step.ts, also what the benchmarks time): losses, backward, finiteness check, clip, SGD
          let logs: Record<string, number>;
          try {
            // the loader's images are on the CPU; on a GPU the step takes a copy there
            const images = sameDevice(config.device, 'cpu') ? batch.images : batch.images.toDevice(config.device);
            if (images !== batch.images) batch.images.dispose();
            batch.images = images;
            const input = { images, targets: batch.targets, metas: batch.metas };
            dist?.broadcastBuffers(model);
            const at = { epoch, batch: batch.index, iter: state.iter };
            const sync = dist ?? undefined;
            logs = trainStep(strategy, optimizer, input, config.optimizer.gradClip, at, sync, scaler ?? undefined).logs;
          } finally {
            batch.images.dispose();
          }
          state.iter++;
          state.batch = batch.index + 1;
          for (const [k, v] of Object.entries(logs)) sums[k] = (sums[k] ?? 0) + v;
          count++;
          if (state.iter % config.logEvery === 0) {
            log.write('iter', { iter: state.iter, epoch: epoch + 1, lr, ...logs });
            for (const [k, v] of Object.entries(logs))
              if (k.startsWith('loss')) tb?.scalar(`train/${k}`, v, state.iter);
            tb?.scalar('train/lr', lr, state.iter);
          }
          hooks.onProgress?.({
            phase: 'train',
            epoch,
            epochs: s.epochs,
            batch: batch.index + 1,
            batches: itersPerEpoch,
            iter: state.iter,
            lr,
            losses: logs,
            precision,
          });
          // under data parallelism every rank stops after the same step, when any rank was asked to
          const stopHere = hooks.shouldStop?.() === true;
          if (dist !== null ? (dist.sum([stopHere ? 1 : 0])[0] as number) > 0 : stopHere) {
            stopped = true;
            break;
          }
          if (checkpointMs > 0 && state.batch < itersPerEpoch && performance.now() - savedAt >= checkpointMs) {
            saveMidEpoch();
            state.epochLog = null;
            savedAt = performance.now();
            log.write('checkpoint', { iter: state.iter, epoch: epoch + 1, batch: state.batch });
          }
        }
        if (stopped) {
          saveMidEpoch();
          log.write('stop', { iter: state.iter, epoch: epoch + 1, batch: state.batch });
          // how to continue is the caller's to say: `ladet train` needs resume=true, the demo and repro just rerun
          say(`stopped: saved ${paths.last} (epoch ${epoch + 1}, batch ${state.batch})`);
          break;
        }
        state.epoch = epoch + 1;
        state.batch = 0;
        state.epochLog = null;
        const row: Row = { epoch: epoch + 1, time: (performance.now() - t0) / 1000 };
        for (const [k, v] of Object.entries(sums)) row[`train/${k}`] = v / Math.max(1, count);
        row['train/lr'] = optimizer.paramGroups[0]?.lr ?? null;
        const evalDue = config.eval.every > 0 && ((epoch + 1) % config.eval.every === 0 || epoch + 1 === s.epochs);
        if (evalDue) {
          // validation runs the network in fp32, as `ladet test` does by default: the AP a run records is the one a
          // user measures again (bf16 only speeds up training)
          evalNet.precision = 'fp32';
          dist?.broadcastBuffers(model);
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
            // under data parallelism each rank runs a shard; every rank gets the whole split's numbers
            ...(dist !== null ? { shard: dist } : {}),
            onBatch: (done, total) =>
              hooks.onProgress?.({
                phase: 'eval',
                epoch,
                epochs: s.epochs,
                batch: done,
                batches: total,
                iter: state.iter,
                lr: 0,
                losses: {},
              }),
          });
          evalNet.precision = precision;
          const n = lastEval.coco.named;
          for (const [k, v] of Object.entries(n)) row[`val/${k}`] = v;
          for (const [k, v] of Object.entries(n)) tb?.scalar(`val/${k}`, v, epoch + 1);
          if (main)
            writeFileAtomic(
              join(paths.evalDir, `epoch_${epoch + 1}.json`),
              JSON.stringify({ epoch: epoch + 1, stats: n, perClassAP: lastEval.coco.perClassAP }, null, 2) + '\n',
            );
          const metric = lastEval.coco.stats[0] as number;
          if (state.best === null || metric > state.best.metric) {
            state.best = { metric, epoch: epoch + 1 };
            if (main) saveBest(lastEval, epoch + 1, metric);
          }
        }
        csv?.add(row);
        tb?.flush();
        log.write('epoch', row);
        saveLast();
        savedAt = performance.now();
      }
    } finally {
      tb?.close();
    }
    return { runDir: paths.dir, stopped, epochsDone: state.epoch, best: state.best, lastEval };
  }
}

function resumeFrom(
  paths: RunPaths,
  model: Module,
  optimizer: SGD,
  scheduler: LrScheduler,
  hash: string,
): { state: TrainerState; info: Record<string, unknown> | undefined } {
  checkResumable(paths.last, hash);
  const ck = readCheckpoint(paths.last);
  try {
    const st = ck.meta?.trainer as TrainerState;
    // the same dtype and shape checks as every other weights file (readCheckpoint already refused NaN / Inf)
    loadModelTensors(paths.last, model, ck.model);
    if (st.optimizer) {
      checkOptimizerTensors(paths.last, optimizer, ck.optimizer);
      optimizer.loadStateDict(ck.optimizer, st.optimizer);
    }
    if (st.scheduler) scheduler.loadStateDict(st.scheduler);
    return { state: { ...st, epochLog: st.epochLog ?? null }, info: ck.meta?.info };
  } finally {
    dispose([...ck.model.values(), ck.optimizer]);
  }
}
