// What a finished run scored, read back from the files the trainer wrote (no libtorch): the final epoch's COCO
// stats (eval/epoch_<E>.json) and its training time (the sum of metrics.csv's epoch times: evaluation excluded; an
// epoch interrupted and resumed counts only its resumed part). Used by `ladet demo` and `ladet repro` to report runs they may not have
// trained in this process.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseMetricsCsv } from './metrics_log.js';

export interface RunResult {
  /** the named COCO stats of the final epoch's evaluation (AP, AP50, ...) */
  stats: Record<string, number>;
  trainSeconds: number;
  /** mtime of the final epoch's eval JSON, ISO */
  finished: string;
}

/** The result of `runDir` after `epochs` epochs; throws naming the file when one is missing or damaged. */
export function readRunResult(runDir: string, epochs: number): RunResult {
  const evalPath = join(runDir, 'eval', `epoch_${epochs}.json`);
  if (!existsSync(evalPath)) {
    throw new Error(`${runDir}: finished ${epochs} epochs but has no eval/epoch_${epochs}.json (was eval.every 0?)`);
  }
  let raw: { stats?: unknown };
  try {
    raw = JSON.parse(readFileSync(evalPath, 'utf8')) as { stats?: unknown };
  } catch (e) {
    throw new Error(`${evalPath}: not JSON (${(e as Error).message})`);
  }
  if (raw.stats === null || typeof raw.stats !== 'object') throw new Error(`${evalPath}: no stats object`);
  const stats: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw.stats as Record<string, unknown>)) if (typeof v === 'number') stats[k] = v;

  const csvPath = join(runDir, 'metrics.csv');
  if (!existsSync(csvPath)) throw new Error(`${runDir}: finished but has no metrics.csv`);
  const rows = parseMetricsCsv(readFileSync(csvPath, 'utf8'));
  let trainSeconds = 0;
  for (let e = 1; e <= epochs; e++) {
    const row = rows.filter((r) => r.epoch === e).pop();
    if (!row || typeof row.time !== 'number') throw new Error(`${csvPath}: no time for epoch ${e}`);
    trainSeconds += row.time;
  }
  return { stats, trainSeconds, finished: statSync(evalPath).mtime.toISOString() };
}
