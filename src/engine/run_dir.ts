// The run directory layout (DESIGN.md §5), and what a start may do to an existing one: a run directory has one
// owner (the run lock), stays inside runsDir, and a fresh start never replaces a run's files unless asked to.
import { existsSync, mkdirSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { resolveInside } from '../io/paths.js';

export interface RunPaths {
  dir: string;
  config: string;
  weights: string;
  last: string;
  best: string;
  evalDir: string;
  metrics: string;
  log: string;
}

/** The paths of run `name` under `runsDir`; throws when the name would lead outside it (`..`, a symlink). */
export function runPaths(runsDir: string, name: string): RunPaths {
  if (name === '.' || name === '')
    throw new Error(`run name ${JSON.stringify(name)} names ${runsDir} itself; a run needs its own folder inside it`);
  resolveInside(runsDir, name, 'run name');
  const dir = join(runsDir, name); // as the user wrote runsDir: messages show their paths
  return {
    dir,
    config: join(dir, 'config.yaml'),
    weights: join(dir, 'weights'),
    last: join(dir, 'weights', 'last.safetensors'),
    best: join(dir, 'weights', 'best.safetensors'),
    evalDir: join(dir, 'eval'),
    metrics: join(dir, 'metrics.csv'),
    log: join(dir, 'log.jsonl'),
  };
}

export function makeRunDir(p: RunPaths): void {
  for (const d of [p.dir, p.weights, p.evalDir]) mkdirSync(d, { recursive: true });
}

const TB_EVENTS = /^events\.out\.tfevents\./;

/** The files of an earlier run in `p` (relative names), empty when there is none to lose. */
export function runContents(p: RunPaths): string[] {
  const found: string[] = [];
  for (const f of [p.config, p.metrics, p.log, p.last, p.best])
    if (existsSync(f)) found.push(f.slice(p.dir.length + 1));
  if (existsSync(p.dir)) for (const f of readdirSync(p.dir)) if (TB_EVENTS.test(f)) found.push(f);
  return found;
}

/** Removes what a run writes (overwrite=true): its config, logs, TensorBoard events, weights/ and eval/. Other
 * files a user keeps in the folder stay. Only called under the run lock. */
export function clearRun(p: RunPaths): void {
  for (const f of [p.config, p.metrics, p.log]) rmSync(f, { force: true });
  if (existsSync(p.dir)) for (const f of readdirSync(p.dir)) if (TB_EVENTS.test(f)) unlinkSync(join(p.dir, f));
  rmSync(p.weights, { recursive: true, force: true });
  rmSync(p.evalDir, { recursive: true, force: true });
}

/** writeFileAtomic's temp names (`.<name>.<pid>.<ms>.tmp`) */
const ATOMIC_TMP = /^\..+\.\d+\.\d+\.tmp$/;

/** Removes temp files an interrupted atomic write left in the run (only under the run lock); returns their names. */
export function removeStaleTemps(p: RunPaths): string[] {
  const removed: string[] = [];
  for (const d of [p.dir, p.weights, p.evalDir]) {
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) {
      if (!ATOMIC_TMP.test(f)) continue;
      unlinkSync(join(d, f));
      removed.push(join(d, f).slice(p.dir.length + 1));
    }
  }
  return removed;
}
