// What the whole study costs in training time, from the result files: every planned training counted once (rows of
// several tables that use the same preset at the same seed share one run directory), the recorded minutes of those
// done, and an estimate for the rest from the same preset's recorded seeds. Rendered into the cost section of
// docs/paper-study.md so the time claim comes from files, as the tables do.
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
  /** estimated seconds of the rest: the same preset's mean at its recorded seeds */
  restSeconds: number;
  /** trainings with no recorded seed of their preset to estimate from */
  unknown: number;
}

export interface StudyCost {
  seeds: SeedCost[];
  runs: number;
  done: number;
  doneSeconds: number;
  restSeconds: number;
  unknown: number;
}

export type CostJob = Pick<Job, 'runDir' | 'seed' | 'configPath'>;

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

/**
 * `jobs`: every job of every study (any order, shared run directories repeated); `recordOf(job)` its result under
 * the job's current config hash, or null. A run directory's time is taken once, from the first record found.
 */
export function studyCost<J extends CostJob>(
  jobs: readonly J[],
  recordOf: (job: J) => Pick<ResultRecord, 'trainSeconds'> | null,
): StudyCost {
  const byRun = runSeconds(jobs, recordOf);
  // a preset's recorded times over seeds, for the estimate of its missing seeds
  const means = meansOf(byRun);
  const seeds = new Map<number, SeedCost>();
  for (const { job, seconds } of byRun.values()) {
    let c = seeds.get(job.seed);
    if (!c) seeds.set(job.seed, (c = { seed: job.seed, runs: 0, done: 0, doneSeconds: 0, restSeconds: 0, unknown: 0 }));
    c.runs += 1;
    if (seconds !== null) {
      c.done += 1;
      c.doneSeconds += seconds;
      continue;
    }
    const mean = means.get(job.configPath);
    if (mean !== undefined) c.restSeconds += mean;
    else c.unknown += 1;
  }
  const list = [...seeds.values()].sort((a, b) => a.seed - b.seed);
  const sum = (k: 'runs' | 'done' | 'doneSeconds' | 'restSeconds' | 'unknown'): number =>
    list.reduce((a, c) => a + c[k], 0);
  return {
    seeds: list,
    runs: sum('runs'),
    done: sum('done'),
    doneSeconds: sum('doneSeconds'),
    restSeconds: sum('restSeconds'),
    unknown: sum('unknown'),
  };
}

const hours = (s: number): string => (s / 3600).toFixed(1);

/**
 * The markdown of the cost: one row per seed, the total, and the wall-clock time with `lanes` runs side by side
 * (the recorded times were measured that way, so wall clock = training time / lanes), against `budgetHours`.
 */
export function renderCost(c: StudyCost, o: { lanes: number; budgetHours: number }): string {
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
  const budget = `${o.budgetHours}-hour budget`;
  const verdict = c.unknown
    ? `**not known yet** against the ${budget} (${c.unknown} without an estimate)`
    : wall <= o.budgetHours * 3600
      ? `**within** the ${budget}`
      : `**over** the ${budget}`;
  lines.push(
    '',
    `Training time of the whole study: ${hours(total)} h (${hours(c.doneSeconds)} h recorded + ${hours(c.restSeconds)} h estimated), ` +
      `${hours(wall)} h wall clock with ${o.lanes} runs side by side: ${verdict}. ` +
      'A training shared by rows of several tables (the same preset and seed) counts once; a missing run is estimated ' +
      "as its preset's mean over the seeds recorded; evaluation (about a minute per run) is not included.",
  );
  return lines.join('\n');
}
