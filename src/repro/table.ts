// Renders a study summary as markdown: one row per table row (mean ± std over seeds and the paper's COCO AP
// beside it), the study's side-by-side grid if any, the orderings with their verdicts, and where the numbers came
// from. Pure and deterministic (no dates), so regenerating from the same result files gives the same text.
import type { ResultRecord } from './record.js';
import type { ClaimSummary, RowSummary, Stat, StudySummary, Verdict } from './summary.js';
import type { ClaimGrid, Grid } from './studies.js';

export interface TableSources {
  /** the folder the result files were read from, as shown in the text */
  dir: string;
  records: readonly ResultRecord[];
  /** extra lines (e.g. result files left out because their config changed) */
  notes: readonly string[];
}

const DASH = '—';

function pct(x: number): string {
  return (x * 100).toFixed(1);
}

/**
 * An AP difference (×100) with its sign, one decimal; two where one decimal would show a nonzero difference as 0.0
 * and hide which way it goes (+0.04, -0.03).
 */
export function signed(x: number): string {
  const s = x.toFixed(x !== 0 && Math.abs(x) < 0.05 ? 2 : 1);
  return Number(s) > 0 ? `+${s}` : Number(s) === 0 ? s.replace('-', '') : s;
}

export function formatStat(s: Stat | null, n: number): string {
  if (!s) return DASH;
  return n > 1 ? `${pct(s.mean)} ± ${pct(s.std)}` : pct(s.mean);
}

function seedsCell(r: RowSummary): string {
  const n = `${r.seeds.length}/${r.expected.length}`;
  return r.seeds.length < r.expected.length ? `${n} (incomplete)` : n;
}

function rowLine(r: RowSummary): string {
  const n = r.seeds.length;
  const minutes = r.trainSeconds ? (r.trainSeconds.mean / 60).toFixed(1) : DASH;
  const paper = r.row.paperAP === null ? DASH : r.row.paperAP.toFixed(1);
  const preset = `\`${r.row.config}\`${r.row.overrides ? ' + overrides' : ''}`;
  return `| ${r.row.label} | ${preset} | ${seedsCell(r)} | ${formatStat(r.AP, n)} | ${formatStat(r.AP50, n)} | ${formatStat(r.AP75, n)} | ${paper} | ${minutes} |`;
}

/** For a study whose rows change their presets (StudyRow.overrides): which keys they set, and where to read them. */
function overridesLine(s: StudySummary): string[] {
  const keys = [...new Set(s.study.rows.flatMap((r) => Object.keys(r.overrides ?? {})))];
  if (keys.length === 0) return [];
  return [
    `"+ overrides": the row changes its preset with \`key=value\` overrides (${keys.map((k) => `\`${k}\``).join(', ')}; each row's in \`src/repro/studies.ts\`, and every result file lists them under \`overrides\`).`,
  ];
}

function claimLine(c: ClaimSummary, rows: readonly RowSummary[]): string {
  const facts: string[] = [];
  if (c.diff !== null && c.spread !== null)
    facts.push(`${signed(c.diff * 100)} AP, seed spread ${(c.spread * 100).toFixed(1)}`);
  else if (c.diff !== null) facts.push(`${signed(c.diff * 100)} AP, one seed: no spread yet`);
  facts.push(c.paperDiff === null ? 'paper: no number' : `paper ${signed(c.paperDiff)}`);
  let line = `- ${c.claim.text}: **${c.verdict}** (${facts.join('; ')})`;
  if (c.incomplete) {
    const short = [c.claim.better, c.claim.worse]
      .map((id) => rows.find((r) => r.row.id === id) as RowSummary)
      .filter((r) => r.seeds.length < r.expected.length)
      .map((r) => `${r.row.short} ${r.seeds.length}/${r.expected.length} seeds`);
    line += `, incomplete: ${short.join(', ')}`;
  }
  return line;
}

/** A grid's markdown: title, header and one line per row head, each cell from `cell` (a row id or a claim text). */
function gridMarkdown(g: Grid, cell: (key: string) => string): string[] {
  return [
    `**${g.title}**`,
    '',
    `| ${g.corner} | ${g.colHeads.join(' | ')} |`,
    `|---|${g.colHeads.map(() => '---:').join('|')}|`,
    ...g.rowHeads.map((h, i) => `| ${h} | ${(g.cells[i] ?? []).map(cell).join(' | ')} |`),
    '',
  ];
}

function gridLines(s: StudySummary, g: Grid): string[] {
  return gridMarkdown(g, (id) => {
    const r = s.rows.find((x) => x.row.id === id);
    if (!r) throw new Error(`study ${s.study.name}: the grid names unknown row ${id}`);
    return formatStat(r.AP, r.seeds.length);
  });
}

/** A claim as a map cell: the verdict in a word and the mean AP difference; † where seeds are missing. */
function claimCell(c: ClaimSummary): string {
  if (c.diff === null) return DASH;
  const d = signed(c.diff * 100);
  const word: Record<Exclude<Verdict, 'no data'>, string> = {
    holds: `**holds** ${d}`,
    'holds within noise': `noise ${d}`,
    'behind within noise': `noise ${d}`,
    reversed: `**reversed** ${d}`,
    'ahead at one seed': `${d} (1 seed)`,
    'behind at one seed': `${d} (1 seed)`,
  };
  const one = c.verdict === 'ahead at one seed' || c.verdict === 'behind at one seed';
  return `${word[c.verdict as Exclude<Verdict, 'no data'>]}${c.incomplete && !one ? ' †' : ''}`;
}

function claimGridLines(s: StudySummary, g: ClaimGrid): string[] {
  return [
    ...gridMarkdown(g, (text) => {
      const c = s.claims.find((x) => x.claim.text === text);
      if (!c) throw new Error(`study ${s.study.name}: the claim map names unknown claim '${text}'`);
      return claimCell(c);
    }),
    "holds / reversed: beyond the two rows' seed standard deviations summed; noise: within them; (1 seed): no spread yet; †: some seeds still missing; —: no data.",
    '',
  ];
}

function sourcesLine(src: TableSources): string {
  const counts = new Map<string, number>();
  for (const r of src.records) {
    const key = r.gitCommit === null ? 'no git' : `${r.gitCommit.slice(0, 7)}${r.gitDirty ? ' (dirty)' : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const commits = [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ');
  const files = `${src.records.length} result file${src.records.length === 1 ? '' : 's'} in \`${src.dir}\``;
  return `Sources: ${files}${commits ? `; git commits ${commits}` : ''}.`;
}

/**
 * The table's markdown without a heading (what goes between the markers of docs/paper-study.md); `extra`: lines
 * after the grids (a study's figures and their numbers, its own cost).
 */
export function renderBody(s: StudySummary, src: TableSources, extra: readonly string[] = []): string {
  const lines = [
    `Here: ${s.study.setting}. Paper: ${s.study.paper}.`,
    '',
    '| row | preset | seeds | AP | AP50 | AP75 | paper AP (COCO) | train min/run |',
    '|---|---|---|---:|---:|---:|---:|---:|',
    ...s.rows.map(rowLine),
    '',
    ...(s.study.grids ?? []).flatMap((g) => gridLines(s, g)),
    ...extra,
    ...(s.study.claimGrids ?? []).flatMap((g) => claimGridLines(s, g)),
    'Orderings (holds: the mean AP difference exceeds the two rows\' seed standard deviations summed; reversed: it is below minus that sum; otherwise within noise; with one seed in a row there is no spread yet, so a difference is only "ahead / behind at one seed"):',
    '',
    ...s.claims.map((c) => claimLine(c, s.rows)),
    '',
    'AP, AP50, AP75: COCO bbox AP × 100 on the val split at the final epoch, mean ± sample standard deviation over seeds.',
    ...overridesLine(s),
    sourcesLine(src),
    ...src.notes.map((n) => `- ${n}`),
  ];
  return lines.join('\n');
}

/** The whole markdown file of a study: heading, then the body. */
export function renderTable(s: StudySummary, src: TableSources, extra: readonly string[] = []): string {
  return `# ${s.study.title}\n\n${renderBody(s, src, extra)}\n`;
}
