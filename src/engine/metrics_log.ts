// Run logs: `metrics.csv` (one row per epoch: epoch,time,train/…,val/…) and `log.jsonl` (one JSON object per
// event: iteration losses, epoch summaries, skipped images, warnings). The CSV is rewritten atomically each
// epoch so a crash never leaves a half-written row; the JSONL is append-only, one complete line per write.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';

export type Row = Record<string, number | string | null>;

function csvCell(v: number | string | null | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(6);
  return /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** Parses a CSV written by MetricsCsv (numbers become numbers, empty cells null). */
export function parseMetricsCsv(text: string): Row[] {
  const lines = text.trim().split('\n');
  if (lines.length === 0 || lines[0] === '') return [];
  const header = (lines[0] as string).split(',');
  return lines.slice(1).map((line) => {
    const cells = line.split(',');
    const row: Row = {};
    header.forEach((h, i) => {
      const c = cells[i] ?? '';
      row[h] = c === '' ? null : Number.isNaN(Number(c)) ? c : Number(c);
    });
    return row;
  });
}

export class MetricsCsv {
  readonly path: string;
  readonly rows: Row[];

  constructor(dir: string, resume = false) {
    this.path = join(dir, 'metrics.csv');
    this.rows = resume && existsSync(this.path) ? parseMetricsCsv(readFileSync(this.path, 'utf8')) : [];
  }

  /** Adds (or, for a resumed epoch, replaces) the row of an epoch and rewrites the file. */
  add(row: Row): void {
    const i = this.rows.findIndex((r) => r.epoch === row.epoch);
    if (i >= 0) this.rows[i] = row;
    else this.rows.push(row);
    const cols = ['epoch', 'time'];
    for (const r of this.rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
    const body = this.rows.map((r) => cols.map((c) => csvCell(r[c])).join(','));
    writeFileAtomic(this.path, `${cols.join(',')}\n${body.join('\n')}\n`);
  }
}

export class JsonlLog {
  readonly path: string;

  constructor(dir: string) {
    this.path = join(dir, 'log.jsonl');
  }

  write(event: string, data: Record<string, unknown>): void {
    appendFileSync(this.path, `${JSON.stringify({ time: new Date().toISOString(), event, ...data })}\n`);
  }
}
