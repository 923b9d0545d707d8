// Pure statistics of a study's results: per row the mean and sample standard deviation over seeds, and for each of
// the paper's orderings a verdict against the seed spread. No files, no formatting (table.ts renders).
import type { ResultRecord } from './record.js';
import type { Claim, Study, StudyRow } from './studies.js';

export interface Stat {
  mean: number;
  /** sample standard deviation (n - 1); 0 for a single seed */
  std: number;
  /** number of seeds */
  n: number;
}

export interface RowSummary {
  row: StudyRow;
  /** seeds that have a result, ascending */
  seeds: number[];
  /** seeds expected for this row */
  expected: readonly number[];
  AP: Stat | null;
  AP50: Stat | null;
  AP75: Stat | null;
  trainSeconds: Stat | null;
}

export type Verdict =
  | 'holds'
  | 'holds within noise'
  | 'behind within noise'
  | 'reversed'
  | 'ahead at one seed'
  | 'behind at one seed'
  | 'no data';

export interface ClaimSummary {
  claim: Claim;
  verdict: Verdict;
  /** mean AP(better) - mean AP(worse), null without data */
  diff: number | null;
  /** std(better) + std(worse): the margin a difference must exceed */
  spread: number | null;
  /** the paper's AP(better) - AP(worse) where both are known */
  paperDiff: number | null;
  /** some expected seeds of either row have no result */
  incomplete: boolean;
}

export interface StudySummary {
  study: Study;
  rows: RowSummary[];
  claims: ClaimSummary[];
}

export function stat(xs: readonly number[]): Stat | null {
  if (xs.length === 0) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length === 1) return { mean, std: 0, n: 1 };
  const ss = xs.reduce((a, x) => a + (x - mean) ** 2, 0);
  return { mean, std: Math.sqrt(ss / (xs.length - 1)), n: xs.length };
}

/**
 * Verdict of "better > worse" from their AP statistics, symmetric around zero: with d = the mean difference and
 * s = the summed seed standard deviations, holds when d > s, reversed when d < -s, and within noise (ahead when
 * d > 0, else behind) in between, so a deficit smaller than the spread is not read as a refutation. With a single
 * seed in either row there is no spread to compare with: only "ahead / behind at one seed" (the spread is null).
 */
export function judge(
  better: Stat | null,
  worse: Stat | null,
): { verdict: Verdict; diff: number | null; spread: number | null } {
  if (!better || !worse) return { verdict: 'no data', diff: null, spread: null };
  const diff = better.mean - worse.mean;
  if (better.n < 2 || worse.n < 2)
    return { verdict: diff > 0 ? 'ahead at one seed' : 'behind at one seed', diff, spread: null };
  const spread = better.std + worse.std;
  const verdict: Verdict =
    diff > spread ? 'holds' : diff < -spread ? 'reversed' : diff > 0 ? 'holds within noise' : 'behind within noise';
  return { verdict, diff, spread };
}

/**
 * Summarises `records` (any order; one per row and seed) for `study`, expecting `seedsOf(row)` seeds per row.
 * Records of seeds not expected are ignored; two records for one row and seed are an error.
 */
export function summarize(
  study: Study,
  records: readonly ResultRecord[],
  seedsOf: (row: StudyRow) => readonly number[],
): StudySummary {
  const rows = study.rows.map((row): RowSummary => {
    const expected = seedsOf(row);
    const mine = records
      .filter((r) => r.table === study.name && r.row === row.id && expected.includes(r.seed))
      .sort((a, b) => a.seed - b.seed);
    const seeds = mine.map((r) => r.seed);
    const dup = seeds.find((s, i) => seeds.indexOf(s) !== i);
    if (dup !== undefined) throw new Error(`${study.name}: two results for row ${row.id} seed ${dup}`);
    return {
      row,
      seeds,
      expected,
      AP: stat(mine.map((r) => r.metrics.AP)),
      AP50: stat(mine.map((r) => r.metrics.AP50)),
      AP75: stat(mine.map((r) => r.metrics.AP75)),
      trainSeconds: stat(mine.map((r) => r.trainSeconds)),
    };
  });
  const byId = (id: string): RowSummary => {
    const r = rows.find((x) => x.row.id === id);
    if (!r) throw new Error(`study ${study.name}: an ordering names unknown row ${id}`);
    return r;
  };
  const claims = study.claims.map((claim): ClaimSummary => {
    const b = byId(claim.better);
    const w = byId(claim.worse);
    const { verdict, diff, spread } = judge(b.AP, w.AP);
    const pb = b.row.paperAP;
    const pw = w.row.paperAP;
    return {
      claim,
      verdict,
      diff,
      spread,
      paperDiff: pb !== null && pw !== null ? pb - pw : null,
      incomplete: b.seeds.length < b.expected.length || w.seeds.length < w.expected.length,
    };
  });
  return { study, rows, claims };
}
