// A study's markdown from its result files: reads the record of every row × seed (leaving out, with a note, those
// recorded under another config hash than the presets give now), summarises and writes `<results>/<table>.md`.
import { readFileSync } from 'node:fs';
import { join, relative, isAbsolute } from 'node:path';
import type { Overrides } from '../config/overrides.js';
import { Outputs } from '../io/outputs.js';
import type { Job } from './plan.js';
import { readRecordIfAny, type ResultRecord } from './record.js';
import type { Study } from './studies.js';
import { summarize, type StudySummary } from './summary.js';
import { renderBody, renderTable, type TableSources } from './table.js';

export interface StudyReport {
  summary: StudySummary;
  sources: TableSources;
  /** the markdown file's text (heading + body) */
  markdown: string;
  /** the body alone, for the sections between markers in docs/paper-study.md */
  body: string;
}

/**
 * Reads the records of `jobs` (one per row × seed of the whole study) and renders them. `overrides` are the
 * command line's config overrides: the text says so when the runs are not the presets as committed.
 */
export function buildReport(
  study: Study,
  jobs: readonly Job[],
  resultsDir: string,
  overrides: Overrides = {},
): StudyReport {
  const records: ResultRecord[] = [];
  const notes: string[] = [];
  const given = Object.entries(overrides).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  if (given.length) notes.push(`every run had the config overrides ${given.join(' ')} (not the presets as committed)`);
  for (const j of jobs) {
    const rec = readRecordIfAny(j.resultPath);
    if (!rec) continue;
    if (rec.table !== study.name || rec.row !== j.row.id || rec.seed !== j.seed) {
      throw new Error(
        `${j.resultPath}: records ${rec.table} ${rec.row} seed ${rec.seed}, not ${study.name} ${j.row.id} seed ${j.seed}`,
      );
    }
    if (rec.configHash !== j.hash) {
      notes.push(
        `left out \`${shown(j.resultPath)}\`: recorded for config hash ${rec.configHash.slice(0, 12)}…, ${j.configPath} now gives ${j.hash.slice(0, 12)}… (rerun \`ladet repro ${study.name}\`)`,
      );
      continue;
    }
    records.push(rec);
  }
  const expected = new Map<string, number[]>();
  for (const j of jobs) expected.set(j.row.id, [...(expected.get(j.row.id) ?? []), j.seed]);
  const summary = summarize(study, records, (row) => expected.get(row.id) ?? []);
  const sources: TableSources = { dir: shown(join(resultsDir, study.name)) + '/', records, notes };
  return { summary, sources, markdown: renderTable(summary, sources), body: renderBody(summary, sources) };
}

/** Writes `<resultsDir>/<table>.md`; returns its path. */
export function writeReport(study: Study, report: StudyReport, resultsDir: string): string {
  const path = join(resultsDir, `${study.name}.md`);
  // replaces an earlier report of this study (same heading), never another file
  writeMarkdownOutput(path, report.markdown);
  return path;
}

/** Writes a generated markdown file over an earlier one whose first line starts with `heading` (default: this
 * file's whole first line), or a new one. */
export function writeMarkdownOutput(
  path: string,
  markdown: string,
  heading = markdown.split('\n', 1)[0] as string,
): void {
  const outputs = new Outputs({
    command: 'ladet repro',
    owns: (p) => (readFileSync(p, 'utf8').split('\n', 1)[0] as string).startsWith(heading),
  });
  outputs.write(path, markdown);
  outputs.flush();
}

/** Paths inside the working directory are shown relative to it (stable text across checkouts). */
function shown(p: string): string {
  if (!isAbsolute(p)) return p;
  const r = relative(process.cwd(), p);
  return r.startsWith('..') ? p : r;
}
