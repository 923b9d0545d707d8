// Reads a run directory without loading libtorch: has the run with this config hash finished, and what did its
// final epoch score? A finished run is collected as it is (never touched again); anything else is trained with
// resume=true. The run's log.jsonl tells which config trained it (`start` events carry the hash) and which epochs
// were completed since its last fresh start.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UsageError } from '../config/usage_error.js';
import { configHash, parseConfig } from '../config/schema.js';
import { readRunResult, type RunResult } from '../engine/run_result.js';
import type { CodeVersion } from '../engine/code_version.js';
import { PRECISIONS, type RecordedPrecision } from './record.js';

/** A finished run's result (see readRunResult) and the hash it was trained under: the log's, which differs from the
 * expected one only across schema versions. */
export interface FinishedRun extends RunResult {
  runHash: string;
  /** the code each training segment since the last fresh start ran, in order, repeats dropped (from the log's
   * `start` events; UNKNOWN_CODE for a segment started before the trainer logged it) */
  trainedWith: CodeVersion[];
  /** the precision of each training segment since the last fresh start, in order, repeats dropped (from the log's
   * `start` events; fp32 for a start logged before the trainer named its precision: it could train in nothing else) */
  precision: RecordedPrecision[];
  /** the teacher weights those segments read (a distillation run), as the trainer logged them, repeats dropped */
  teacherWeights: { file: string; sha256: string }[];
}

export type RunState =
  | { state: 'absent' }
  | {
      state: 'partial';
      epochsDone: number;
      /** the run's last event is a stop request's (Ctrl-C): nobody is training it */
      stopped: boolean;
      /** newest mtime (ms) of log.jsonl, metrics.csv and weights/last.safetensors */
      lastWrite: number;
    }
  | { state: 'finished'; run: FinishedRun };

interface LogEvent {
  event?: unknown;
  hash?: unknown;
  resume?: unknown;
  epoch?: unknown;
  code?: unknown;
  precision?: unknown;
  teacher?: unknown;
}

/** What a start logged before the trainer named its code (or with a damaged entry) trained with. */
export const UNKNOWN_CODE: CodeVersion = { version: 'unknown', commit: null, dirty: null };

/** The distinct code versions of a segment's `start` events, in order (UNKNOWN_CODE for a start without one). */
function codeVersionsOf(starts: readonly LogEvent[]): CodeVersion[] {
  const out: CodeVersion[] = [];
  for (const e of starts) {
    const c = e.code as Partial<CodeVersion> | undefined;
    const known = typeof c === 'object' && c !== null && typeof c.version === 'string';
    const v: CodeVersion = known
      ? {
          version: c.version as string,
          commit: typeof c.commit === 'string' ? c.commit : null,
          dirty: typeof c.dirty === 'boolean' ? c.dirty : null,
        }
      : UNKNOWN_CODE;
    if (!out.some((o) => o.version === v.version && o.commit === v.commit && o.dirty === v.dirty)) out.push(v);
  }
  return out;
}

/** The distinct precisions of a segment's `start` events, in order; absent: fp32 (logged since train.precision exists). */
function precisionsOf(starts: readonly LogEvent[], logPath: string): RecordedPrecision[] {
  const out: RecordedPrecision[] = [];
  for (const e of starts) {
    const p = e.precision ?? 'fp32';
    if (!PRECISIONS.includes(p as RecordedPrecision))
      throw new Error(
        `${logPath}: a start event names precision ${JSON.stringify(p)} (expected ${PRECISIONS.join(', ')})`,
      );
    if (!out.includes(p as RecordedPrecision)) out.push(p as RecordedPrecision);
  }
  return out;
}

/** The distinct teacher weights (file, sha256) a segment's `start` events name (the trainer logs its teacher info). */
function teachersOf(starts: readonly LogEvent[]): { file: string; sha256: string }[] {
  const out: { file: string; sha256: string }[] = [];
  for (const e of starts) {
    const t = e.teacher as { weights?: unknown; sha256?: unknown } | undefined;
    if (typeof t !== 'object' || t === null || typeof t.weights !== 'string' || typeof t.sha256 !== 'string') continue;
    const w = { file: t.weights, sha256: t.sha256 };
    if (!out.some((o) => o.file === w.file && o.sha256 === w.sha256)) out.push(w);
  }
  return out;
}

function readLog(path: string): LogEvent[] {
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const out: LogEvent[] = [];
  lines.forEach((line, i) => {
    try {
      out.push(JSON.parse(line) as LogEvent);
    } catch {
      // a crash mid-append can cut the last line; anything earlier is a damaged log
      if (i !== lines.length - 1) throw new Error(`${path}: line ${i + 1} is not JSON`);
    }
  });
  return out;
}

/**
 * The state of `runDir` for a run of `epochs` epochs with config hash `hash`. Throws a usage error when the run
 * directory holds a run of another config (repro would otherwise resume or report the wrong experiment).
 */
export function inspectRun(runDir: string, hash: string, epochs: number): RunState {
  const logPath = join(runDir, 'log.jsonl');
  if (!existsSync(logPath)) return { state: 'absent' };
  const events = readLog(logPath);
  let fresh = -1;
  events.forEach((e, i) => {
    if (e.event === 'start' && e.resume === false) fresh = i;
  });
  if (fresh < 0) fresh = events.findIndex((e) => e.event === 'start');
  if (fresh < 0) return { state: 'absent' };
  const segment = events.slice(fresh);
  const hashes = [...new Set(segment.filter((e) => e.event === 'start').map((e) => String(e.hash)))];
  const runHash = hashes[0] as string;
  const other = (why: string): UsageError =>
    new UsageError(
      `${runDir} holds a run of another config (hash ${runHash.slice(0, 12)}…, repro expects ${hash.slice(0, 12)}…)${why}: ` +
        'move or delete that directory so repro can train this row, or give repro the same overrides that run had',
    );
  if (hashes.length > 1) throw other(' (its log mixes configs)');
  const sameConfig = runHash === hash || sameUnderCurrentSchema(runDir, runHash, hash);
  const done = segment.filter((e) => e.event === 'epoch' && typeof e.epoch === 'number').map((e) => e.epoch as number);
  const epochsDone = done.length ? Math.max(...done) : 0;
  if (!sameConfig) throw other('');
  if (epochsDone < epochs) {
    // the trainer resumes only under the exact hash its checkpoint recorded
    if (runHash !== hash)
      throw other(' (the same settings under an older config schema, but unfinished, so it cannot be resumed)');
    const last = segment[segment.length - 1];
    return { state: 'partial', epochsDone, stopped: last?.event === 'stop', lastWrite: lastWrite(runDir) };
  }
  const starts = segment.filter((e) => e.event === 'start');
  const trainedWith = codeVersionsOf(starts);
  const precision = precisionsOf(starts, logPath);
  const teacherWeights = teachersOf(starts);
  return {
    state: 'finished',
    run: { runHash, trainedWith, precision, teacherWeights, ...readRunResult(runDir, epochs) },
  };
}

function lastWrite(runDir: string): number {
  const files = ['log.jsonl', 'metrics.csv', join('weights', 'last.safetensors')].map((f) => join(runDir, f));
  return Math.max(0, ...files.filter((f) => existsSync(f)).map((f) => statSync(f).mtimeMs));
}

/**
 * True when the run's config.yaml is the config that trained it (its plain hash is the log's `runHash`) and, read
 * by today's schema, it hashes to `hash`: the same experiment, trained before the schema gained new defaults
 * (a finished run of it is still valid and is not retrained for a new key that does not change it).
 */
function sameUnderCurrentSchema(runDir: string, runHash: string, hash: string): boolean {
  const path = join(runDir, 'config.yaml');
  if (!existsSync(path)) return false;
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch {
    return false;
  }
  if (createHash('sha256').update(JSON.stringify(raw)).digest('hex') !== runHash) return false;
  try {
    return configHash(parseConfig(raw, path)) === hash;
  } catch {
    return false;
  }
}
