// What `ladet repro ... plan=true` shows before hours of training: for each row × seed asked for, what the same
// command without plan=true would do (skip a recorded result, collect a finished run, train from scratch or from the
// epoch an interrupted run reached), and the training time still ahead, estimated from the recorded runs of the same
// presets. Reads files only: nothing is trained or written, and libtorch is not loaded.
import type { Estimate } from './cost.js';
import type { Job } from './plan.js';
import { BusyRunError, decide, teachersNeeded, WEIGHTS_GONE } from './run.js';

export type JobStatus =
  | { job: Job; kind: 'recorded'; ap: number }
  /** `ap`: null for a row of another CoLAD network, which collecting evaluates */
  | { job: Job; kind: 'collect'; ap: number | null }
  /** `seconds`: estimated training time left (null: no recorded run of this preset); `sharedWith`: an earlier job
   * of the list with the same run directory, which trains it (this one is then collected, at no extra cost) */
  /** `weightsGone`: a recorded teacher trained again because later jobs read its weights and they are not here */
  | {
      job: Job;
      kind: 'train';
      epochsDone: number;
      seconds: number | null;
      /** where the estimate comes from (cost.ts's Estimate): null without one */
      basis: Estimate['basis'] | null;
      sharedWith: Job | null;
      weightsGone: boolean;
    }
  /** another process seems to be training the run (written to within the last few minutes) */
  | { job: Job; kind: 'busy'; epochsDone: number; quietMs: number }
  /** decide() refused: a run of another config in the directory, a damaged result file */
  | { job: Job; kind: 'problem'; message: string };

const label = (j: Job): string => `${j.study} ${j.row.id} seed ${j.seed}`;

/**
 * `estimate(job)`: the job's estimated training seconds (cost.ts's estimator; a plain number: the mean of its recorded
 * seeds), or null. A partial run's estimate is scaled by the epochs it still has to train.
 */
export function jobStatuses(
  jobs: readonly Job[],
  estimate: (job: Job) => Estimate | number | null,
  now: number = Date.now(),
): JobStatus[] {
  const trainedBy = new Map<string, Job>();
  const teachers = teachersNeeded(jobs, now);
  return jobs.map((job): JobStatus => {
    let d: ReturnType<typeof decide>;
    try {
      d = decide(job, now, teachers.has(job.runDir));
    } catch (e) {
      if (e instanceof BusyRunError) return { job, kind: 'busy', epochsDone: e.epochsDone, quietMs: e.quietMs };
      return { job, kind: 'problem', message: (e as Error).message };
    }
    if (d.action === 'skip') return { job, kind: 'recorded', ap: d.record.metrics.AP };
    if (d.action === 'collect')
      return { job, kind: 'collect', ap: job.row.net === undefined ? d.run.metrics.AP : null };
    const first = trainedBy.get(job.runDir) ?? null;
    if (!first) trainedBy.set(job.runDir, job);
    const e = estimate(job);
    const full: Estimate | null = typeof e === 'number' ? { seconds: e, basis: 'row' } : e;
    const epochs = job.config.schedule.epochs;
    const seconds = first ? 0 : full === null ? null : (full.seconds * (epochs - d.epochsDone)) / epochs;
    return {
      job,
      kind: 'train',
      epochsDone: d.epochsDone,
      seconds,
      basis: first ? null : (full?.basis ?? null),
      sharedWith: first,
      weightsGone: d.retrainOf !== undefined,
    };
  });
}

const minutes = (s: number): string => `${Math.round(s / 60)} min`;

/** One line per job (columns aligned) and a closing total; `lanes` runs side by side is how the times were recorded. */
export function renderStatus(statuses: readonly JobStatus[], lanes: number): string[] {
  const rows = statuses.map((s): [string, string, string] => {
    const j = s.job;
    const epochs = j.config.schedule.epochs;
    let what: string;
    if (s.kind === 'recorded') what = `recorded, AP ${(s.ap * 100).toFixed(1)}`;
    else if (s.kind === 'collect')
      what =
        s.ap === null
          ? `finished, to collect: evaluates network ${s.job.row.net}`
          : `finished, to collect: AP ${(s.ap * 100).toFixed(1)}`;
    else if (s.kind === 'busy')
      what = `being trained by another process (${s.epochsDone}/${epochs} epochs done, written ${Math.round(s.quietMs / 1000)} s ago)`;
    else if (s.kind === 'problem') what = `cannot run: ${s.message}`;
    else if (s.sharedWith) what = `trained with ${label(s.sharedWith)} (same run)`;
    else {
      const from =
        s.epochsDone > 0
          ? `train from epoch ${s.epochsDone + 1} of ${epochs}`
          : `train ${epochs} epoch${epochs === 1 ? '' : 's'}`;
      what = `${from}, ${s.seconds === null ? 'no estimate (preset never recorded)' : `~${minutes(s.seconds)}`}`;
      if (s.basis === 'preset') what += ' (per epoch from other runs of the preset)';
      if (s.weightsGone) what += ` (${WEIGHTS_GONE})`;
    }
    return [label(j), j.runDir, what];
  });
  const w0 = Math.max(0, ...rows.map((r) => r[0].length));
  const w1 = Math.max(0, ...rows.map((r) => r[1].length));
  const lines = rows.map(([a, b, c]) => `${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`);
  const train = statuses.filter(
    (s): s is Extract<JobStatus, { kind: 'train' }> => s.kind === 'train' && s.sharedWith === null,
  );
  const known = train.reduce((n, s) => n + (s.seconds ?? 0), 0);
  const unknown = train.filter((s) => s.seconds === null).length;
  const fromPreset = train.filter((s) => s.basis === 'preset').length;
  const count = (k: JobStatus['kind']): number => statuses.filter((s) => s.kind === k).length;
  const busy = count('busy');
  const problems = count('problem');
  lines.push(
    '',
    `${statuses.length} row × seed results: ${count('recorded')} recorded, ${count('collect')} to collect, ` +
      `${train.length} trainings to run${busy ? `, ${busy} being trained elsewhere` : ''}${problems ? `, ${problems} that cannot run` : ''}.`,
  );
  if (train.length) {
    lines.push(
      `Training ahead: ~${(known / 3600).toFixed(1)} h at the recorded pace (${lanes} runs side by side on this machine, ` +
        `so ~${(known / 3600 / lanes).toFixed(1)} h wall clock with ${lanes} such commands running)` +
        (unknown ? `, plus ${unknown} without an estimate` : '') +
        '.' +
        (fromPreset
          ? ` ${fromPreset} of them have no recorded seed of their own row: estimated as the mean per epoch of the recorded runs of the same preset file in another setting (dataset, schedule; the same precision where one is recorded), times their epochs.`
          : ''),
    );
  }
  return lines;
}
