// A run directory as the trainer leaves it after some epochs, written with the trainer's own log writers, for the
// repro tests that decide what to do with a run without training it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JsonlLog, MetricsCsv } from '../../src/engine/metrics_log.js';
import type { Job } from '../../src/repro/plan.js';
import type { ResultRecord } from '../../src/repro/record.js';

/** A result record of `job` as repro writes it, AP `ap` and the other metrics fixed; `extra` replaces fields. */
export function fakeRecord(job: Job, ap: number, extra: Partial<ResultRecord> = {}): ResultRecord {
  return {
    format: 'ladet-repro-result',
    version: 1,
    table: job.study,
    row: job.row.id,
    label: job.row.label,
    seed: job.seed,
    config: job.configPath,
    overrides: job.overrides,
    runDir: job.runDir,
    configHash: job.hash,
    runConfigHash: job.hash,
    gitCommit: 'abcdef0123456789abcdef0123456789abcdef01',
    gitDirty: false,
    trainedByRepro: true,
    epochs: job.config.schedule.epochs,
    metrics: { AP: ap, AP50: 0.5, AP75: 0.4, APs: 0.2, APm: 0.3, APl: -1 },
    trainSeconds: 100 * job.config.schedule.epochs,
    finished: '2026-01-01T00:00:00.000Z',
    recorded: '2026-01-01T00:00:00.000Z',
    ...extra,
  };
}

/**
 * Writes what the trainer leaves in a run directory after `done` epochs (AP of epoch e = e / 10). `fresh: false`
 * appends a resumed segment that trains epochs `from`..`done` (default from 1); `code`: the start event's code;
 * `start`: more fields of the start event (the trainer's precision, a teacher's info).
 */
export function fakeRun(
  dir: string,
  hash: string,
  done: number,
  opts: { fresh?: boolean; from?: number; epochSeconds?: number; code?: object; start?: Record<string, unknown> } = {},
): void {
  mkdirSync(join(dir, 'eval'), { recursive: true });
  const log = new JsonlLog(dir);
  log.write('start', {
    config: 'x',
    hash,
    resume: opts.fresh === false,
    ...(opts.code ? { code: opts.code } : {}),
    ...opts.start,
  });
  const csv = new MetricsCsv(dir, opts.fresh === false);
  for (let e = opts.from ?? 1; e <= done; e++) {
    const stats = { AP: e / 10, AP50: e / 10 + 0.1, AP75: e / 10 - 0.05, APs: 0.1, APm: 0.2, APl: -1, AR1: 0.3 };
    if (e % 2 === 0)
      writeFileSync(join(dir, 'eval', `epoch_${e}.json`), JSON.stringify({ epoch: e, stats, perClassAP: [] }));
    const row = {
      epoch: e,
      time: (opts.epochSeconds ?? 100) + e,
      'train/loss_cls': 0.5,
      ...(e % 2 === 0 ? { 'val/AP': stats.AP } : {}),
    };
    csv.add(row);
    log.write('epoch', row);
  }
}
