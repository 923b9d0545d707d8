// The numbers behind a gain figure (studies.ts GainFigure): for each point, the teacher gap (the teacher row's AP minus
// the baseline's mean AP) and the row's AP gain over the baseline with the seed spread summary.ts judges by (the two
// rows' sample standard deviations summed). Pure; figure.ts draws them, and the markdown table beside the figure
// lists them.
import type { GainFigure } from './studies.js';
import type { RowSummary, StudySummary } from './summary.js';
import { signed } from './table.js';

export interface GainValue {
  series: string;
  row: string;
  teacher: string;
  /** teacher mean AP - baseline mean AP (fractions); null while either has no record */
  gap: number | null;
  /** row mean AP - baseline mean AP; null while either has no record */
  gain: number | null;
  /** row std + baseline std when both have at least 2 seeds (judge's spread), else null */
  spread: number | null;
  /** seeds behind the row's mean and the baseline's */
  seeds: { row: number; baseline: number };
}

export interface GainPanelValues {
  title: string;
  points: GainValue[];
}

/** The values of every point of `fig`, panel by panel, from the study's summary. */
export function gainValues(s: StudySummary, fig: GainFigure): GainPanelValues[] {
  const byId = (id: string): RowSummary => {
    const r = s.rows.find((x) => x.row.id === id);
    if (!r) throw new Error(`study ${s.study.name}: figure ${fig.file} names unknown row ${id}`);
    return r;
  };
  return fig.panels.map((p) => ({
    title: p.title,
    points: p.points.map((pt): GainValue => {
      if (!fig.series.some((x) => x.key === pt.series))
        throw new Error(`study ${s.study.name}: figure ${fig.file} names unknown series ${pt.series}`);
      const row = byId(pt.row).AP;
      const base = byId(pt.baseline).AP;
      const teacher = byId(pt.teacher).AP;
      return {
        series: pt.series,
        row: pt.row,
        teacher: pt.teacher,
        gap: teacher && base ? teacher.mean - base.mean : null,
        gain: row && base ? row.mean - base.mean : null,
        spread: row && base && row.n >= 2 && base.n >= 2 ? row.std + base.std : null,
        seeds: { row: row?.n ?? 0, baseline: base?.n ?? 0 },
      };
    }),
  }));
}

const DASH = '—';
const pts = (x: number): string => (x * 100).toFixed(1);
const signedPts = (x: number): string => signed(x * 100);

/** A gain as the table shows it: "+1.4 ± 0.7" (the spread), "+1.4 (one seed)" without a spread, — without data. */
export function formatGain(v: GainValue): string {
  if (v.gain === null) return DASH;
  if (v.spread === null) return `${signedPts(v.gain)} (one seed)`;
  return `${signedPts(v.gain)} ± ${pts(v.spread)}`;
}

/**
 * The figure's numbers as a markdown table: one line per panel and teacher (the points that share a gap), the
 * teacher's and the baseline's AP, the gap, and each series' gain over the baseline.
 */
export function renderGainTable(s: StudySummary, fig: GainFigure): string[] {
  const ap = (id: string): string => {
    const r = s.rows.find((x) => x.row.id === id);
    if (!r?.AP) return DASH;
    return r.AP.n > 1 ? `${pts(r.AP.mean)} ± ${pts(r.AP.std)}` : pts(r.AP.mean);
  };
  const lines = [
    `| schedule | teacher | teacher AP | ${fig.baseline} AP | gap | ${fig.series.map((x) => `${x.label} − ${fig.baseline}`).join(' | ')} |`,
    `|---|---|---:|---:|---:|${fig.series.map(() => '---:').join('|')}|`,
  ];
  const values = gainValues(s, fig);
  fig.panels.forEach((p, i) => {
    const panel = values[i] as GainPanelValues;
    const teachers = [...new Set(p.points.map((x) => x.teacher))];
    for (const t of teachers) {
      const here = p.points
        .map((x, k) => ({ def: x, v: panel.points[k] as GainValue }))
        .filter((x) => x.def.teacher === t);
      const first = here[0] as (typeof here)[number];
      const gap = first.v.gap;
      const label = s.rows.find((x) => x.row.id === t)?.row.short ?? t;
      const cells = fig.series.map((sr) => {
        const at = here.find((x) => x.def.series === sr.key);
        return at ? formatGain(at.v) : DASH;
      });
      lines.push(
        `| ${p.title} | ${label} | ${ap(t)} | ${ap(first.def.baseline)} | ${gap === null ? DASH : signedPts(gap)} | ${cells.join(' | ')} |`,
      );
    }
  });
  return lines;
}
