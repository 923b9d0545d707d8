// `ladet repro TABLE|all [seeds=0,1,2] [rows=a,b] [plan=true] [report=true] [readme=true|FILE] [results=DIR] [key.sub=value ...]`:
// the multi-seed reproduction of the LAD / CoLAD papers' small-scale tables (src/repro/studies.ts). Runs every
// row × seed that has no result yet (each in a worker thread with a progress bar, as `ladet train`; Ctrl-C saves
// the current run and stops, rerunning continues), writes one result JSON per row × seed and the table's markdown.
// plan=true only shows what would be done and the training time ahead; report=true only regenerates the markdown;
// readme=true also puts it between the repro markers of docs/paper-study.md (readme=FILE: of FILE).
import { join } from 'node:path';
import type { Command } from 'commander';
import { splitArgs, splitOwnKeys } from '../args.js';
import { UsageError } from '../../config/usage_error.js';
import { type Overrides } from '../../config/overrides.js';
import { ProgressDisplay } from '../progress.js';
import { StopOnSignal } from '../ctrl_c.js';
import type { Job } from '../../repro/plan.js';
import type { ResultRecord } from '../../repro/record.js';
import type { EvaluateNet, JobOutcome, TrainJob } from '../../repro/run.js';
import type { Estimate, StudyCost, renderCost as RenderCost } from '../../repro/cost.js';
import type { Study } from '../../repro/studies.js';

const USAGE =
  'ladet repro TABLE|all [seeds=0,1,2] [rows=a,b] [plan=true] [report=true] [readme=true|FILE] [results=DIR] [key.sub=value ...]';
const OWN_KEYS = ['seeds', 'rows', 'plan', 'report', 'readme', 'results'] as const;
export const DEFAULT_RESULTS_DIR = 'benchmarks/results/repro';
/** The study's seeds (issue #8 asks for at least 3): run when seeds= is absent, and always in the reports. */
export const STUDY_SEEDS: readonly number[] = [0, 1, 2];

export interface ReproArgs {
  tables: string[];
  /** the seeds to train: STUDY_SEEDS (and each row's extra seeds) by default, else exactly those of seeds= */
  seeds: number[];
  seedsGiven: boolean;
  rows: string[] | null;
  plan: boolean;
  report: boolean;
  readme: string | null;
  resultsDir: string;
  overrides: Overrides;
}

function list(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  return String(v)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Parses the command line (table names are checked against the studies). */
export async function parseReproArgs(args: readonly string[]): Promise<ReproArgs> {
  const { positional, kv } = splitArgs(args);
  if (positional.length !== 1) {
    throw new UsageError(
      positional.length
        ? `ladet repro: unexpected argument ${positional[1]} (usage: ${USAGE})`
        : `ladet repro: missing TABLE (usage: ${USAGE})`,
    );
  }
  const { getStudy, studyNames } = await import('../../repro/studies.js');
  const table = positional[0] as string;
  const tables = table === 'all' ? studyNames() : [getStudy(table).name];
  const { ConfigSchema } = await import('../../config/schema.js');
  const { own, overrides } = splitOwnKeys(kv, OWN_KEYS, Object.keys(ConfigSchema.shape), 'repro');

  let seeds = [...STUDY_SEEDS];
  if (own.seeds !== undefined) {
    const raw = list(own.seeds);
    seeds = raw.map(Number);
    if (raw.length === 0 || seeds.some((s) => !Number.isInteger(s) || s < 0)) {
      throw new UsageError(
        `ladet repro: seeds= must be a comma list of non-negative integers, e.g. seeds=0,1,2 (got ${JSON.stringify(own.seeds)})`,
      );
    }
    if (new Set(seeds).size !== seeds.length)
      throw new UsageError(`ladet repro: seeds= lists a seed twice (${raw.join(',')})`);
  }
  const rows = own.rows === undefined ? null : list(own.rows);
  if (rows !== null && tables.length > 1) throw new UsageError('ladet repro: rows= needs one TABLE, not all');
  const bool = (k: 'plan' | 'report'): boolean => {
    const v = own[k];
    if (v === undefined) return false;
    if (typeof v !== 'boolean')
      throw new UsageError(`ladet repro: ${k}= must be true or false (got ${JSON.stringify(v)})`);
    return v;
  };
  let readme: string | null = null;
  if (own.readme === true) readme = (await import('../../repro/readme.js')).DEFAULT_TABLES_FILE;
  else if (typeof own.readme === 'string' && own.readme !== '') readme = own.readme;
  else if (own.readme !== undefined && own.readme !== false)
    throw new UsageError(`ladet repro: readme= needs true or a file (got ${JSON.stringify(own.readme)})`);
  const results = own.results;
  if (results !== undefined && (typeof results !== 'string' || results === ''))
    throw new UsageError(`ladet repro: results= needs a folder (got ${JSON.stringify(results)})`);
  if (bool('plan') && (bool('report') || own.readme !== undefined))
    throw new UsageError('ladet repro: plan=true only shows what would be done; drop report= and readme=');
  return {
    tables,
    seeds,
    seedsGiven: own.seeds !== undefined,
    rows,
    plan: bool('plan'),
    report: bool('report'),
    readme,
    resultsDir: (results as string | undefined) ?? DEFAULT_RESULTS_DIR,
    overrides,
  };
}

/** ", some rows also 3, 4": the seeds that rows run beside the study's (StudyRow.extraSeeds), or "". */
function moreSeeds(jobs: readonly Job[]): string {
  const more = [...new Set(jobs.map((j) => j.seed))].filter((s) => !STUDY_SEEDS.includes(s)).sort((x, y) => x - y);
  return more.length ? `, some rows also ${more.join(', ')}` : '';
}

/**
 * Every job of every study at the report's seeds, its result under the job's current config hash, and the training
 * time estimate of a job from all of them (cost.ts estimator). `paper`: the jobs of the studies whose cost is the
 * paper study's (all but those with their own cost section, Study.ownCost).
 */
async function wholeStudy(a: ReproArgs): Promise<{
  jobs: Job[];
  paper: Job[];
  recordOf: (j: Job) => ResultRecord | null;
  estimate: (j: Job) => Estimate | null;
}> {
  const { STUDIES } = await import('../../repro/studies.js');
  const { planJobs } = await import('../../repro/plan.js');
  const { readRecordIfAny } = await import('../../repro/record.js');
  const { estimator } = await import('../../repro/cost.js');
  const jobs = STUDIES.flatMap((study) =>
    planJobs(study, { seeds: STUDY_SEEDS, overrides: a.overrides, resultsDir: a.resultsDir, rows: null }),
  );
  const own = new Set(STUDIES.filter((s) => s.ownCost).map((s) => s.name));
  const recordOf = (j: Job): ResultRecord | null => {
    const rec = readRecordIfAny(j.resultPath);
    return rec && rec.configHash === j.hash ? rec : null;
  };
  return { jobs, paper: jobs.filter((j) => !own.has(j.study)), recordOf, estimate: estimator(jobs, recordOf) };
}

export async function runRepro(args: readonly string[], print: (line: string) => void = console.log): Promise<void> {
  const a = await parseReproArgs(args);
  const { getStudy } = await import('../../repro/studies.js');
  const { planJobs } = await import('../../repro/plan.js');
  const { buildReport, writeReport } = await import('../../repro/report.js');
  const { injectIntoFile } = await import('../../repro/readme.js');
  // Plan everything first, so a bad row name or config fails before hours of training.
  const plans = a.tables.map((t) => {
    const study = getStudy(t);
    const base = { overrides: a.overrides, resultsDir: a.resultsDir };
    return {
      study,
      jobs: planJobs(study, { ...base, seeds: a.seeds, extraSeeds: !a.seedsGiven, rows: a.rows }),
      // the tables cover the study's seeds (and rows' extra seeds), whatever seeds= trains: seeds=2 does not shrink
      // a 3-seed table to one seed, and seeds=5 is a run beside the study, not a change to it
      all: planJobs(study, { ...base, seeds: STUDY_SEEDS, rows: null }),
    };
  });
  if (a.plan) {
    const { jobStatuses, renderStatus } = await import('../../repro/status.js');
    // estimates from every recorded run of the whole study, whichever table was asked for
    const whole = await wholeStudy(a);
    const statuses = jobStatuses(
      plans.flatMap((p) => p.jobs),
      whole.estimate,
    );
    for (const line of renderStatus(statuses, STUDY_LANES)) print(line);
    return;
  }
  const { studyCost, renderCost, evalPasses } = await import('../../repro/cost.js');
  const report = async (p: (typeof plans)[number]): Promise<ReturnType<typeof buildReport>> => {
    let cost: string | undefined;
    const budget = p.study.ownCost;
    if (budget) {
      // the study's own cost, estimated from every study's records (a row never run: from its preset's runs)
      const whole = await wholeStudy(a);
      cost = ownCostText(
        studyCost(p.all, whole.recordOf, whole.estimate),
        p.all.filter((j) => whole.recordOf(j) === null),
        budget,
        renderCost,
        evalPasses,
      );
    }
    const r = buildReport(p.study, p.all, a.resultsDir, a.overrides, cost === undefined ? {} : { cost });
    print(`wrote ${writeReport(p.study, r, a.resultsDir).join(', ')}`);
    return r;
  };

  if (!a.report) {
    const stopped = await runPlans(plans, print, report);
    if (stopped) return;
  }
  for (const p of plans) {
    const r = await report(p);
    if (a.readme)
      print(
        injectIntoFile(a.readme, p.study.name, r.bodyAt(a.readme))
          ? `updated the ${p.study.name} section of ${a.readme}`
          : `${a.readme}: ${p.study.name} section unchanged`,
      );
  }
  // the cost of the paper study (its four tables at the report's seeds), whichever table was asked for
  const { writeMarkdownOutput } = await import('../../repro/report.js');
  const whole = await wholeStudy(a);
  const cost = studyCost(whole.paper, whole.recordOf, whole.estimate);
  const body = renderCost(cost, { lanes: STUDY_LANES, budgetHours: STUDY_BUDGET_HOURS });
  const costFile = join(a.resultsDir, 'cost.md');
  writeMarkdownOutput(
    costFile,
    `# Training cost of the study (seeds ${STUDY_SEEDS.join(', ')}${moreSeeds(whole.paper)})\n\n${body}\n`,
    '# Training cost of the study',
  );
  print(`wrote ${costFile}: ${cost.done} of ${cost.runs} trainings done`);
  if (a.readme) {
    const { readFileSync } = await import('node:fs');
    const { markers } = await import('../../repro/readme.js');
    if (!readFileSync(a.readme, 'utf8').includes(markers('cost').open))
      print(`${a.readme}: no ${markers('cost').open} marker, cost left out`);
    else
      print(
        injectIntoFile(a.readme, 'cost', body)
          ? `updated the cost section of ${a.readme}`
          : `${a.readme}: cost section unchanged`,
      );
  }
}

/** The study's runs are trained two side by side (one thread each) on the 2-core machine; issue #8 budgets 12 h. */
const STUDY_LANES = 2;
const STUDY_BUDGET_HOURS = 12;
/** A validation pass of a mini-preset network at one thread (19-26 s measured for the R18w25; wider ones longer). */
const EVAL_SECONDS = 30;

/**
 * A study's own cost section (Study.ownCost): the cost table against its budget, and what the hours leave out:
 * the validation passes of the trainings still to run, and that estimates from fp32 runs overstate bf16 ones.
 */
function ownCostText(
  cost: StudyCost,
  pending: readonly Job[],
  budget: NonNullable<Study['ownCost']>,
  render: typeof RenderCost,
  evalPasses: (c: Job['config']) => number,
): string {
  const runs = new Map(pending.map((j) => [j.runDir, j]));
  const passes = [...runs.values()].reduce((n, j) => n + evalPasses(j.config), 0);
  const h = (s: number): string => (s / 3600).toFixed(1);
  const text = render(cost, {
    lanes: budget.lanes,
    budgetHours: budget.hours,
    what: 'this study',
    budgetWhy: budget.why,
    evaluation: passes
      ? `evaluation is not included: the trainings still to run evaluate the val split ${passes} times, about ${EVAL_SECONDS} s each at one thread (~${h(passes * EVAL_SECONDS)} h more, ${h((passes * EVAL_SECONDS) / budget.lanes)} h wall clock)`
      : 'evaluation is not included',
  });
  if (!cost.fromPreset) return text;
  return (
    `${text}\n\nThe estimates of rows never run come from their preset files' recorded runs in the same precision ` +
    'where there are any, else fp32 ones: bf16 training steps measured 1.2-1.4x faster on this CPU (docs/engine.md), ' +
    'not applied, so those estimates are on the high side.'
  );
}

type Plan = { study: { name: string }; jobs: Job[] };

/**
 * `ladet repro`'s exit code when it did what it could but left runs to other processes (sysexits' EX_TEMPFAIL: try
 * again later), so a script can run it again until the table is whole.
 */
export const EXIT_LEFT_TO_OTHERS = 75;

/** Runs the jobs one after another; true when the user stopped them (Ctrl-C). */
async function runPlans<P extends Plan>(
  plans: P[],
  print: (line: string) => void,
  report: (p: P) => Promise<unknown>,
): Promise<boolean> {
  const { decide, runJob, teachersNeeded, isBusyError, WEIGHTS_GONE } = await import('../../repro/run.js');
  const { trainInWorker } = await import('../../engine/train_worker.js');
  let progress: ProgressDisplay | null = null;
  const ctrlC = new StopOnSignal((line) => (progress ? progress.message(line) : print(line)));
  try {
    const total = plans.reduce((n, p) => n + p.jobs.length, 0);
    const teachers = teachersNeeded(plans.flatMap((p) => p.jobs));
    let head = '';
    const evaluate = evaluateNet((line) => print(`${head}: ${line}`));
    const train: TrainJob = async (j, retrainOf) => {
      progress = new ProgressDisplay();
      const d = progress;
      d.message(`${head}: training (resume=true)${retrainOf ? `: ${WEIGHTS_GONE}` : ''}`);
      const run = trainInWorker(
        j.configPath,
        j.overrides,
        { resume: true },
        { progress: (x) => d.update(x), message: (l) => d.message(l) },
      );
      ctrlC.attach(run);
      try {
        return { stopped: (await run.result).stopped };
      } catch (e) {
        if ((e as Error).name === 'UsageError') throw new UsageError((e as Error).message);
        throw e;
      } finally {
        d.stop();
        ctrlC.attach(null);
        progress = null;
      }
    };
    // runs another process trains (a second `ladet repro` beside this one) are left to it, with the students still
    // to train that read them: two commands over one table share its work instead of the second stopping at the first
    const busy = new Set<string>();
    let waiting = 0;
    let k = 0;
    for (const p of plans) {
      for (const job of p.jobs) {
        if (ctrlC.requested) break;
        k++;
        head = `[${k}/${total}] ${job.study} ${job.row.id} seed ${job.seed} (${job.runDir})`;
        const needWeights = teachers.has(job.runDir);
        let outcome: JobOutcome;
        try {
          if (
            job.teacherRunDir !== null &&
            busy.has(job.teacherRunDir) &&
            decide(job, undefined, needWeights).action !== 'skip'
          ) {
            print(`${head}: left for later: its teacher ${job.teacherRunDir} is being trained by another process`);
            waiting++;
            continue;
          }
          outcome = await runJob(job, train, { needWeights, evaluate });
        } catch (e) {
          if (!isBusyError(e)) throw e;
          busy.add(job.runDir);
          print(`${head}: left to another process: ${(e as Error).message}`);
          continue;
        }
        if (outcome.kind === 'stopped') {
          print(`${head}: stopped; rerun the same command to continue`);
          ctrlC.requested = true;
          break;
        }
        const ap = (outcome.record.metrics.AP * 100).toFixed(1);
        const what =
          outcome.kind === 'skipped'
            ? 'already recorded'
            : outcome.kind === 'collected'
              ? 'collected the finished run'
              : 'trained';
        print(`${head}: ${what}, AP ${ap} -> ${outcome.kind === 'trained' ? outcome.path : job.resultPath}`);
        if (outcome.kind === 'trained' && outcome.kept) {
          const before = outcome.kept.metrics.AP;
          const at = outcome.kept.gitCommit?.slice(0, 7) ?? 'unknown';
          print(
            `${head}: trained again for its missing weights; ${job.resultPath} (commit ${at}) is kept` +
              (before === outcome.record.metrics.AP
                ? ', and this training reproduced its AP exactly'
                : `: it had AP ${(before * 100).toFixed(2)}, this training ${(outcome.record.metrics.AP * 100).toFixed(2)} (rows recorded before read the old weights; rows trained now record the new ones' sha256)`),
          );
        }
        // keep the table current while a long reproduction runs (the last one is written below)
        if (outcome.kind !== 'skipped' && job !== p.jobs[p.jobs.length - 1]) await report(p);
      }
      if (ctrlC.requested) {
        await report(p);
        return true;
      }
    }
    if (busy.size) {
      print(
        `${busy.size} run${busy.size > 1 ? 's' : ''} left to other processes` +
          (waiting ? `, and ${waiting} student${waiting > 1 ? 's' : ''} waiting for a teacher among them` : '') +
          `: run the same command again once they finish (exit code ${EXIT_LEFT_TO_OTHERS})`,
      );
      process.exitCode = EXIT_LEFT_TO_OTHERS;
    }
    return false;
  } finally {
    ctrlC.dispose();
    // stopped by a signal: exit as a shell expects (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP)
    if (ctrlC.signal !== null) process.exitCode = ctrlC.exitCode;
  }
}

/**
 * Scores one network of a finished CoLAD run as `ladet test RUN net=N` does, at the final weights (last, not best:
 * the run's own final-epoch evaluation is of those) and repro's thread count; the summary lands in the run's eval/.
 */
function evaluateNet(say: (line: string) => void): EvaluateNet {
  return async (job, net) => {
    const { runTest } = await import('./test.js');
    const { metricsOf } = await import('../../engine/run_result.js');
    const { REPRO_THREADS } = await import('../../repro/plan.js');
    const weights = join(job.runDir, 'weights', 'last.safetensors');
    say(`evaluating network ${net} (${weights})`);
    const [report] = await runTest(
      [job.runDir, `net=${net}`, `weights=${weights}`, `threads=${REPRO_THREADS}`],
      () => {},
    );
    if (!report) throw new Error(`${job.runDir}: evaluating network ${net} gave no report`);
    const metrics = metricsOf(report.stats, report.summaryFile);
    say(`network ${net}: AP ${(metrics.AP * 100).toFixed(1)} (${report.summaryFile})`);
    return metrics;
  };
}

export function registerRepro(program: Command): void {
  program
    .command('repro')
    .description(`reproduce the papers' small-scale tables over seeds: ${USAGE}`)
    .argument('<table>', 'table2, table3, colad, cop, regimes or all')
    .argument('[args...]', 'seeds=, rows=, plan=, report=, readme=, results=, key.sub=value overrides')
    .addHelpText(
      'after',
      `\nResumable: a recorded row is skipped, a finished run collected, an interrupted one continued. Two commands may\n` +
        `run over one table at once: a run the other trains is left to it, and the command then exits ${EXIT_LEFT_TO_OTHERS}\n` +
        `(run it again once the other finishes). Details: docs/paper-study.md`,
    )
    .action(async (table: string, rest: string[]) => {
      await runRepro([table, ...rest]);
    });
}
