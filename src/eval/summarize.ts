// The 12 standard COCO bbox numbers from the precision/recall arrays, and their familiar 12-line print.
import { AREA_LABELS, type AreaLabel } from './params.js';

export const STAT_NAMES = [
  'AP',
  'AP50',
  'AP75',
  'APs',
  'APm',
  'APl',
  'AR1',
  'AR10',
  'AR100',
  'ARs',
  'ARm',
  'ARl',
] as const;
export type StatName = (typeof STAT_NAMES)[number];

/** Array sizes: precision is [T, R, K, A, M], recall [T, K, A, M] (row-major, the reference's layout). */
export interface EvalShape {
  T: number;
  R: number;
  K: number;
  A: number;
  M: number;
}

interface StatSpec {
  ap: boolean;
  iou: number | null;
  area: AreaLabel;
  /** index into maxDets */
  m: number;
}

const SPECS: readonly StatSpec[] = [
  { ap: true, iou: null, area: 'all', m: 2 },
  { ap: true, iou: 0.5, area: 'all', m: 2 },
  { ap: true, iou: 0.75, area: 'all', m: 2 },
  { ap: true, iou: null, area: 'small', m: 2 },
  { ap: true, iou: null, area: 'medium', m: 2 },
  { ap: true, iou: null, area: 'large', m: 2 },
  { ap: false, iou: null, area: 'all', m: 0 },
  { ap: false, iou: null, area: 'all', m: 1 },
  { ap: false, iou: null, area: 'all', m: 2 },
  { ap: false, iou: null, area: 'small', m: 2 },
  { ap: false, iou: null, area: 'medium', m: 2 },
  { ap: false, iou: null, area: 'large', m: 2 },
];

/** Mean of the entries > -1 of precision[t, :, k, a, m] over the given t and k in [k0, k1) (-1 when there are none). */
export function meanPrecision(
  precision: Float64Array,
  s: EvalShape,
  ts: readonly number[],
  k0: number,
  k1: number,
  a: number,
  m: number,
): number {
  let sum = 0;
  let n = 0;
  for (const t of ts) {
    for (let r = 0; r < s.R; r++) {
      for (let k = k0; k < k1; k++) {
        const v = precision[(((t * s.R + r) * s.K + k) * s.A + a) * s.M + m]!;
        if (v > -1) {
          sum += v;
          n++;
        }
      }
    }
  }
  return n ? sum / n : -1;
}

/** Mean of the entries > -1 of recall[t, k, a, m] over the given t and k in [k0, k1) (-1 when there are none). */
export function meanRecall(
  recall: Float64Array,
  s: EvalShape,
  ts: readonly number[],
  k0: number,
  k1: number,
  a: number,
  m: number,
): number {
  let sum = 0;
  let n = 0;
  for (const t of ts) {
    for (let k = k0; k < k1; k++) {
      const v = recall[((t * s.K + k) * s.A + a) * s.M + m]!;
      if (v > -1) {
        sum += v;
        n++;
      }
    }
  }
  return n ? sum / n : -1;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** The 12 stats in the reference's order (see STAT_NAMES); -1 where nothing was measurable. */
export function summarize(
  precision: Float64Array,
  recall: Float64Array,
  s: EvalShape,
  iouThresholds: Float64Array,
): number[] {
  return SPECS.map((spec) => {
    let ts = range(s.T);
    if (spec.iou !== null) ts = ts.filter((t) => iouThresholds[t] === spec.iou);
    const a = AREA_LABELS.indexOf(spec.area);
    return spec.ap ? meanPrecision(precision, s, ts, 0, s.K, a, spec.m) : meanRecall(recall, s, ts, 0, s.K, a, spec.m);
  });
}

/**
 * x with 3 decimals, rounding an exact tie to even as Python's format does (JS toFixed rounds it up).
 * Ties are exactly the odd multiples of 1/16 (0.0625, 0.1875, ...), the only 3-decimal midpoints a double can hold.
 */
export function formatFixed3(x: number): string {
  const s16 = x * 16;
  if (Number.isInteger(s16) && s16 % 2 !== 0) {
    const lo = Math.floor(Math.abs(x) * 1000);
    const n = lo % 2 === 0 ? lo : lo + 1;
    return `${x < 0 ? '-' : ''}${(n / 1000).toFixed(3)}`;
  }
  return x.toFixed(3);
}

/** The 12 stats as the reference prints them, one per line. */
export function formatSummary(
  stats: readonly number[],
  iouThresholds: Float64Array,
  maxDets: readonly number[],
): string {
  const first = iouThresholds[0]!.toFixed(2);
  const last = iouThresholds[iouThresholds.length - 1]!.toFixed(2);
  return SPECS.map((spec, i) => {
    const title = (spec.ap ? 'Average Precision' : 'Average Recall').padEnd(18);
    const type = spec.ap ? '(AP)' : '(AR)';
    const iou = (spec.iou === null ? `${first}:${last}` : spec.iou.toFixed(2)).padEnd(9);
    const area = spec.area.padStart(6);
    const md = String(maxDets[spec.m]).padStart(3);
    return ` ${title} ${type} @[ IoU=${iou} | area=${area} | maxDets=${md} ] = ${formatFixed3(stats[i]!)}`;
  }).join('\n');
}
