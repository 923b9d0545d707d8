// A study's markdown from its result files: reads the record of every row × seed (leaving out, with a note, those
// recorded under another config hash than the presets give now), summarises and writes `<results>/<table>.md`, and
// beside it the study's gain figures as `<results>/<figure>.svg`.
import { readFileSync } from 'node:fs';
import { dirname, join, relative, isAbsolute, sep } from 'node:path';
import type { Overrides } from '../config/overrides.js';
import { Outputs } from '../io/outputs.js';
import type { Job } from './plan.js';
import { readRecordIfAny, type ResultRecord } from './record.js';
import type { Study } from './studies.js';
import { summarize, type StudySummary } from './summary.js';
import { renderBody, renderTable, type TableSources } from './table.js';
import { gainValues, renderGainTable } from './gains.js';
import { renderGainSvg, SVG_MARK } from './figure.js';

export interface StudyReport {
  summary: StudySummary;
  sources: TableSources;
  /** the markdown file's text (heading + body) */
  markdown: string;
  /** the body alone, as seen from the results folder (figure links relative to it) */
  body: string;
  /** the body for a markdown file elsewhere (the sections between markers in docs/paper-study.md): its figure links
   * relative to that file's folder */
  bodyAt: (markdownFile: string) => string;
  /** the study's figures: where each SVG goes and its text */
  figures: { path: string; svg: string }[];
}

export interface ReportExtras {
  /** the study's own cost section (Study.ownCost), rendered by the caller, which sees every study's records */
  cost?: string;
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
  extras: ReportExtras = {},
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
    const off = precisionNote(study, rec);
    if (off) notes.push(`\`${shown(j.resultPath)}\` ${off}`);
    records.push(rec);
  }
  const expected = new Map<string, number[]>();
  for (const j of jobs) expected.set(j.row.id, [...(expected.get(j.row.id) ?? []), j.seed]);
  const summary = summarize(study, records, (row) => expected.get(row.id) ?? []);
  const sources: TableSources = { dir: shown(join(resultsDir, study.name)) + '/', records, notes };
  const figures = (study.figures ?? []).map((fig) => ({
    fig,
    path: join(resultsDir, `${fig.file}.svg`),
    svg: renderGainSvg(fig, gainValues(summary, fig)),
  }));
  // the figures with their numbers, then the study's own cost, after the grids; links relative to `dir`
  const extra = (dir: string): string[] => [
    ...figures.flatMap(({ fig, path }) => [
      `**${fig.title}**`,
      '',
      `![${fig.title}](${link(dir, path)})`,
      '',
      ...renderGainTable(summary, fig),
      '',
    ]),
    ...(extras.cost ? ['**Cost**', '', extras.cost, ''] : []),
  ];
  const body = renderBody(summary, sources, extra(resultsDir));
  return {
    summary,
    sources,
    markdown: renderTable(summary, sources, extra(resultsDir)),
    body,
    bodyAt: (file) => renderBody(summary, sources, extra(dirname(file))),
    figures: figures.map(({ path, svg }) => ({ path, svg })),
  };
}

/** Why a record's precision is not the study's (Study.precision), or null. */
function precisionNote(study: Study, rec: ResultRecord): string | null {
  if (!study.precision) return null;
  if (!rec.precision)
    return `does not say which precision it trained in (recorded before records did), not ${study.precision}`;
  if (rec.precision.length === 1 && rec.precision[0] === study.precision) return null;
  return `trained in ${rec.precision.join(', then ')}, not ${study.precision} throughout`;
}

/** A markdown link from a file in `fromDir` to `target` (forward slashes, as markdown wants). */
function link(fromDir: string, target: string): string {
  return relative(fromDir, target).split(sep).join('/');
}

/** Writes `<resultsDir>/<table>.md` and the study's figures; returns their paths, the markdown first. */
export function writeReport(study: Study, report: StudyReport, resultsDir: string): string[] {
  const path = join(resultsDir, `${study.name}.md`);
  // replaces an earlier report of this study (same heading), never another file
  writeMarkdownOutput(path, report.markdown);
  const outputs = new Outputs({ command: 'ladet repro', owns: (p) => readFileSync(p, 'utf8').includes(SVG_MARK) });
  for (const f of report.figures) outputs.write(f.path, f.svg);
  outputs.flush();
  return [path, ...report.figures.map((f) => f.path)];
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
