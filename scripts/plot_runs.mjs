#!/usr/bin/env node
// Plots one metrics.csv column of several runs: node scripts/plot_runs.mjs OUT.png COLUMN RUN_DIR[=LABEL] ...
import { readFileSync } from 'node:fs';
import { join, basename } from 'node:path';
import { parseMetricsCsv } from '../dist/src/engine/metrics_log.js';
import { chartPng } from '../dist/src/engine/plot.js';
import { writeFileAtomic } from '../dist/src/io/atomic.js';

const [out, column, ...runs] = process.argv.slice(2);
if (!out || !column || runs.length === 0) {
  console.error('usage: node scripts/plot_runs.mjs OUT.png COLUMN RUN_DIR[=LABEL] ...');
  process.exit(2);
}
const series = runs.map((r) => {
  const [dir, label] = r.split('=');
  const rows = parseMetricsCsv(readFileSync(join(dir, 'metrics.csv'), 'utf8'));
  return {
    name: label ?? basename(dir),
    points: rows.filter((x) => typeof x[column] === 'number').map((x) => [x.epoch, x[column]]),
  };
});
writeFileAtomic(out, await chartPng(series, { title: `${column} by epoch`, xLabel: 'epoch', yLabel: column }));
console.log(`wrote ${out}`);
