// One row × seed of a study: skip it when its result file already records this config hash; collect it when its
// run directory holds a finished run of this config (a run trained earlier, e.g. by `ladet train`); otherwise train
// it (resume=true continues an interrupted run) and then collect it. Collecting writes the result JSON.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UsageError } from '../config/usage_error.js';
import { gitState, type GitState } from '../engine/code_version.js';
import type { Job } from './plan.js';
import { readRecordIfAny, retrainedPath, writeRecord, type MetricKey, type ResultRecord } from './record.js';
import { inspectRun, type FinishedRun } from './run_state.js';
import { runWeights } from '../build/checkpoint.js';
import { lockOwner } from '../io/run_lock.js';

export type Decision =
  | { action: 'skip'; record: ResultRecord }
  | { action: 'collect'; run: FinishedRun }
  /** `retrainOf`: set when a recorded job trains again because its weights are gone (see needWeights) */
  | { action: 'train'; epochsDone: number; retrainOf?: ResultRecord };

/**
 * An unfinished run written to this recently (and not stopped by Ctrl-C) is taken to be training in another process
 * (e.g. `ladet train ... resume=true`): two trainers on one run directory would corrupt it. The trainer logs at least
 * every minute or so (iterations, evaluation), so five quiet minutes mean nobody is training it.
 */
export const BUSY_MS = 5 * 60 * 1000;

/**
 * Whether `e` says another process trains the job's run: decide()'s refusal, or the trainer's run lock (from a
 * training worker, where only the error's name survives) taken by a process that started it a moment before.
 */
export function isBusyError(e: unknown): boolean {
  return e instanceof BusyRunError || (e instanceof Error && e.name === 'RunLockedError');
}

/** decide()'s refusal of a run that another process seems to be training. */
export class BusyRunError extends UsageError {
  constructor(
    message: string,
    readonly epochsDone: number,
    readonly quietMs: number,
  ) {
    super(message);
  }
}

/**
 * What to do for `job`, from its result file and run directory alone (no training, no libtorch). `needWeights`: a
 * later job reads this run's weights (it is their teacher). Run directories are not committed, so on a fresh clone a
 * recorded teacher has none: it is then trained again rather than letting its students fail on missing weights
 * (deterministic on one machine only: on another CPU it ends slightly apart, so runJob keeps the old record).
 */
export function decide(job: Job, now: number = Date.now(), needWeights = false): Decision {
  const weightsGone = needWeights && runWeights(job.runDir) === null;
  const rec = readRecordIfAny(job.resultPath);
  const recorded = rec !== null && rec.configHash === job.hash;
  if (recorded && !weightsGone) return { action: 'skip', record: rec };
  const train = (epochsDone: number): Decision =>
    recorded ? { action: 'train', epochsDone, retrainOf: rec } : { action: 'train', epochsDone };
  const st = inspectRun(job.runDir, job.hash, job.config.schedule.epochs);
  if (st.state === 'finished') return weightsGone ? train(0) : { action: 'collect', run: st.run };
  if (st.state === 'absent') return train(0);
  const quiet = now - st.lastWrite;
  // the run lock says for sure; the quiet time covers runs of ladet versions before it
  const owner = lockOwner(job.runDir);
  if (owner !== null) {
    throw new BusyRunError(
      `${job.runDir} is unfinished (${st.epochsDone}/${job.config.schedule.epochs} epochs) and is being trained by ${owner.what} (pid ${owner.pid} on ${owner.host}, since ${owner.since}). Let it finish (repro then collects it) or stop it`,
      st.epochsDone,
      quiet,
    );
  }
  if (!st.stopped && quiet < BUSY_MS) {
    throw new BusyRunError(
      `${job.runDir} is unfinished (${st.epochsDone}/${job.config.schedule.epochs} epochs) and was written ${Math.round(quiet / 1000)} s ago: ` +
        `another process seems to be training it. Let it finish (repro then collects it) or stop it; if nothing is training it, rerun in ${Math.ceil((BUSY_MS - quiet) / 1000)} s`,
      st.epochsDone,
      quiet,
    );
  }
  return train(st.epochsDone);
}

export function recordOf(
  job: Job,
  run: FinishedRun,
  git: GitState,
  trainedByRepro: boolean,
  now: Date = new Date(),
): ResultRecord {
  const rec: ResultRecord = {
    format: 'ladet-repro-result',
    version: 1,
    table: job.study,
    row: job.row.id,
    label: job.row.label,
    seed: job.seed,
    config: job.configPath,
    overrides: job.overrides,
    runDir: job.runDir,
    configHash: job.hash,
    runConfigHash: run.runHash,
    gitCommit: git.commit,
    gitDirty: git.dirty,
    trainedByRepro,
    epochs: job.config.schedule.epochs,
    metrics: run.metrics,
    trainSeconds: run.trainSeconds,
    finished: run.finished,
    recorded: now.toISOString(),
  };
  if (job.row.net !== undefined) rec.net = job.row.net;
  rec.trainedWith = run.trainedWith;
  rec.precision = run.precision;
  if (run.teacherWeights.length > 1) {
    throw new Error(
      `${job.runDir}: its training segments read different teacher weights (${run.teacherWeights.map((t) => `${t.file} ${t.sha256.slice(0, 12)}…`).join(', ')}), so it is no result of one teacher: delete the run directory to train it again`,
    );
  }
  const [teacher] = run.teacherWeights;
  if (teacher) rec.teacherWeights = teacher;
  return rec;
}

/** Trains a job's run with resume=true; `stopped` when the user asked it to stop (Ctrl-C). */
export type TrainJob = (job: Job, retrainOf: ResultRecord | null) => Promise<{ stopped: boolean }>;

/** COCO bbox stats of network `net` of a job's finished CoLAD run at its final weights, on the val split. */
export type EvaluateNet = (job: Job, net: 1 | 2) => Promise<Record<MetricKey, number>>;

export interface RunJobOptions {
  git?: () => GitState;
  now?: number;
  /** later jobs read this run's weights (see decide) */
  needWeights?: boolean;
  /** scores a row that reports another network of a CoLAD run than the run evaluated (StudyRow.net) */
  evaluate?: EvaluateNet;
}

export type JobOutcome =
  | { kind: 'skipped'; record: ResultRecord }
  | { kind: 'collected'; record: ResultRecord }
  /** `kept`: a teacher trained again for its missing weights keeps this record (the new one went to `path`) */
  | { kind: 'trained'; record: ResultRecord; path: string; kept: ResultRecord | null }
  | { kind: 'stopped' };

/** How plan=true and the training line describe a teacher trained again for its missing weights. */
export const WEIGHTS_GONE = 'recorded, but its weights are not here and later rows read them';

/**
 * The run directories whose weights later jobs of `jobs` read: the teachers of every job that still has to be
 * collected or trained (a recorded student needs no teacher).
 */
export function teachersNeeded(jobs: readonly Job[], now?: number): Set<string> {
  const need = new Set<string>();
  for (const j of jobs) {
    if (j.teacherRunDir === null) continue;
    let pending: boolean;
    try {
      pending = decide(j, now).action !== 'skip';
    } catch {
      pending = true; // busy (another process trains it): it reads the teacher too
    }
    if (pending) need.add(j.teacherRunDir);
  }
  return need;
}

/** The run's result as the job's row reports it: for a row of another CoLAD network, that network evaluated. */
async function scored(job: Job, run: FinishedRun, evaluate: EvaluateNet | undefined): Promise<FinishedRun> {
  const net = job.row.net;
  if (net === undefined) return run;
  if (!evaluate)
    throw new Error(
      `${job.study} ${job.row.id}: the row reports network ${net} of ${job.runDir}, and no evaluator was given to score it`,
    );
  return { ...run, metrics: await evaluate(job, net) };
}

export async function runJob(job: Job, train: TrainJob, opts: RunJobOptions = {}): Promise<JobOutcome> {
  const git = opts.git ?? gitState;
  const d = decide(job, opts.now, opts.needWeights ?? false);
  if (d.action === 'skip') return { kind: 'skipped', record: d.record };
  if (d.action === 'collect') {
    const record = recordOf(job, await scored(job, d.run, opts.evaluate), git(), false);
    writeRecord(job.resultPath, record);
    return { kind: 'collected', record };
  }
  const kept = d.retrainOf ?? null;
  const r = await train(job, kept);
  if (r.stopped) return { kind: 'stopped' };
  const st = inspectRun(job.runDir, job.hash, job.config.schedule.epochs);
  if (st.state !== 'finished')
    throw new Error(
      `${job.runDir}: training returned but the run has not finished ${job.config.schedule.epochs} epochs`,
    );
  const record = recordOf(job, await scored(job, st.run, opts.evaluate), git(), true);
  // a run whose log names no teacher (logged before the trainer did): the teacher's weights as they are now
  if (job.teacherRunDir !== null && record.teacherWeights === undefined) {
    const file = runWeights(job.teacherRunDir);
    if (file !== null)
      record.teacherWeights = { file, sha256: createHash('sha256').update(readFileSync(file)).digest('hex') };
  }
  const path = kept ? retrainedPath(job.resultPath) : job.resultPath;
  writeRecord(path, record);
  return { kind: 'trained', record, path, kept };
}
