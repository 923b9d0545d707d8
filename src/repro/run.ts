// One row × seed of a study: skip it when its result file already records this config hash; collect it when its
// run directory holds a finished run of this config (a run trained earlier, e.g. by `ladet train`); otherwise train
// it (resume=true continues an interrupted run) and then collect it. Collecting writes the result JSON.
import { gitState, type GitState } from './git.js';
import type { Job } from './plan.js';
import { readRecordIfAny, writeRecord, type ResultRecord } from './record.js';
import { inspectRun, type FinishedRun } from './run_state.js';

export type Decision =
  | { action: 'skip'; record: ResultRecord }
  | { action: 'collect'; run: FinishedRun }
  | { action: 'train'; epochsDone: number };

/** What to do for `job`, from its result file and run directory alone (no training, no libtorch). */
export function decide(job: Job): Decision {
  const rec = readRecordIfAny(job.resultPath);
  if (rec && rec.configHash === job.hash) return { action: 'skip', record: rec };
  const st = inspectRun(job.runDir, job.hash, job.config.schedule.epochs);
  if (st.state === 'finished') return { action: 'collect', run: st.run };
  return { action: 'train', epochsDone: st.state === 'partial' ? st.epochsDone : 0 };
}

export function recordOf(job: Job, run: FinishedRun, git: GitState, trainedByRepro: boolean, now: Date = new Date()): ResultRecord {
  return {
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
}

/** Trains a job's run with resume=true; `stopped` when the user asked it to stop (Ctrl-C). */
export type TrainJob = (job: Job) => Promise<{ stopped: boolean }>;

export type JobOutcome =
  | { kind: 'skipped'; record: ResultRecord }
  | { kind: 'collected'; record: ResultRecord }
  | { kind: 'trained'; record: ResultRecord }
  | { kind: 'stopped' };

export async function runJob(job: Job, train: TrainJob, git: () => GitState = gitState): Promise<JobOutcome> {
  const d = decide(job);
  if (d.action === 'skip') return { kind: 'skipped', record: d.record };
  if (d.action === 'collect') {
    const record = recordOf(job, d.run, git(), false);
    writeRecord(job.resultPath, record);
    return { kind: 'collected', record };
  }
  const r = await train(job);
  if (r.stopped) return { kind: 'stopped' };
  const st = inspectRun(job.runDir, job.hash, job.config.schedule.epochs);
  if (st.state !== 'finished') throw new Error(`${job.runDir}: training returned but the run has not finished ${job.config.schedule.epochs} epochs`);
  const record = recordOf(job, st.run, git(), true);
  writeRecord(job.resultPath, record);
  return { kind: 'trained', record };
}
