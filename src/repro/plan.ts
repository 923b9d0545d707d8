// Turns a study, the seeds and the rows asked for into the list of runs (jobs) in the order they must happen:
// prerequisite teachers first, then seed by seed (so a complete table for seed 0 exists before seed 1 starts).
// Each job carries its resolved config and hash, which decide whether it is already done.
import { resolve, join } from 'node:path';
import { UsageError } from '../config/usage_error.js';
import { type Overrides } from '../config/overrides.js';
import { configHash, loadConfig, type Config } from '../config/schema.js';
import { resultPath } from './record.js';
import { rowById, selectRows, type Study, type StudyRow } from './studies.js';

/**
 * Always one intra-op thread: the thread count changes float summation order (so results), it is part of the
 * config hash, and the seed-0 runs behind the tables were trained with it; any other value would retrain them.
 */
export const REPRO_THREADS = 1;

/** Overrides repro sets itself; passing them would silently change which runs make up a table. */
const RESERVED = ['seed', 'name', 'threads'];
/** Of those, the ones a row's own overrides may not set either (a row may name its runs: StudyRow.overrides). */
const ROW_RESERVED = ['seed', 'threads'];

export interface Job {
  study: string;
  row: StudyRow;
  seed: number;
  configPath: string;
  /** everything applied on top of the preset (the row's, the user's and repro's own) */
  overrides: Overrides;
  config: Config;
  hash: string;
  /**
   * The experiment apart from its seed and run name: the config hash with both neutralised, and the precision asked
   * for (not in the config hash). Jobs of one row share it, and so do rows of several tables that are one preset;
   * cost.ts estimates a missing seed from the recorded ones of the same experiment.
   */
  experiment: string;
  runDir: string;
  resultPath: string;
  /** the run directory this job's teacher weights come from (its row's teacher row at seed 0), else null */
  teacherRunDir: string | null;
}

export interface PlanOptions {
  seeds: readonly number[];
  /** whether rows run their `extraSeeds` too (the study's default plan); default true */
  extraSeeds?: boolean;
  /** row ids, or null for all rows */
  rows: readonly string[] | null;
  /** config overrides from the command line (e.g. runsDir=..., data.trainLimit=32) */
  overrides: Overrides;
  resultsDir: string;
}

/** The seeds a row is run (and reported) with, ascending; `extra`: with the row's `extraSeeds`. */
export function seedsOf(row: StudyRow, seeds: readonly number[], extra = true): readonly number[] {
  if (row.seeds) return row.seeds;
  const all = new Set([...seeds, ...(extra ? (row.extraSeeds ?? []) : [])]);
  return [...all].filter((s) => s >= (row.firstSeed ?? 0)).sort((a, b) => a - b);
}

export function planJobs(study: Study, opts: PlanOptions): Job[] {
  const reserved = Object.keys(opts.overrides).filter((k) => RESERVED.includes(k.split('.')[0] as string));
  if (reserved.length) {
    throw new UsageError(
      `ladet repro: ${reserved.join(', ')} cannot be overridden (repro sets seed from seeds=, the run name from the preset and threads=${REPRO_THREADS})`,
    );
  }
  if (opts.seeds.length === 0) throw new UsageError('ladet repro: seeds= needs at least one seed');
  const chosen = selectRows(study, opts.rows);
  const built = new Map<string, Job>();
  const job = (row: StudyRow, seed: number): Job => {
    const key = `${row.id}:${seed}`;
    let j = built.get(key);
    if (!j) {
      j = makeJob(study, row, seed, opts, (id) => job(rowById(study, id), 0));
      built.set(key, j);
    }
    return j;
  };
  const order: Job[] = [];
  const add = (j: Job): void => {
    if (!order.includes(j)) order.push(j);
  };
  // teachers (and fixed-seed rows) first: distillation rows read the teacher's finished weights
  for (const row of chosen) if (row.teacher) add(job(rowById(study, row.teacher), 0));
  for (const row of chosen) if (row.seeds) for (const s of row.seeds) add(job(row, s));
  // then seed by seed, so that a stopped study has whole seeds; rows' extra seeds after the ones asked for
  const extra = opts.extraSeeds ?? true;
  const free = chosen.filter((row) => !row.seeds);
  const planned = new Set(free.flatMap((row) => seedsOf(row, opts.seeds, extra)));
  const seedOrder = [...opts.seeds, ...[...planned].filter((s) => !opts.seeds.includes(s)).sort((a, b) => a - b)];
  for (const s of seedOrder) for (const row of free) if (seedsOf(row, opts.seeds, extra).includes(s)) add(job(row, s));
  return order;
}

function makeJob(study: Study, row: StudyRow, seed: number, opts: PlanOptions, teacherJob: (id: string) => Job): Job {
  const own = Object.keys(row.overrides ?? {}).filter((k) => ROW_RESERVED.includes(k.split('.')[0] as string));
  if (own.length)
    throw new Error(`study ${study.name} row ${row.id}: its overrides set ${own.join(', ')}, which repro sets itself`);
  // the row's overrides, then the user's (which win)
  const given: Overrides = { ...row.overrides, ...opts.overrides };
  const preset = loadConfig(row.config, given);
  // seed 0 keeps the preset's own run name (or the row's), so runs trained with `ladet train PRESET threads=1` are
  // picked up
  const overrides: Overrides = { ...given, threads: REPRO_THREADS };
  if (seed !== 0) Object.assign(overrides, { seed, name: `${preset.name}_s${seed}` });
  let teacherRunDir: string | null = null;
  if (row.teacher) {
    const t = teacherJob(row.teacher);
    teacherRunDir = t.runDir;
    const weights = preset.distill.teacher?.weights;
    if (weights === undefined)
      throw new Error(
        `${row.config}: study ${study.name} row ${row.id} names a teacher but the preset has no distill.teacher`,
      );
    // with another runsDir the teacher is trained elsewhere than the preset says: point at that run (only then,
    // so the default keeps the preset's config and hash)
    if (resolve(weights) !== resolve(t.runDir)) overrides['distill.teacher.weights'] = t.runDir;
    checkTeacher(study, row, preset, t);
  }
  const config = loadConfig(row.config, overrides);
  if (row.net !== undefined && config.distill.strategy !== 'colad') {
    throw new Error(
      `${row.config}: study ${study.name} row ${row.id} reports network ${row.net} of a CoLAD run, but the preset's distill.strategy is ${config.distill.strategy}`,
    );
  }
  return {
    study: study.name,
    row,
    seed,
    configPath: row.config,
    overrides,
    config,
    hash: configHash(config),
    experiment: `${configHash({ ...config, seed: 0, name: '_' })}:${config.train?.precision ?? 'auto'}`,
    runDir: join(config.runsDir, config.name),
    resultPath: resultPath(opts.resultsDir, study.name, row.id, seed),
    teacherRunDir,
  };
}

/**
 * The student builds its teacher from distill.teacher.config's model section, with the student's classes, and loads
 * the teacher row's weights into it: that config must describe the teacher row's network, and the teacher must have
 * been trained on the student's dataset (the class count alone would not tell two datasets apart).
 */
function checkTeacher(study: Study, row: StudyRow, student: Config, teacher: Job): void {
  const where = `study ${study.name} row ${row.id}`;
  const path = student.distill.teacher?.config as string;
  const built = loadConfig(path);
  if (JSON.stringify(built.model) !== JSON.stringify(teacher.config.model)) {
    throw new Error(
      `${where}: distill.teacher.config ${path} describes another network than its teacher row ${teacher.row.id} trains (${teacher.configPath}${teacher.row.overrides ? " with the row's overrides" : ''})`,
    );
  }
  const data = (c: Config): string => {
    const { builtin, builtinArgs, root, trainAnn, trainImages, valAnn, valImages } = c.data;
    return JSON.stringify({ builtin, builtinArgs, root, trainAnn, trainImages, valAnn, valImages });
  };
  if (data(student) !== data(teacher.config))
    throw new Error(
      `${where}: its teacher row ${teacher.row.id} trains on another dataset (${teacher.config.data.root})`,
    );
}
