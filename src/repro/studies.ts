// The four small-scale reproductions of the LAD / CoLAD papers (`ladet repro TABLE`): which presets make up each
// table, how rows are labelled, the paper's COCO AP beside each row (null where the project has no number: never
// invented), and the orderings the paper claims. Data only; planning and running live in plan.ts / run.ts.
import { UsageError } from '../config/usage_error.js';

export interface StudyRow {
  /** used in `rows=` and in result file names: `<id>_s<seed>.json` */
  id: string;
  /** the row's name in the markdown table */
  label: string;
  /** a short name for orderings ("LAD > baseline") */
  short: string;
  /** the preset, relative to the repository root */
  config: string;
  /** the paper's COCO bbox AP (percent) for this row, or null when the project has no number */
  paperAP: number | null;
  /** fixed seeds (a prerequisite teacher is trained once, seed 0); default: the seeds asked for */
  seeds?: readonly number[];
  /** id of the row whose seed-0 run supplies this row's teacher weights (it is run first) */
  teacher?: string;
  /**
   * The network of a CoLAD run this row reports, when not the one the run evaluates itself (distill.colad.evalNet):
   * the row shares its run directory with the row of the same preset and is scored by evaluating that network at
   * the run's final weights.
   */
  net?: 1 | 2;
  /** seeds below this one are left out of the row (their runs predate it and their weights are gone) */
  firstSeed?: number;
}

/** The paper's claim that row `better` beats row `worse`, written as `text` ("soft-label < baseline 1x"). */
export interface Claim {
  text: string;
  better: string;
  worse: string;
}

/** A side-by-side view of some rows (CoLAD: switch × criterion); cells hold row ids. */
export interface Grid {
  title: string;
  corner: string;
  colHeads: readonly string[];
  rowHeads: readonly string[];
  cells: readonly (readonly string[])[];
}

export interface Study {
  name: string;
  title: string;
  /** what is trained here (data, sizes), one sentence */
  setting: string;
  /** what the paper's number is */
  paper: string;
  rows: readonly StudyRow[];
  claims: readonly Claim[];
  grids?: readonly Grid[];
}

const table2: Study = {
  name: 'table2',
  title: 'LAD Table 2: a bigger teacher into a smaller student',
  setting: 'fashion-det at 160 px, 6 epochs; teacher ResNet-18 at 1/2 width, student ResNet-18 at 1/4 width (PAA head)',
  paper: 'COCO val, teacher PAA-R101 into a PAA-R50 student, 1x schedule',
  rows: [
    {
      id: 'teacher',
      label: 'teacher R18w50 (PAA, seed 0 only)',
      short: 'teacher',
      config: 'configs/demo/teacher_r18w50.yaml',
      paperAP: 42.6,
      seeds: [0],
    },
    {
      id: 'baseline',
      label: 'baseline R18w25 (PAA)',
      short: 'baseline',
      config: 'configs/paa_r18_fashion_mini.yaml',
      paperAP: 40.4,
    },
    {
      id: 'kd',
      label: 'soft-label KD from R18w50',
      short: 'soft-label',
      config: 'configs/lad/t2_kd_r18w25_from_r18w50.yaml',
      paperAP: 41.3,
      teacher: 'teacher',
    },
    {
      id: 'lad',
      label: 'LAD from R18w50',
      short: 'LAD',
      config: 'configs/lad/t2_lad_r18w25_from_r18w50.yaml',
      paperAP: 41.6,
      teacher: 'teacher',
    },
    {
      id: 'solad',
      label: 'SoLAD from R18w50',
      short: 'SoLAD',
      config: 'configs/lad/t2_solad_r18w25_from_r18w50.yaml',
      paperAP: 42.4,
      teacher: 'teacher',
    },
  ],
  claims: [
    { text: 'LAD > baseline', better: 'lad', worse: 'baseline' },
    { text: 'LAD > soft-label', better: 'lad', worse: 'kd' },
    { text: 'SoLAD > LAD', better: 'solad', worse: 'lad' },
  ],
};

const table3: Study = {
  name: 'table3',
  title: 'LAD Table 3: a smaller teacher into a bigger student',
  setting:
    'fashion-det at 160 px; teacher ResNet-18 at 1/4 width, student ResNet-18 at 1/2 width (PAA head), 6 epochs (1x) or 12 (2x)',
  paper: 'COCO val, teacher PAA-R50 (40.4) into a PAA-R101 student',
  rows: [
    {
      id: 'teacher',
      label: 'teacher R18w25 (PAA, seed 0 only)',
      short: 'teacher',
      config: 'configs/paa_r18_fashion_mini.yaml',
      paperAP: 40.4,
      seeds: [0],
    },
    {
      id: 'baseline_1x',
      label: 'baseline R18w50 1x (PAA)',
      short: 'baseline 1x',
      config: 'configs/demo/teacher_r18w50.yaml',
      paperAP: 42.6,
    },
    {
      id: 'baseline_2x',
      label: 'baseline R18w50 2x (PAA)',
      short: 'baseline 2x',
      config: 'configs/lad/t3_baseline_r18w50_2x.yaml',
      paperAP: 43.5,
    },
    {
      id: 'kd',
      label: 'soft-label KD from R18w25',
      short: 'soft-label',
      config: 'configs/lad/t3_kd_r18w50_from_r18w25.yaml',
      paperAP: 40.4,
      teacher: 'teacher',
    },
    {
      id: 'lad',
      label: 'LAD from R18w25',
      short: 'LAD',
      config: 'configs/lad/t3_lad_r18w50_from_r18w25.yaml',
      paperAP: 43.3,
      teacher: 'teacher',
    },
  ],
  claims: [
    { text: 'LAD > baseline 1x', better: 'lad', worse: 'baseline_1x' },
    // the paper: soft labels from a weaker teacher hurt, label assignment from it does not
    { text: 'soft-label < baseline 1x', better: 'baseline_1x', worse: 'kd' },
    { text: 'LAD > soft-label', better: 'lad', worse: 'kd' },
  ],
};

const COLAD_PAIR = 'R18w25 + R18w50';
const COLAD_PRESETS = {
  pair_local_stdmean: 'configs/colad/colad_r18w25_pair_local_stdmean.yaml',
  local_stdmean: 'configs/colad/colad_r18w25_r18w50_local_stdmean.yaml',
  local_fisher: 'configs/colad/colad_r18w25_r18w50_local_fisher.yaml',
  network_stdmean: 'configs/colad/colad_r18w25_r18w50_network_stdmean.yaml',
  network_fisher: 'configs/colad/colad_r18w25_r18w50_network_fisher.yaml',
  cop_local_stdmean: 'configs/colad/colad_r18w25_r18w50cop_local_stdmean.yaml',
} as const;
/**
 * Network 1 of each CoLAD run (the table's other rows score network 2). Recorded from seed 1 on: the seed-0 runs
 * were trained before repro evaluated network 1, on a machine whose run directories are gone.
 */
const NET1_FIRST_SEED = 1;
const net1 = (id: keyof typeof COLAD_PRESETS, label: string, short: string): StudyRow => ({
  id: `${id}_net1`,
  label,
  short,
  config: COLAD_PRESETS[id],
  paperAP: null,
  net: 1,
  firstSeed: NET1_FIRST_SEED,
});
const NET1_ROWS: readonly StudyRow[] = [
  net1('pair_local_stdmean', 'CoLAD R18w25 + R18w25, local, std/mean (net 1: R18w25)', 'CoLAD R18w25 pair, net 1'),
  net1('local_stdmean', `CoLAD ${COLAD_PAIR}, local, std/mean (net 1: R18w25)`, 'CoLAD local std/mean, net 1'),
  net1('local_fisher', `CoLAD ${COLAD_PAIR}, local, Fisher (net 1: R18w25)`, 'CoLAD local Fisher, net 1'),
  net1('network_stdmean', `CoLAD ${COLAD_PAIR}, network, std/mean (net 1: R18w25)`, 'CoLAD network std/mean, net 1'),
  net1('network_fisher', `CoLAD ${COLAD_PAIR}, network, Fisher (net 1: R18w25)`, 'CoLAD network Fisher, net 1'),
  net1('cop_local_stdmean', 'CoLAD R18w25 + R18w50-COP, local, std/mean (net 1: R18w25)', 'CoLAD R18w50-COP, net 1'),
];
/** Switch × criterion side by side for one network of the R18w25 + R18w50 runs (`suffix`: its rows' id suffix). */
const switchGrid = (net: string, suffix: string): Grid => ({
  title: `switch × criterion, ${COLAD_PAIR} (${net}, AP)`,
  corner: 'switch',
  colHeads: ['std/mean', 'Fisher'],
  rowHeads: ['local', 'network'],
  cells: [
    [`local_stdmean${suffix}`, `local_fisher${suffix}`],
    [`network_stdmean${suffix}`, `network_fisher${suffix}`],
  ],
});
const colad: Study = {
  name: 'colad',
  title: 'CoLAD: two networks trained together vs each alone',
  setting:
    'fashion-det at 160 px, 6 epochs, both networks from random init; a CoLAD run evaluates network 2 (the second-named network), so it is compared with that network trained alone; ' +
    `the rows marked net 1 evaluate the same runs' network 1 at their final weights (from seed ${NET1_FIRST_SEED}: the seed-0 runs' weights were not kept)`,
  paper: 'the CoLAD paper (COCO); the project notes hold no CoLAD numbers, so the column is empty',
  rows: [
    {
      id: 'alone_r18w25',
      label: 'R18w25 alone (PAA)',
      short: 'R18w25 alone',
      config: 'configs/paa_r18_fashion_mini.yaml',
      paperAP: null,
    },
    {
      id: 'alone_r18w50',
      label: 'R18w50 alone (PAA)',
      short: 'R18w50 alone',
      config: 'configs/demo/teacher_r18w50.yaml',
      paperAP: null,
    },
    {
      id: 'pair_local_stdmean',
      label: 'CoLAD R18w25 + R18w25, local, std/mean (net 2: R18w25)',
      short: 'CoLAD R18w25 pair',
      config: COLAD_PRESETS.pair_local_stdmean,
      paperAP: null,
    },
    {
      id: 'local_stdmean',
      label: `CoLAD ${COLAD_PAIR}, local, std/mean (net 2: R18w50)`,
      short: 'CoLAD local std/mean',
      config: COLAD_PRESETS.local_stdmean,
      paperAP: null,
    },
    {
      id: 'local_fisher',
      label: `CoLAD ${COLAD_PAIR}, local, Fisher (net 2: R18w50)`,
      short: 'CoLAD local Fisher',
      config: COLAD_PRESETS.local_fisher,
      paperAP: null,
    },
    {
      id: 'network_stdmean',
      label: `CoLAD ${COLAD_PAIR}, network, std/mean (net 2: R18w50)`,
      short: 'CoLAD network std/mean',
      config: COLAD_PRESETS.network_stdmean,
      paperAP: null,
    },
    {
      id: 'network_fisher',
      label: `CoLAD ${COLAD_PAIR}, network, Fisher (net 2: R18w50)`,
      short: 'CoLAD network Fisher',
      config: COLAD_PRESETS.network_fisher,
      paperAP: null,
    },
    {
      id: 'cop_local_stdmean',
      label: 'CoLAD R18w25 + R18w50-COP, local, std/mean (net 2: R18w50 COP + IoU)',
      short: 'CoLAD R18w50-COP',
      config: COLAD_PRESETS.cop_local_stdmean,
      paperAP: null,
    },
    ...NET1_ROWS,
  ],
  claims: [
    { text: 'CoLAD R18w25 pair > R18w25 alone', better: 'pair_local_stdmean', worse: 'alone_r18w25' },
    { text: 'CoLAD local std/mean > R18w50 alone', better: 'local_stdmean', worse: 'alone_r18w50' },
    { text: 'CoLAD local Fisher > R18w50 alone', better: 'local_fisher', worse: 'alone_r18w50' },
    { text: 'CoLAD network std/mean > R18w50 alone', better: 'network_stdmean', worse: 'alone_r18w50' },
    { text: 'CoLAD network Fisher > R18w50 alone', better: 'network_fisher', worse: 'alone_r18w50' },
    // no COP-R18w50 preset trains alone: the nearest network alone is the PAA one
    { text: 'CoLAD R18w50-COP > R18w50 alone (PAA head)', better: 'cop_local_stdmean', worse: 'alone_r18w50' },
    // every network 1 is an R18w25
    ...NET1_ROWS.map((r) => ({ text: `${r.short} > R18w25 alone`, better: r.id, worse: 'alone_r18w25' })),
  ],
  grids: [switchGrid('network 2: R18w50', ''), switchGrid('network 1: R18w25', '_net1')],
};

const cop: Study = {
  name: 'cop',
  title: 'COP / IOP heads vs PAA (CoLAD appendix)',
  setting:
    'fashion-det at 160 px, 6 epochs, ResNet-18 at 1/4 width; the heads differ, everything else is the PAA preset',
  paper: 'COCO val, R50 1x (with R18: COP 36.9 vs PAA 35.8)',
  rows: [
    { id: 'paa', label: 'PAA + IoU branch', short: 'PAA', config: 'configs/paa_r18_fashion_mini.yaml', paperAP: 40.4 },
    {
      id: 'paa_noiou',
      label: 'PAA, no IoU branch',
      short: 'PAA no-IoU',
      config: 'configs/cop/paa_noiou_r18w25.yaml',
      paperAP: null,
    },
    {
      id: 'cop_iou',
      label: 'COP + IoU branch',
      short: 'COP+IoU',
      config: 'configs/cop/cop_iou_r18w25.yaml',
      paperAP: 41.6,
    },
    { id: 'cop', label: 'COP only', short: 'COP', config: 'configs/cop/cop_r18w25.yaml', paperAP: 41.2 },
    {
      id: 'iop_iou',
      label: 'IOP + IoU branch',
      short: 'IOP+IoU',
      config: 'configs/cop/iop_iou_r18w25.yaml',
      paperAP: 41.6,
    },
    { id: 'iop', label: 'IOP only', short: 'IOP', config: 'configs/cop/iop_r18w25.yaml', paperAP: 41.1 },
  ],
  claims: [
    { text: 'COP+IoU > PAA', better: 'cop_iou', worse: 'paa' },
    { text: 'IOP+IoU > PAA', better: 'iop_iou', worse: 'paa' },
    { text: 'COP > PAA no-IoU', better: 'cop', worse: 'paa_noiou' },
    { text: 'IOP > PAA no-IoU', better: 'iop', worse: 'paa_noiou' },
  ],
};

export const STUDIES: readonly Study[] = [table2, table3, colad, cop];

export function studyNames(): string[] {
  return STUDIES.map((s) => s.name);
}

/** The study called `name`; an unknown name is a usage error listing the valid ones. */
export function getStudy(name: string): Study {
  const s = STUDIES.find((x) => x.name === name);
  if (!s)
    throw new UsageError(`ladet repro: unknown table '${name}' (expected one of: ${studyNames().join(', ')}, all)`);
  return s;
}

/** The rows named in `ids` (all rows when null), in the study's order; unknown ids are a usage error. */
export function selectRows(study: Study, ids: readonly string[] | null): StudyRow[] {
  if (ids === null) return [...study.rows];
  const valid = study.rows.map((r) => r.id);
  const bad = ids.filter((id) => !valid.includes(id));
  if (bad.length) {
    throw new UsageError(
      `ladet repro ${study.name}: unknown row${bad.length > 1 ? 's' : ''} ${bad.join(', ')} (rows of ${study.name}: ${valid.join(', ')})`,
    );
  }
  return study.rows.filter((r) => ids.includes(r.id));
}

export function rowById(study: Study, id: string): StudyRow {
  const r = study.rows.find((x) => x.id === id);
  if (!r) throw new Error(`study ${study.name} has no row ${id}`);
  return r;
}
