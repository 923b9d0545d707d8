// The fuzz suite's property and runner. Every target writes a generated file, calls a public entry point on it and
// accepts only: a typed error (an Error whose message names the file; not a TypeError / RangeError / ... thrown by
// JavaScript itself), or a result that passes the target's correctness checks. The input file must be byte-identical
// afterwards and no other file may appear next to it. Each target runs in a child process watched by the test's
// process, so a hang (a synchronous endless loop included) or a crash of the whole process is reported with its input.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';

/** The seed of `npm test` runs (override: LADET_FUZZ_SEED); `npm run fuzz` draws a fresh one unless given --seed. */
export const CI_SEED = 1958;

/** A case slower than this fails (a near-hang: super-linear work on a small file). */
export const SLOW_CASE_MS = 10_000;

/** A child silent for this long is hung: it is stopped and the last case reported. */
export const HANG_MS = 60_000;

export interface FuzzContext {
  /** a fresh folder for this run's files */
  dir: string;
  /** called by the target at the start of each case with a short description of its input */
  onCase: (summary: string) => void;
}

/**
 * A bug the fuzz found in code this suite's authors do not own, reported to its owner and not fixed yet: failures
 * whose message matches are counted and printed instead of failing the run. Delete the entry with the fix.
 */
export interface KnownIssue {
  id: string;
  /** where it was reported, what input, what error */
  report: string;
  matches: RegExp;
}

export interface FuzzTarget {
  name: string;
  known?: readonly KnownIssue[];
  /** runs under `npm test` (tuned to keep the whole suite at 1-2 minutes) */
  ciRuns: number;
  property(ctx: FuzzContext): fc.IAsyncProperty<[unknown]>;
}

export function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

// Errors JavaScript raises on its own: from a reader, they mean the input reached code that did not expect it.
const UNTYPED: readonly (new (...a: never[]) => Error)[] = [
  TypeError,
  RangeError,
  ReferenceError,
  SyntaxError,
  EvalError,
  URIError,
];

/** Why `e` is not an acceptable failure for a reader of `path`, or null when it is (an Error naming the file). */
export function untypedError(e: unknown, path: string): string | null {
  if (!(e instanceof Error)) return `threw a non-Error (${String(e)})`;
  const raw = UNTYPED.find((C) => e.constructor === C);
  if (raw !== undefined) return `threw a bare ${raw.name}`;
  if (!e.message.includes(path)) return `threw ${e.name} whose message does not name the file`;
  return null;
}

export interface CallCheck<R> {
  /** the input file */
  path: string;
  /** the folder it lies in (nothing may appear there) */
  dir: string;
  /** what is called (the label of failures) */
  label: string;
  call: () => R | Promise<R>;
  /** correctness checks on a result; throw to fail */
  verify?: (result: R) => void | Promise<void>;
  /** true when the input is valid: an error then fails the case too */
  expectOk?: boolean;
  /** true when the input is invalid in a way the reader must notice */
  expectError?: boolean;
  /** frees a result (tensors) */
  release?: (result: R) => void;
}

let known: readonly KnownIssue[] = [];
const knownHits = new Map<string, number>();

/** Runs one entry point on one file and checks the property; throws (for fast-check) when it does not hold. */
export async function checkCall<R>(c: CallCheck<R>): Promise<void> {
  try {
    await checkCallStrict(c);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const k = known.find((issue) => issue.matches.test(msg));
    if (k === undefined) throw e;
    knownHits.set(k.id, (knownHits.get(k.id) ?? 0) + 1);
  }
}

async function checkCallStrict<R>(c: CallCheck<R>): Promise<void> {
  const before = sha256(c.path);
  const listing = readdirSync(c.dir).sort().join('\n');
  const t0 = performance.now();
  let result: R | undefined;
  let error: unknown;
  let failed = false;
  try {
    result = await c.call();
  } catch (e) {
    error = e;
    failed = true;
  }
  const ms = performance.now() - t0;
  try {
    if (sha256(c.path) !== before) throw new Error(`${c.label}: changed its input file`);
    if (readdirSync(c.dir).sort().join('\n') !== listing)
      throw new Error(`${c.label}: left files next to its input (${readdirSync(c.dir).join(', ')})`);
    if (ms > SLOW_CASE_MS) throw new Error(`${c.label}: took ${Math.round(ms)} ms (limit ${SLOW_CASE_MS} ms)`);
    if (failed) {
      const why = untypedError(error, c.path);
      if (why !== null)
        throw new Error(
          `${c.label}: ${why}: ${error instanceof Error ? (error.stack ?? error.message).slice(0, 2000) : String(error)}`,
        );
      if (c.expectOk) throw new Error(`${c.label}: refused a valid input: ${(error as Error).message.slice(0, 500)}`);
      return;
    }
    if (c.expectError) throw new Error(`${c.label}: accepted an invalid input`);
    try {
      await c.verify?.(result as R);
    } catch (e) {
      throw new Error(`${c.label}: wrong result: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  } finally {
    if (!failed) c.release?.(result as R);
  }
}

/** A short printable view of file content for reports. */
export function preview(content: Uint8Array | string, max = 240): string {
  const s = typeof content === 'string' ? content : Buffer.from(content).toString('latin1');
  const shown = JSON.stringify(s.length > max ? s.slice(0, max) : s);
  return s.length > max ? `${shown}… (${s.length} chars)` : shown;
}

export interface RunOptions {
  seed: number;
  runs: number;
  onCase?: (n: number, summary: string) => void;
}

/** Runs a target in this thread (fast-check shrinks a failure to a minimal case); throws with the report on failure. */
export async function runTarget(target: FuzzTarget, o: RunOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `ladet-fuzz-${target.name}-`));
  let n = 0;
  known = target.known ?? [];
  knownHits.clear();
  try {
    const property = target.property({ dir, onCase: (summary) => o.onCase?.(++n, summary) });
    await fc.assert(property, { seed: o.seed, numRuns: o.runs, includeErrorInReport: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    for (const [id, hits] of knownHits)
      console.log(
        `fuzz ${target.name}: known issue '${id}' hit ${hits} times (not failing the run): ${known.find((k) => k.id === id)?.report}`,
      );
  }
}

type FromChild = { type: 'case'; n: number } | { type: 'done' } | { type: 'fail'; message: string };

/**
 * Runs a target in a child process (the CLI's conditions: a main thread's stack, one process), stopping it when it
 * goes HANG_MS without starting a case. The child writes each case's description to a file before running it, so a
 * hang or a crash that takes the whole process down (a fatal V8 error, a native abort) is reported with its input.
 * Resolves with the number of cases run (shrinking included); rejects with fast-check's report (seed and
 * counterexample), or the case that hung or crashed.
 */
export function runIsolated(name: string, o: { seed: number; runs: number; hangMs?: number }): Promise<number> {
  const hangMs = o.hangMs ?? HANG_MS;
  const scratch = mkdtempSync(join(tmpdir(), 'ladet-fuzz-run-'));
  const lastCase = join(scratch, 'last-case.txt');
  const child = fork(
    fileURLToPath(new URL('./child.js', import.meta.url)),
    [name, String(o.seed), String(o.runs), lastCase],
    {
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  return new Promise<number>((resolve, reject) => {
    let cases = 0;
    let settled = false;
    const last = (): string => (existsSync(lastCase) ? readFileSync(lastCase, 'utf8') : '(before the first case)');
    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const lastText = err === null ? '' : last();
      child.kill('SIGKILL');
      rmSync(scratch, { recursive: true, force: true });
      if (err) reject(new Error(err.message.replace('{LAST}', lastText)));
      else resolve(cases);
    };
    const hung = (): void =>
      finish(
        new Error(`fuzz ${name} (seed ${o.seed}): no progress for ${hangMs / 1000} s: hung on case ${cases}: {LAST}`),
      );
    let timer = setTimeout(hung, hangMs);
    child.on('message', (m: FromChild) => {
      if (m.type === 'case') {
        cases = m.n;
        clearTimeout(timer);
        timer = setTimeout(hung, hangMs);
      } else if (m.type === 'done') finish(null);
      else finish(new Error(m.message));
    });
    child.on('error', (e) => finish(new Error(`fuzz ${name} (seed ${o.seed}): ${e.message}`)));
    child.on('exit', (code, signal) =>
      finish(
        new Error(
          `fuzz ${name} (seed ${o.seed}): the process died (exit code ${code}, signal ${signal}) running: {LAST}`,
        ),
      ),
    );
  });
}

/** Seed and runs of a CI run: fixed (LADET_FUZZ_SEED / LADET_FUZZ_RUNS override), printed so a failure can be replayed. */
export function ciSettings(target: FuzzTarget): { seed: number; runs: number } {
  const seed = process.env.LADET_FUZZ_SEED ? Number(process.env.LADET_FUZZ_SEED) : CI_SEED;
  const runs = process.env.LADET_FUZZ_RUNS ? Number(process.env.LADET_FUZZ_RUNS) : target.ciRuns;
  console.log(
    `fuzz ${target.name}: seed ${seed}, ${runs} runs (replay: LADET_FUZZ_SEED=${seed}, or npm run fuzz -- --seed ${seed} --runs ${runs} ${target.name})`,
  );
  return { seed, runs };
}
