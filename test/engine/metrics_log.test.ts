import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonlLog, MetricsCsv, parseMetricsCsv } from '../../src/engine/metrics_log.js';

test('metrics.csv gains columns as they appear, replaces a resumed epoch, and parses back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-csv-'));
  const m = new MetricsCsv(dir);
  m.add({ epoch: 1, time: 10.5, 'train/loss': 1.25 });
  m.add({ epoch: 2, time: 20, 'train/loss': 0.75, 'val/bbox_mAP': 0.125 });
  assert.equal(
    readFileSync(m.path, 'utf8'),
    'epoch,time,train/loss,val/bbox_mAP\n1,10.5000,1.25000,\n2,20,0.750000,0.125000\n',
  );
  const resumed = new MetricsCsv(dir, true);
  assert.equal(resumed.rows.length, 2);
  resumed.add({ epoch: 2, time: 21, 'train/loss': 0.5, 'val/bbox_mAP': 0.25 });
  const rows = parseMetricsCsv(readFileSync(m.path, 'utf8'));
  assert.deepEqual(rows, [
    { epoch: 1, time: 10.5, 'train/loss': 1.25, 'val/bbox_mAP': null },
    { epoch: 2, time: 21, 'train/loss': 0.5, 'val/bbox_mAP': 0.25 },
  ]);
});

test('log.jsonl appends one parseable object per event', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-jsonl-'));
  const log = new JsonlLog(dir);
  log.write('iter', { iter: 1, loss: 0.5 });
  log.write('skip', { file: 'a.png', reason: 'corrupt' });
  const lines = readFileSync(log.path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  assert.equal(lines[0]!.event, 'iter');
  assert.equal(lines[1]!.file, 'a.png');
});
