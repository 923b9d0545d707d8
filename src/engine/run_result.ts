// What a finished run scored, read back from the files the trainer wrote (no libtorch): the final epoch's headline
// COCO metrics (eval/epoch_<E>.json) and its training time (the sum of metrics.csv's epoch times: evaluation
// excluded; an epoch interrupted and resumed counts only its resumed part). Used by `ladet demo` and `ladet repro`
// to report runs they may not have trained in this process.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseMetricsCsv } from './metrics_log.js';

/** The COCO metrics a run is reported by (tables, the demo's report). */
export const METRIC_KEYS = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl'] as const;
export type MetricKey = (typeof METRIC_KEYS)[number];

export interface RunResult {
  /** the final epoch's evaluation */
  metrics: Record<MetricKey, number>;
  trainSeconds: number;
  /** mtime of the final epoch's eval JSON, ISO */
  finished: string;
}

/** The headline metrics out of a COCO stats object (an eval or test summary JSON's `stats`); `file` names it in errors. */
export function metricsOf(stats: Readonly<Record<string, unknown>>, file: string): Record<MetricKey, number> {
  const metrics = {} as Record<MetricKey, number>;
  for (const k of METRIC_KEYS) {
    const v = stats[k];
    if (typeof v !== 'number') throw new Error(`${file}: stats.${k} missing or not a number`);
    metrics[k] = v;
  }
  return metrics;
}

/** The result of `runDir` after `epochs` epochs; throws naming the file when one is missing or damaged. */
export function readRunResult(runDir: string, epochs: number): RunResult {
  const evalPath = join(runDir, 'eval', `epoch_${epochs}.json`);
  if (!existsSync(evalPath)) {
    throw new Error(`${runDir}: finished ${epochs} epochs but has no eval/epoch_${epochs}.json (was eval.every 0?)`);
  }
  let stats: Record<string, unknown>;
  try {
    const raw = JSON.parse(readFileSync(evalPath, 'utf8')) as { stats?: Record<string, unknown> };
    stats = raw.stats ?? {};
  } catch (e) {
    throw new Error(`${evalPath}: not JSON (${(e as Error).message})`, { cause: e });
  }
  const metrics = metricsOf(stats, evalPath);

  const csvPath = join(runDir, 'metrics.csv');
  if (!existsSync(csvPath)) throw new Error(`${runDir}: finished but has no metrics.csv`);
  const rows = parseMetricsCsv(readFileSync(csvPath, 'utf8'));
  let trainSeconds = 0;
  for (let e = 1; e <= epochs; e++) {
    const row = rows.filter((r) => r.epoch === e).pop();
    if (!row || typeof row.time !== 'number') throw new Error(`${csvPath}: no time for epoch ${e}`);
    trainSeconds += row.time;
  }
  return { metrics, trainSeconds, finished: statSync(evalPath).mtime.toISOString() };
}
