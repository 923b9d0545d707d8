// Crash soak (issue 19): trains a tiny preset with `ladet train`, kills it with SIGKILL at random moments (during
// steps, evaluations and checkpoint writes alike), resumes it each time, and checks that the final weights,
// optimizer state, metrics.csv and evaluation equal those of an uninterrupted run of the same preset.
//   npm run soak -- [--kills 20] [--seed 1] [--epochs 4] [--strategy self|lad|solad|kd|colad] [--keep]
// test/engine/soak.test.ts runs a short version; the helpers here (run the CLI, stop it at an iteration, compare
// two runs) are also what the signal tests use.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCheckpoint, readCheckpointHeader } from '../src/build/checkpoint.js';
import { parseMetricsCsv } from '../src/engine/metrics_log.js';
import { dispose } from '../src/torch/index.js';
import { Rng } from '../src/data/rng.js';

const CLI = resolve(fileURLToPath(import.meta.url), '../../src/cli/main.js');

export type Strategy = 'self' | 'lad' | 'kd' | 'solad' | 'colad';

/** A tiny preset for `strategy` (YAML text). LAD-family strategies name `teacher` (a run directory of the tiny
 * self preset). 8 training images in batches of 2: four steps an epoch, evaluation at the last epoch. */
export function tinyPreset(o: {
  runsDir: string;
  dataRoot: string;
  strategy: Strategy;
  epochs: number;
  teacher?: { config: string; weights: string };
}): string {
  const distill =
    o.strategy === 'self'
      ? ''
      : o.strategy === 'colad'
        ? 'distill: { strategy: colad }\n'
        : `distill: { strategy: ${o.strategy}, teacher: { config: ${JSON.stringify(o.teacher?.config)}, weights: ${JSON.stringify(o.teacher?.weights)} } }\n`;
  return `name: tiny_${o.strategy}
runsDir: ${JSON.stringify(o.runsDir)}
seed: 0
threads: 1
logEvery: 1
data:
  builtin: shapes
  builtinArgs: { train: 8, val: 4, size: 96, maxItems: 3 }
  root: ${JSON.stringify(o.dataRoot)}
  trainScales: [[96, 96]]
  testScale: [96, 96]
  flipProb: 0.5
  batchSize: 2
  workers: 0
model:
  backbone: { depth: 18, widthMultiplier: 0.125 }
  neck: { outChannels: 16, numOuts: 4 }
  head: { featChannels: 16, stackedConvs: 1, gnGroups: 4, priorProb: 0.1 }
  anchors: { strides: [8, 16, 32, 64], octaveBaseScale: 4 }
optimizer: { lr: 0.01, gradClip: 35 }
schedule: { epochs: ${o.epochs}, warmupIters: 2, steps: [${Math.max(1, o.epochs - 1)}] }
eval: { every: ${o.epochs} }
${distill}`;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** the iteration the run had logged when the signal went out, null when none was sent */
  sentAt: number | null;
  /** milliseconds from the start to the signal, null when none was sent */
  sentMs: number | null;
}

/** The last iteration the latest start of a run logged in its log.jsonl (0 before its first step). */
export function loggedIter(runDir: string): number {
  const path = join(runDir, 'log.jsonl');
  if (!existsSync(path)) return 0;
  let iter = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    try {
      const e = JSON.parse(line) as { event?: string; iter?: number };
      if (e.event === 'start') iter = 0;
      else if (e.event === 'iter' && typeof e.iter === 'number') iter = e.iter;
    } catch {
      // a line being written
    }
  }
  return iter;
}

/**
 * Runs `ladet <args>` in a child process. `stop`: send `signal` `afterMs` milliseconds (default 0) after the run
 * has logged iteration `afterIter` (read from runDir's log.jsonl), or, without afterIter, `afterMs` after the start.
 */
export function runCli(
  args: readonly string[],
  stop?: { signal: NodeJS.Signals; runDir: string; afterIter?: number; afterMs?: number },
  env: NodeJS.ProcessEnv = process.env,
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sentAt: number | null = null;
    let sentMs: number | null = null;
    const started = Date.now();
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timers: NodeJS.Timeout[] = [];
    const send = (): void => {
      if (sentAt !== null || child.exitCode !== null) return;
      sentAt = stop ? loggedIter(stop.runDir) : 0;
      sentMs = Date.now() - started;
      child.kill(stop?.signal);
    };
    if (stop?.afterIter !== undefined) {
      const at = stop.afterIter;
      const poll = setInterval(() => {
        if (loggedIter(stop.runDir) < at) return;
        clearInterval(poll);
        timers.push(setTimeout(send, stop.afterMs ?? 0));
      }, 10);
      timers.push(poll);
    } else if (stop?.afterMs !== undefined) {
      timers.push(setTimeout(send, stop.afterMs));
    }
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const t of timers) clearInterval(t);
      resolvePromise({ code, signal, stdout, stderr, sentAt, sentMs });
    });
  });
}

/** What differs between two finished runs: weights, optimizer state and position of `last`, the `best` weights,
 * metrics.csv (all columns but time) and the last evaluation. Empty when they are the same. */
export function compareRuns(a: string, b: string): string[] {
  const diffs: string[] = [];
  for (const file of ['last', 'best']) {
    const pa = join(a, 'weights', `${file}.safetensors`);
    const pb = join(b, 'weights', `${file}.safetensors`);
    if (existsSync(pa) !== existsSync(pb)) {
      diffs.push(`weights/${file}.safetensors exists in only one run`);
      continue;
    }
    if (!existsSync(pa)) continue;
    const ca = readCheckpoint(pa);
    const cb = readCheckpoint(pb);
    try {
      const keys = (x: Map<string, unknown> | Record<string, unknown>): string[] =>
        (x instanceof Map ? [...x.keys()] : Object.keys(x)).sort();
      if (keys(ca.model).join() !== keys(cb.model).join()) diffs.push(`${file}: model keys differ`);
      for (const [k, v] of ca.model)
        if (cb.model.has(k) && !v.equal(cb.model.get(k)!)) diffs.push(`${file}: ${k} differs`);
      if (keys(ca.optimizer).join() !== keys(cb.optimizer).join()) diffs.push(`${file}: optimizer keys differ`);
      for (const [k, v] of Object.entries(ca.optimizer))
        if (cb.optimizer[k] && !v.equal(cb.optimizer[k])) diffs.push(`${file}: optimizer ${k} differs`);
      const ta = ca.meta?.trainer;
      const tb = cb.meta?.trainer;
      // the config hash differs by the run name alone; the rest of the position must be the same
      const pos = (t: typeof ta): string => JSON.stringify(t && { ...t, configHash: null });
      if (pos(ta) !== pos(tb)) diffs.push(`${file}: trainer state differs:\n  ${pos(ta)}\n  ${pos(tb)}`);
    } finally {
      dispose([[...ca.model.values()], [...cb.model.values()], ca.optimizer, cb.optimizer]);
    }
  }
  // every column but the timings (the epoch's time, the assignment's milliseconds)
  const rows = (dir: string): string =>
    JSON.stringify(
      parseMetricsCsv(readFileSync(join(dir, 'metrics.csv'), 'utf8')).map((r) =>
        Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'time' && !k.endsWith('_ms'))),
      ),
    );
  if (rows(a) !== rows(b)) diffs.push(`metrics.csv differs:\n  ${rows(a)}\n  ${rows(b)}`);
  const evals = (dir: string): string[] => {
    const f = join(dir, 'eval');
    return existsSync(f)
      ? ['best_results.json', ...[1, 2, 3, 4, 5, 6, 7, 8].map((e) => `epoch_${e}.json`)].filter((n) =>
          existsSync(join(f, n)),
        )
      : [];
  };
  if (evals(a).join() !== evals(b).join()) diffs.push(`eval files differ: ${evals(a).join()} vs ${evals(b).join()}`);
  for (const n of evals(a))
    if (readFileSync(join(a, 'eval', n), 'utf8') !== readFileSync(join(b, 'eval', n), 'utf8'))
      diffs.push(`eval/${n} differs`);
  return diffs;
}

export interface SoakOptions {
  kills: number;
  seed: number;
  epochs: number;
  strategy: Strategy;
  /** the working folder (made when missing) */
  work: string;
  say?: (line: string) => void;
}

export interface SoakReport {
  kills: number;
  /** the runs' iteration count when each SIGKILL landed */
  killedAt: number[];
  straightSeconds: number;
  diffs: string[];
}

/** Prepares the preset (and, for LAD-family strategies, trains the tiny teacher first). Returns the config path. */
export async function preparePreset(work: string, strategy: Strategy, epochs: number): Promise<string> {
  mkdirSync(work, { recursive: true });
  const runsDir = join(work, 'runs');
  const dataRoot = join(work, 'shapes');
  let teacher: { config: string; weights: string } | undefined;
  if (strategy !== 'self' && strategy !== 'colad') {
    const tc = join(work, 'teacher.yaml');
    writeFileSync(
      tc,
      tinyPreset({ runsDir, dataRoot, strategy: 'self', epochs: 2 }).replace('name: tiny_self', 'name: teacher'),
    );
    if (!existsSync(join(runsDir, 'teacher', 'weights', 'last.safetensors'))) {
      const r = await runCli(['train', tc]);
      if (r.code !== 0) throw new Error(`soak: the teacher did not train: ${r.stderr}`);
    }
    teacher = { config: tc, weights: join(runsDir, 'teacher') };
  }
  const config = join(work, `${strategy}.yaml`);
  writeFileSync(config, tinyPreset({ runsDir, dataRoot, strategy, epochs, ...(teacher ? { teacher } : {}) }));
  return config;
}

export async function soak(o: SoakOptions): Promise<SoakReport> {
  const say = o.say ?? ((l: string) => console.log(l));
  const config = await preparePreset(o.work, o.strategy, o.epochs);
  const runsDir = join(o.work, 'runs');
  const straight = `tiny_${o.strategy}`;
  const soaked = `soak_${o.strategy}`;
  rmSync(join(runsDir, straight), { recursive: true, force: true });
  rmSync(join(runsDir, soaked), { recursive: true, force: true });

  const t0 = Date.now();
  // SIGCONT does nothing to a running process: it only marks when the first step was logged (the start-up time)
  const s = await runCli(['train', config], { signal: 'SIGCONT', runDir: join(runsDir, straight), afterIter: 1 });
  const startupMs = s.sentMs ?? 1000;

  if (s.code !== 0) throw new Error(`soak: the uninterrupted run failed: ${s.stderr}`);
  const straightSeconds = (Date.now() - t0) / 1000;
  say(`uninterrupted run: ${straightSeconds.toFixed(1)} s`);

  const rng = new Rng(o.seed); // the kill times are reproducible given the seed and the machine's speed
  const rand = (): number => rng.next();
  const killedAt: number[] = [];
  const runDir = join(runsDir, soaked);
  const totalIters = loggedIter(join(runsDir, straight));
  for (let k = 0; k < o.kills; k++) {
    // A quarter of the kills land during start-up (a random time from the process start, under the uninterrupted
    // run's start-up); the rest a random 0-200 ms after a random iteration: inside steps, evaluation and the
    // checkpoint writes that follow an epoch's last step. Tied to progress, not to the clock, so a loaded machine
    // does not let the run finish first.
    const early = rand() < 0.25;
    // the resumed run starts from its last checkpoint: aim at an iteration still ahead of it
    const last = join(runDir, 'weights', 'last.safetensors');
    const from = existsSync(last) ? (readCheckpointHeader(last).meta?.trainer?.iter ?? 0) : 0;
    const stop = early
      ? { afterMs: Math.round(rand() * startupMs) }
      : {
          afterIter: from + 1 + Math.floor(rand() * Math.max(1, totalIters - from)),
          afterMs: Math.round(rand() * 200),
        };
    const when = early ? `${stop.afterMs} ms after start` : `${stop.afterMs} ms after iteration ${stop.afterIter}`;
    const r = await runCli(['train', config, `name=${soaked}`, 'resume=true'], { signal: 'SIGKILL', runDir, ...stop });
    if (r.signal === 'SIGKILL') {
      killedAt.push(r.sentAt ?? 0);
      say(`kill ${k + 1}/${o.kills}: SIGKILL ${when} (it had logged iteration ${r.sentAt})`);
    } else if (r.code === 0) {
      say(`kill ${k + 1}/${o.kills}: the run finished before its kill (${when})`);
      break;
    } else {
      throw new Error(`soak: a resumed run failed (exit ${r.code}): ${r.stderr}`);
    }
  }
  const last = await runCli(['train', config, `name=${soaked}`, 'resume=true']);
  if (last.code !== 0) throw new Error(`soak: the final resume failed (exit ${last.code}): ${last.stderr}`);
  const diffs = compareRuns(join(runsDir, straight), runDir);
  return { kills: killedAt.length, killedAt, straightSeconds, diffs };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string, dflt: string): string => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : dflt;
  };
  const work = mkdtempSync(join(tmpdir(), 'ladet-soak-'));
  const strategy = arg('strategy', 'self') as Strategy;
  const r = await soak({
    kills: Number(arg('kills', '20')),
    seed: Number(arg('seed', '1')),
    epochs: Number(arg('epochs', '4')),
    strategy,
    work,
  });
  console.log(
    `${r.kills} kills at iterations [${r.killedAt.join(', ')}]; ${r.diffs.length === 0 ? 'final weights, optimizer state, metrics.csv and evaluation equal the uninterrupted run' : `DIFFERENCES:\n${r.diffs.join('\n')}`}`,
  );
  if (!args.includes('--keep')) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
  process.exitCode = r.diffs.length === 0 ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
