// The four small-scale reproductions of the LAD / CoLAD papers (`ladet repro TABLE`): which presets make up each
// table, how rows are labelled, the paper's COCO AP beside each row (null where the project has no number: never
// invented), and the orderings the paper claims; `regimes` puts the LAD claims on a grid of teacher gap × schedule ×
// dataset. Data only; planning and running live in plan.ts / run.ts.
import type { Overrides } from '../config/overrides.js';
import { UsageError } from '../config/usage_error.js';

/**
 * Seeds 3 and 4 for the rows of the two claims within noise at 3 seeds (issue #25): Table 3's LAD vs the 1x baseline
 * and CoLAD's network 2 vs training alone.
 */
const OPEN_CLAIM_SEEDS: readonly number[] = [3, 4];

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
  /**
   * Seeds this row runs beside the study's (a claim open at 3 seeds gets two more): planned and reported with the
   * study's default seeds, not when `seeds=` names the seeds to run.
   */
  extraSeeds?: readonly number[];
  /**
   * `key.sub=value` config overrides on top of the preset, before the command line's (which win). They may set
   * `name` (the run name, which the user may not override): a row that changes the preset's experiment must
   * name its own runs, or it would share (and silently reuse) the preset's run directories.
   */
  overrides?: Overrides;
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

/** Claims side by side (the regimes study's map): a Grid whose cells hold claim `text`s, not row ids. */
export type ClaimGrid = Grid;

/** One point of a gain figure: row `row`'s AP gain over row `baseline` against the gap from `baseline` to `teacher`. */
export interface GainPoint {
  /** a key of the figure's `series` */
  series: string;
  row: string;
  baseline: string;
  teacher: string;
}

/**
 * AP gains over a baseline against the teacher gap (figure.ts draws it, gains.ts computes it): one panel per
 * `panels` entry; x = the teacher row's mean AP (its seed-0 record) minus the baseline's mean AP, y = the row's mean
 * AP minus the baseline's, error bars the two rows' seed standard deviations summed (summary.ts's spread).
 */
export interface GainFigure {
  /** the SVG's file name without `.svg`, written beside the study's markdown */
  file: string;
  title: string;
  /** the baseline's name on the axis ("PAA") */
  baseline: string;
  series: readonly { key: string; label: string }[];
  panels: readonly { title: string; points: readonly GainPoint[] }[];
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
  /** claim maps, rendered before the orderings list */
  claimGrids?: readonly ClaimGrid[];
  /** the precision every run of the study must have trained in: the report names each record that says otherwise */
  precision?: 'fp32' | 'bf16';
  figures?: readonly GainFigure[];
  /**
   * The study's training cost goes into its own section (with this budget: `lanes` runs side by side, `hours` of
   * wall clock, `why` the budget's source), not into the cost of the paper's tables (issue #8's 12 hours).
   */
  ownCost?: { lanes: number; hours: number; why: string };
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
      extraSeeds: OPEN_CLAIM_SEEDS,
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
      extraSeeds: OPEN_CLAIM_SEEDS,
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
      extraSeeds: OPEN_CLAIM_SEEDS,
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
      extraSeeds: OPEN_CLAIM_SEEDS,
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

// Where each of the paper's LAD claims holds (issue #25): teacher gap × student schedule × dataset, in bf16.
const REGIME_DATASETS = [
  { key: 'fashion', label: 'fashion-det', builtin: 'fashion-det' },
  { key: 'shapes', label: 'shapes', builtin: 'shapes' },
] as const;
/** Both teachers are ResNet-18 at 1/2 width (PAA); the gap comes from training it 6 or 12 epochs. */
const REGIME_GAPS = [
  { key: 'small', epochs: 6, config: 'configs/demo/teacher_r18w50.yaml' },
  { key: 'large', epochs: 12, config: 'configs/lad/t3_baseline_r18w50_2x.yaml' },
] as const;
/**
 * The student's schedules. short: the 1x schedule stopped after its first epoch (500 iterations at batch 16): the
 * same 300-iteration warmup and lr, and no decay, since decay steps are whole epochs (one inside a single epoch
 * cannot be written) and a shorter warmup would change a second thing besides the length.
 */
const REGIME_SCHEDULES = [
  { key: 'short', what: '1 epoch', overrides: { 'schedule.epochs': 1, 'schedule.steps': [] } },
  { key: '1x', what: '6 epochs', overrides: {} },
] as const;
/** The strategies with a teacher, from Table 2's presets (the mini student with each one's distill section). */
const REGIME_STRATEGIES = [
  { key: 'kd', label: 'soft-label', config: 'configs/lad/t2_kd_r18w25_from_r18w50.yaml' },
  { key: 'lad', label: 'LAD', config: 'configs/lad/t2_lad_r18w25_from_r18w50.yaml' },
  { key: 'solad', label: 'SoLAD', config: 'configs/lad/t2_solad_r18w25_from_r18w50.yaml' },
] as const;
const REGIME_STUDENT = 'configs/paa_r18_fashion_mini.yaml';

type RegimeDataset = (typeof REGIME_DATASETS)[number];
type RegimeGap = (typeof REGIME_GAPS)[number];
type RegimeSchedule = (typeof REGIME_SCHEDULES)[number];
type RegimeStrategy = (typeof REGIME_STRATEGIES)[number];

const regimeId = {
  teacher: (d: RegimeDataset, g: RegimeGap): string => `${d.key}_teacher_${g.key}`,
  paa: (d: RegimeDataset, s: RegimeSchedule): string => `${d.key}_${s.key}_paa`,
  student: (d: RegimeDataset, s: RegimeSchedule, st: RegimeStrategy, g: RegimeGap): string =>
    `${d.key}_${s.key}_${st.key}_${g.key}`,
};
/** Every regimes row: its own run name (`regimes_<id>`), the dataset at the generator's defaults, bf16 where the CPU
 * has it (train.precision auto; precision is not in the config hash, so the name keeps these runs apart from the fp32
 * tables' runs of the same presets). */
const regimeOverrides = (id: string, d: RegimeDataset): Overrides => ({
  name: `regimes_${id}`,
  'data.builtin': d.builtin,
  'data.root': `data/${d.builtin}`,
  'train.precision': 'auto',
});

function regimeRows(d: RegimeDataset): StudyRow[] {
  const rows: StudyRow[] = REGIME_GAPS.map((g) => ({
    id: regimeId.teacher(d, g),
    label: `${d.label} teacher, ${g.key} gap: R18w50 ${g.epochs} epochs (PAA, seed 0 only)`,
    short: `${d.label} teacher ${g.key}`,
    config: g.config,
    paperAP: null,
    seeds: [0],
    overrides: regimeOverrides(regimeId.teacher(d, g), d),
  }));
  for (const s of REGIME_SCHEDULES) {
    rows.push({
      id: regimeId.paa(d, s),
      label: `${d.label} ${s.key}: PAA R18w25`,
      short: `PAA ${d.label} ${s.key}`,
      config: REGIME_STUDENT,
      paperAP: null,
      overrides: { ...regimeOverrides(regimeId.paa(d, s), d), ...s.overrides },
    });
    for (const g of REGIME_GAPS) {
      for (const st of REGIME_STRATEGIES) {
        const id = regimeId.student(d, s, st, g);
        rows.push({
          id,
          label: `${d.label} ${s.key}: ${st.label} from the ${g.key}-gap teacher`,
          short: `${st.label} ${d.label} ${s.key} ${g.key}`,
          config: st.config,
          paperAP: null,
          teacher: regimeId.teacher(d, g),
          overrides: { ...regimeOverrides(id, d), ...s.overrides, 'distill.teacher.config': g.config },
        });
      }
    }
  }
  return rows;
}

/** The claims checked in every regime, as (better, worse) strategy names. */
const REGIME_CLAIMS = [
  ['LAD', 'PAA'],
  ['LAD', 'soft-label'],
  ['SoLAD', 'LAD'],
  ['soft-label', 'PAA'],
] as const;
type RegimeName = (typeof REGIME_CLAIMS)[number][number];

function regimeClaimText(d: RegimeDataset, s: RegimeSchedule, g: RegimeGap, better: RegimeName, worse: RegimeName) {
  return `${d.label} ${s.key}, ${g.key} gap: ${better} > ${worse}`;
}

/** Every claim (a row) in every regime (a column: dataset, schedule, gap): where each holds and where it reverses. */
function regimeMap(): ClaimGrid {
  const cols = REGIME_DATASETS.flatMap((d) => REGIME_SCHEDULES.flatMap((s) => REGIME_GAPS.map((g) => ({ d, s, g }))));
  return {
    title: 'The regime map: each claim by dataset, schedule and teacher gap (verdict, mean AP difference)',
    corner: 'claim',
    colHeads: cols.map(({ d, s, g }) => `${d.label} ${s.key}, ${g.key} gap`),
    rowHeads: REGIME_CLAIMS.map(([b, w]) => `${b} > ${w}`),
    cells: REGIME_CLAIMS.map(([b, w]) => cols.map(({ d, s, g }) => regimeClaimText(d, s, g, b, w))),
  };
}

function regimeClaims(d: RegimeDataset): Claim[] {
  const out: Claim[] = [];
  for (const s of REGIME_SCHEDULES) {
    for (const g of REGIME_GAPS) {
      const row = (key: RegimeStrategy['key']): string =>
        regimeId.student(d, s, REGIME_STRATEGIES.find((x) => x.key === key) as RegimeStrategy, g);
      const rowOf = { PAA: regimeId.paa(d, s), LAD: row('lad'), 'soft-label': row('kd'), SoLAD: row('solad') };
      for (const [better, worse] of REGIME_CLAIMS)
        out.push({ text: regimeClaimText(d, s, g, better, worse), better: rowOf[better], worse: rowOf[worse] });
    }
  }
  return out;
}

/** Strategy × (schedule, gap) for one dataset; the teacher line repeats each gap's teacher under both schedules. */
function regimeGrid(d: RegimeDataset): Grid {
  const cols = REGIME_SCHEDULES.flatMap((s) => REGIME_GAPS.map((g) => ({ s, g })));
  return {
    title: `${d.label}: strategy × (schedule, teacher gap), AP`,
    corner: 'strategy',
    colHeads: cols.map(({ s, g }) => `${s.key}, ${g.key} gap`),
    rowHeads: ['teacher (seed 0)', 'PAA', ...REGIME_STRATEGIES.map((st) => st.label)],
    cells: [
      cols.map(({ g }) => regimeId.teacher(d, g)),
      cols.map(({ s }) => regimeId.paa(d, s)),
      ...REGIME_STRATEGIES.map((st) => cols.map(({ s, g }) => regimeId.student(d, s, st, g))),
    ],
  };
}

function regimeFigure(d: RegimeDataset): GainFigure {
  return {
    file: `regimes_${d.key}`,
    title: `${d.label}: AP gain over PAA against the teacher gap`,
    baseline: 'PAA',
    series: REGIME_STRATEGIES.map((st) => ({ key: st.key, label: st.label })),
    panels: REGIME_SCHEDULES.map((s) => ({
      title: `${s.key} (${s.what})`,
      points: REGIME_GAPS.flatMap((g) =>
        REGIME_STRATEGIES.map((st) => ({
          series: st.key,
          row: regimeId.student(d, s, st, g),
          baseline: regimeId.paa(d, s),
          teacher: regimeId.teacher(d, g),
        })),
      ),
    })),
  };
}

const regimes: Study = {
  name: 'regimes',
  title: 'Where the LAD claims hold: teacher gap × schedule × dataset',
  setting:
    "fashion-det and shapes at the generators' defaults (8000 train / 1000 val canvases of 160 px, 500 iterations per epoch at batch 16); " +
    'student ResNet-18 at 1/4 width (the mini preset), short = 1 epoch (the 1x schedule stopped after its first epoch: same warmup and lr, no decay) or 1x = 6 epochs; ' +
    "teachers ResNet-18 at 1/2 width (PAA, seed 0) trained 6 epochs (small gap) or 12 (large gap), the gap measured as teacher AP minus the PAA student's mean AP; " +
    'every run in bf16 (train.precision auto on a CPU with native bf16) under its own run name',
  paper: "the LAD paper's claims (COCO, 1x); it has no number per regime, so the column is empty",
  rows: REGIME_DATASETS.flatMap(regimeRows),
  claims: REGIME_DATASETS.flatMap(regimeClaims),
  grids: REGIME_DATASETS.map(regimeGrid),
  claimGrids: [regimeMap()],
  precision: 'bf16',
  figures: REGIME_DATASETS.map(regimeFigure),
  ownCost: { lanes: 2, hours: 9, why: 'two background lanes over three sessions of about 3 hours' },
};

export const STUDIES: readonly Study[] = [table2, table3, colad, cop, regimes];

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

/** Whether row id `id` is named by `pattern`: the id itself, or a pattern with `*` (any characters). */
function rowMatches(pattern: string, id: string): boolean {
  if (!pattern.includes('*')) return pattern === id;
  const re = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${re}$`).test(id);
}

/**
 * The rows named in `ids` (all rows when null), in the study's order; an id may hold `*` (`fashion_*`: every row
 * whose id starts so). An id or pattern naming no row is a usage error.
 */
export function selectRows(study: Study, ids: readonly string[] | null): StudyRow[] {
  if (ids === null) return [...study.rows];
  const valid = study.rows.map((r) => r.id);
  const bad = ids.filter((id) => !valid.some((v) => rowMatches(id, v)));
  if (bad.length) {
    throw new UsageError(
      `ladet repro ${study.name}: unknown row${bad.length > 1 ? 's' : ''} ${bad.join(', ')} (rows of ${study.name}: ${valid.join(', ')})`,
    );
  }
  return study.rows.filter((r) => ids.some((id) => rowMatches(id, r.id)));
}

export function rowById(study: Study, id: string): StudyRow {
  const r = study.rows.find((x) => x.id === id);
  if (!r) throw new Error(`study ${study.name} has no row ${id}`);
  return r;
}
