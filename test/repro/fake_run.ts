// A run directory as the trainer leaves it after some epochs, written with the trainer's own log writers, for the
// repro tests that decide what to do with a run without training it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JsonlLog, MetricsCsv } from '../../src/engine/metrics_log.js';

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
