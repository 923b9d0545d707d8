// One reproduction result: a row of a study at one seed, as `<results>/<table>/<row>_s<seed>.json`. It names the
// preset, overrides and config hash that produced it and the git commit the code was at, so a table can be traced
// back to committed code and configs.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { Outputs } from '../io/outputs.js';
import { METRIC_KEYS, type MetricKey } from '../engine/run_result.js';

export { METRIC_KEYS, type MetricKey };

/** What a training segment computed its forward passes in (the trainer's resolved train.precision; the same names as
 * torch/autocast.ts's RunPrecision, which repro does not import: it never loads libtorch). */
export const PRECISIONS = ['fp32', 'bf16', 'fp16'] as const;
export type RecordedPrecision = (typeof PRECISIONS)[number];

const Metrics = z.object(Object.fromEntries(METRIC_KEYS.map((k) => [k, z.number()])) as Record<MetricKey, z.ZodNumber>);

export const ResultRecordSchema = z
  .object({
    format: z.literal('ladet-repro-result'),
    version: z.literal(1),
    table: z.string(),
    row: z.string(),
    label: z.string(),
    seed: z.number().int().min(0),
    /** the preset, relative to the repository root */
    config: z.string(),
    /** the overrides applied on top of it (threads, seed, name, ...) */
    overrides: z.record(z.string(), z.unknown()),
    runDir: z.string(),
    /** sha256 of the resolved config (the trainer's hash, also in the run's log.jsonl) */
    configHash: z.string().regex(/^[0-9a-f]{64}$/),
    /** the hash in the run's own log: equal to configHash unless the run predates a schema default (run_state.ts) */
    runConfigHash: z.string().regex(/^[0-9a-f]{64}$/),
    /** HEAD when the result was recorded (null outside a git checkout) */
    gitCommit: z.string().nullable(),
    /** uncommitted changes to code, configs or package files when the result was recorded */
    gitDirty: z.boolean().nullable(),
    /** the code that trained the run: one entry per distinct version its training segments started with (a run
     * resumed across commits has several; version 'unknown' for a segment logged before the trainer named it);
     * absent in records written before this field */
    trainedWith: z
      .array(z.object({ version: z.string(), commit: z.string().nullable(), dirty: z.boolean().nullable() }).strict())
      .optional(),
    /** true when this `ladet repro` call trained (part of) the run; false when it found the run finished */
    trainedByRepro: z.boolean(),
    epochs: z.number().int().positive(),
    /** COCO bbox stats of the final epoch (fractions, -1 where a size range has no objects) */
    metrics: Metrics,
    /** summed per-epoch training time (metrics.csv `time`), evaluation excluded */
    trainSeconds: z.number().min(0),
    /** when the final evaluation was written (its file's mtime) */
    finished: z.string(),
    /** when this record was written */
    recorded: z.string(),
    /** the precision of every training segment since the run's fresh start, in order, repeats dropped (from its
     * log: a run resumed in another precision lists both; fp32 for a segment logged before the trainer named its
     * precision, when it could train in nothing else); absent in records written before this field */
    precision: z.array(z.enum(PRECISIONS)).min(1).optional(),
    /** a distillation row: the teacher weights file it read, by content (from the run's log, else hashed when repro
     * trained it; absent in older records) */
    teacherWeights: z.object({ file: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).optional(),
    /** a row reporting another network of a CoLAD run than the run evaluated: that network (metrics are its own) */
    net: z.union([z.literal(1), z.literal(2)]).optional(),
  })
  .strict();

export type ResultRecord = z.infer<typeof ResultRecordSchema>;

export function resultPath(resultsDir: string, table: string, row: string, seed: number): string {
  return join(resultsDir, table, `${row}_s${seed}.json`);
}

/**
 * Where the result of a recorded teacher trained again (for weights a fresh clone lacks) goes: beside its record,
 * which stays as it is, since the students recorded before read the weights that record describes.
 */
export function retrainedPath(path: string): string {
  return path.replace(/\.json$/, '.retrained.json');
}

/** Reads and validates a result file; any problem is an error naming the file (and the field). */
export function readRecord(path: string): ResultRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(
      `${path}: not a readable result JSON (${(e as Error).message}); delete it to record the run again`,
      { cause: e },
    );
  }
  const r = ResultRecordSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue && issue.path.length ? issue.path.join('.') : '(top level)';
    throw new Error(
      `${path}: not a valid repro result: ${where}: ${issue?.message ?? 'invalid'}; delete it to record the run again`,
    );
  }
  return r.data;
}

/** The record at `path`, or null when there is none. */
export function readRecordIfAny(path: string): ResultRecord | null {
  return existsSync(path) ? readRecord(path) : null;
}

/** Writes a record; an existing file there is replaced only when it is a repro record (records are committed to
 * git, so they carry their identity in their content rather than in an output manifest). */
export function writeRecord(path: string, rec: ResultRecord): void {
  const outputs = new Outputs({ command: 'ladet repro', owns: isRecord });
  outputs.write(path, JSON.stringify(ResultRecordSchema.parse(rec), null, 2) + '\n');
  outputs.flush();
}

function isRecord(path: string): boolean {
  try {
    readRecord(path);
    return true;
  } catch {
    return false;
  }
}
