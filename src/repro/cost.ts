// What the whole study costs in training time, from the result files: every planned training counted once (rows of
// several tables that use the same preset at the same seed share one run directory), the recorded minutes of those
// done, and an estimate for the rest: the mean of the same experiment's recorded seeds, else (a row never run) per
// epoch from the recorded runs of the same preset file in another setting (dataset, schedule; those asking the same
// precision when there are any, as bf16 steps run 1.2-1.4x faster here), scaled to the job's epochs. Rendered into the cost section of docs/paper-study.md so the time claim comes from files, as the
// tables do.
import type { Job } from './plan.js';
import type { ResultRecord } from './record.js';

export interface SeedCost {
  seed: number;
  /** distinct trainings planned at this seed */
  runs: number;
  /** of those, with a result file under the current config hash */
  done: number;
  /** summed training seconds of the done ones */
  doneSeconds: number;
  /** estimated seconds of the rest (see estimator) */
  restSeconds: number;
  /** of the rest, those estimated per epoch from another setting of their preset file (basis 'preset') */
  fromPreset: number;
  /** trainings with no recorded run of their preset file to estimate from */
  unknown: number;
}

export interface StudyCost {
  seeds: SeedCost[];
  runs: number;
  done: number;
  doneSeconds: number;
  restSeconds: number;
  fromPreset: number;
  unknown: number;
}

export type CostJob = Pick<Job, 'runDir' | 'seed' | 'configPath'> & {
  /** the job's experiment apart from its seed (Job.experiment); absent: its preset file stands for it */
  experiment?: string;
  config: { schedule: { epochs: number }; train?: { precision?: string } };
};

const experimentOf = (j: CostJob): string => j.experiment ?? j.configPath;
/** the preset file and the precision the job asks for (train.precision, 'auto' when unset) */
const presetPrecisionOf = (j: CostJob): string => `${j.configPath}\0${j.config.train?.precision ?? 'auto'}`;

/** A training's estimated seconds and what they come from. */
export interface Estimate {
  seconds: number;
  /** row: the mean of the same experiment's recorded seeds; preset: the mean per epoch of the recorded runs of the
   * same preset file in other settings (another dataset or schedule, the same precision asked where any such run is
   * recorded, else any precision), times the job's epochs */
  basis: 'row' | 'preset';
}

/** Each run directory once, with its recorded training seconds (the first record found) or null. */
function runSeconds<J extends CostJob>(
  jobs: readonly J[],
  recordOf: (job: J) => Pick<ResultRecord, 'trainSeconds'> | null,
): Map<string, { job: J; seconds: number | null }> {
  const byRun = new Map<string, { job: J; seconds: number | null }>();
  for (const j of jobs) {
    const seen = byRun.get(j.runDir);
    const rec = recordOf(j);
    if (!seen) byRun.set(j.runDir, { job: j, seconds: rec ? rec.trainSeconds : null });
    else if (seen.seconds === null && rec) seen.seconds = rec.trainSeconds;
  }
  return byRun;
}

/** A preset's (config path's) mean recorded training seconds over its run directories, for those with any. */
export function presetMeanSeconds<J extends CostJob>(
  jobs: readonly J[],
  recordOf: (job: J) => Pick<ResultRecord, 'trainSeconds'> | null,
): Map<string, number> {
  return meansOf(runSeconds(jobs, recordOf));
}

function meansOf<J extends CostJob>(byRun: Map<string, { job: J; seconds: number | null }>): Map<string, number> {
  const byPreset = new Map<string, number[]>();
  for (const { job, seconds } of byRun.values()) {
    if (seconds !== null) byPreset.set(job.configPath, [...(byPreset.get(job.configPath) ?? []), seconds]);
  }
  return new Map([...byPreset].map(([k, xs]) => [k, xs.reduce((a, b) => a + b, 0) / xs.length]));
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * The training-time estimate of a job from the recorded runs among `jobs` (each run directory once): the mean of
 * its experiment's recorded runs (its row's other seeds, or another table's row of the same preset), else the mean
 * seconds per epoch of its preset file's recorded runs asking the same precision, else of all its preset file's
 * recorded runs, times its epochs (a row that changes a preset through its overrides, before any of its seeds ran),
 * else null.
 */
export function estimator<J extends CostJob>(
  jobs: readonly J[],
  recordOf: (job: J) => Pick<ResultRecord, 'trainSeconds'> | null,
): (job: CostJob) => Estimate | null {
  const byExperiment = new Map<string, number[]>();
  const perEpoch = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, key: string, x: number): void => void m.set(key, [...(m.get(key) ?? []), x]);
  for (const { job, seconds } of runSeconds(jobs, recordOf).values()) {
    if (seconds === null) continue;
    push(byExperiment, experimentOf(job), seconds);
    const e = seconds / job.config.schedule.epochs;
    push(perEpoch, presetPrecisionOf(job), e);
    push(perEpoch, job.configPath, e);
  }
  return (job) => {
    const same = byExperiment.get(experimentOf(job));
    if (same) return { seconds: mean(same), basis: 'row' };
    const preset = perEpoch.get(presetPrecisionOf(job)) ?? perEpoch.get(job.configPath);
    if (preset) return { seconds: mean(preset) * job.config.schedule.epochs, basis: 'preset' };
    return null;
  };
}

/**
 * `jobs`: every job of every study whose cost is wanted (any order, shared run directories repeated); `recordOf(job)`
 * its result under the job's current config hash, or null. A run directory's time is taken once, from the first
 * record found. `estimate`: how a missing run is estimated (default: estimator over `jobs` themselves).
 */
export function studyCost<J extends CostJob>(
  jobs: readonly J[],
  recordOf: (job: J) => Pick<ResultRecord, 'trainSeconds'> | null,
  estimate: (job: J) => Estimate | null = estimator(jobs, recordOf),
): StudyCost {
  const byRun = runSeconds(jobs, recordOf);
  const seeds = new Map<number, SeedCost>();
  for (const { job, seconds } of byRun.values()) {
    let c = seeds.get(job.seed);
    if (!c)
      seeds.set(
        job.seed,
        (c = { seed: job.seed, runs: 0, done: 0, doneSeconds: 0, restSeconds: 0, fromPreset: 0, unknown: 0 }),
      );
    c.runs += 1;
    if (seconds !== null) {
      c.done += 1;
      c.doneSeconds += seconds;
      continue;
    }
    const e = estimate(job);
    if (e === null) c.unknown += 1;
    else {
      c.restSeconds += e.seconds;
      if (e.basis === 'preset') c.fromPreset += 1;
    }
  }
  const list = [...seeds.values()].sort((a, b) => a.seed - b.seed);
  const sum = (k: 'runs' | 'done' | 'doneSeconds' | 'restSeconds' | 'fromPreset' | 'unknown'): number =>
    list.reduce((a, c) => a + c[k], 0);
  return {
    seeds: list,
    runs: sum('runs'),
    done: sum('done'),
    doneSeconds: sum('doneSeconds'),
    restSeconds: sum('restSeconds'),
    fromPreset: sum('fromPreset'),
    unknown: sum('unknown'),
  };
}

const hours = (s: number): string => (s / 3600).toFixed(1);

/** How many times a run of `c` evaluates the val split: every `eval.every` epochs and after the last (trainer.ts). */
export function evalPasses(c: { schedule: { epochs: number }; eval: { every: number } }): number {
  const { epochs } = c.schedule;
  const every = c.eval.every;
  if (every <= 0) return 0;
  return Math.floor(epochs / every) + (epochs % every === 0 ? 0 : 1);
}

/**
 * The markdown of the cost: one row per seed, the total, and the wall-clock time with `lanes` runs side by side
 * (the recorded times were measured that way, so wall clock = training time / lanes), against `budgetHours`.
 */
export function renderCost(
  c: StudyCost,
  o: {
    lanes: number;
    budgetHours: number;
    /** what the cost is of (default "the whole study") */
    what?: string;
    /** where the budget comes from */
    budgetWhy?: string;
    /** what the text says of evaluation, which the hours leave out */
    evaluation?: string;
  },
): string {
  const lines = [
    '| seed | trainings | done | recorded h | estimated h for the rest |',
    '|---:|---:|---:|---:|---:|',
    ...c.seeds.map(
      (s) =>
        `| ${s.seed} | ${s.runs} | ${s.done} | ${hours(s.doneSeconds)} | ${hours(s.restSeconds)}${s.unknown ? ` (+${s.unknown} without an estimate)` : ''} |`,
    ),
    `| all | ${c.runs} | ${c.done} | ${hours(c.doneSeconds)} | ${hours(c.restSeconds)}${c.unknown ? ` (+${c.unknown} without an estimate)` : ''} |`,
  ];
  const total = c.doneSeconds + c.restSeconds;
  const wall = total / o.lanes;
  const budget = `${o.budgetHours}-hour budget${o.budgetWhy ? ` (${o.budgetWhy})` : ''}`;
  const verdict = c.unknown
    ? `**not known yet** against the ${budget} (${c.unknown} without an estimate)`
    : wall <= o.budgetHours * 3600
      ? `**within** the ${budget}`
      : `**over** the ${budget}`;
  lines.push(
    '',
    `Training time of ${o.what ?? 'the whole study'}: ${hours(total)} h (${hours(c.doneSeconds)} h recorded + ${hours(c.restSeconds)} h estimated), ` +
      `${hours(wall)} h wall clock with ${o.lanes} runs side by side: ${verdict}. ` +
      'A training shared by rows of several tables (the same preset and seed) counts once; a missing run is estimated ' +
      "as its preset's mean over the seeds recorded" +
      (c.fromPreset
        ? ` (${c.fromPreset} of them, whose row has no recorded seed yet: the mean per epoch of the recorded runs of the same preset file in another setting, times their epochs)`
        : '') +
      `; ${o.evaluation ?? 'evaluation (about a minute per run) is not included'}.`,
  );
  return lines.join('\n');
}
