// The run directory layout (DESIGN.md §5).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface RunPaths {
  dir: string;
  config: string;
  weights: string;
  last: string;
  best: string;
  evalDir: string;
}

export function runPaths(runsDir: string, name: string): RunPaths {
  const dir = join(runsDir, name);
  return {
    dir,
    config: join(dir, 'config.yaml'),
    weights: join(dir, 'weights'),
    last: join(dir, 'weights', 'last.safetensors'),
    best: join(dir, 'weights', 'best.safetensors'),
    evalDir: join(dir, 'eval'),
  };
}

export function makeRunDir(p: RunPaths): void {
  for (const d of [p.dir, p.weights, p.evalDir]) mkdirSync(d, { recursive: true });
}

/** The weights a run directory offers to readers (a teacher, `ladet test`): weights/best.safetensors, else
 * weights/last.safetensors; null when it has neither. */
export function runWeights(runDir: string): string | null {
  for (const f of ['best.safetensors', 'last.safetensors']) {
    const p = join(runDir, 'weights', f);
    if (existsSync(p)) return p;
  }
  return null;
}
