// `ladet demo`: the README's main job. On the built-in fashion-det data (shapes where Fashion-MNIST is not
// installed) it trains the same small student twice — once assigning its own labels (PAA), once with a bigger
// teacher's assignment (LAD) — evaluates both and writes a report folder (markdown table with training times and
// the teacher's AP, learning curves, and a picture of both students' detections on a few val images).
// The teacher is the shipped assets/demo_teacher_r18w50.safetensors (made by the command in its preset), or is
// trained on the spot when that file is absent.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type Config } from './config.js';
import { train, type TrainHooks, type TrainSummary } from './trainer.js';
import { writeChartPng } from './plot.js';
import { writeFileAtomic } from '../io/atomic.js';
import { generator } from '../data/synth/registry.js';
import { imagePath } from '../data/coco.js';
import { readCheckpointHeader } from './checkpoint.js';
import { openSplit } from './data_setup.js';
import { groundTruthBoxes, renderPredictionGrid, runDetections, type GridColumn } from './prediction_grid.js';

export const DEMO_TEACHER_CONFIG = 'configs/demo/teacher_r18w50.yaml';
export const DEMO_STUDENT_CONFIG = 'configs/demo/student_r18w25.yaml';
export const DEMO_TEACHER_WEIGHTS = 'assets/demo_teacher_r18w50.safetensors';

export interface DemoOptions {
  runsDir?: string;
  hooks?: TrainHooks;
  /** extra overrides for every run (tests shrink the schedule with these) */
  overrides?: Record<string, unknown>;
}

/** The predictions picture: this many val images (the first ones with objects), detections with score >= 0.3. */
export const DEMO_PICTURE = { images: 4, scoreThr: 0.3, maxDets: 10, file: 'predictions.png' } as const;

export interface DemoRow {
  method: string;
  AP: number;
  AP50: number;
  AP75: number;
  APs: number;
  APm: number;
  APl: number;
  trainSeconds: number;
}

export interface DemoResult {
  rows: DemoRow[];
  reportDir: string;
  dataset: string;
  /** the teacher's val AP as its checkpoint records it (best epoch), null when not recorded */
  teacher: { weights: string; trainedHere: boolean; AP: number | null; trainSeconds: number | null };
  /** the predictions picture (PNG) */
  picture: string;
}

function dataOverrides(): Record<string, unknown> {
  // fashion-det needs Debian's dataset-fashion-mnist; shapes needs nothing.
  if (generator('fashion-det').missing() === null) return {};
  return { 'data.builtin': 'shapes', 'data.root': 'data/shapes' };
}

function rowOf(method: string, r: TrainSummary, seconds: number): DemoRow {
  const n = r.lastEval?.coco.named;
  if (!n) throw new Error(`demo: the ${method} run did not evaluate`);
  return { method, AP: n.AP, AP50: n.AP50, AP75: n.AP75, APs: n.APs, APm: n.APm, APl: n.APl, trainSeconds: seconds };
}

const fmt = (v: number): string => (v < 0 ? '  -  ' : v.toFixed(3));

/** Seconds as "42 s" below two minutes, else "12.3 min". */
export function formatDuration(seconds: number): string {
  return seconds < 120 ? `${Math.round(seconds)} s` : `${(seconds / 60).toFixed(1)} min`;
}

export function formatTable(rows: readonly DemoRow[]): string {
  const head = '| method | AP | AP50 | AP75 | APs | APm | APl | train time |';
  const sep = '|---|---|---|---|---|---|---|---|';
  const body = rows.map(
    (r) => `| ${r.method} | ${fmt(r.AP)} | ${fmt(r.AP50)} | ${fmt(r.AP75)} | ${fmt(r.APs)} | ${fmt(r.APm)} | ${fmt(r.APl)} | ${formatDuration(r.trainSeconds)} |`,
  );
  return [head, sep, ...body].join('\n');
}

export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const runsDir = o.runsDir ?? join('runs', 'demo');
  const base = { ...dataOverrides(), runsDir, ...(o.overrides ?? {}) };
  const say = o.hooks?.onMessage ?? ((l: string) => console.log(l));

  let teacherWeights = DEMO_TEACHER_WEIGHTS;
  let trainedHere = false;
  let teacherSeconds: number | null = null;
  const shipped = existsSync(DEMO_TEACHER_WEIGHTS) && Object.keys(dataOverrides()).length === 0 && o.overrides === undefined;
  if (!shipped) {
    say(`demo: training the teacher (${DEMO_TEACHER_CONFIG}) first`);
    const tc = loadConfig(DEMO_TEACHER_CONFIG, base);
    const t0 = performance.now();
    const t = await train(tc, { hooks: o.hooks ?? {} });
    teacherSeconds = (performance.now() - t0) / 1000;
    teacherWeights = join(t.runDir, 'weights', 'best.safetensors');
    if (!existsSync(teacherWeights)) teacherWeights = join(t.runDir, 'weights', 'last.safetensors');
    trainedHere = true;
  }

  const runs: [string, Config][] = [
    ['PAA (self-assigned)', loadConfig(DEMO_STUDENT_CONFIG, { ...base, name: 'demo_paa' })],
    [
      'LAD (teacher-assigned)',
      loadConfig(DEMO_STUDENT_CONFIG, {
        ...base,
        name: 'demo_lad',
        'distill.strategy': 'lad',
        'distill.teacher.config': DEMO_TEACHER_CONFIG,
        'distill.teacher.weights': teacherWeights,
      }),
    ],
  ];
  const rows: DemoRow[] = [];
  const curves: { name: string; dir: string }[] = [];
  for (const [method, cfg] of runs) {
    say(`demo: training the student with ${method}`);
    const t0 = performance.now();
    const r = await train(cfg, { hooks: o.hooks ?? {} });
    rows.push(rowOf(method, r, (performance.now() - t0) / 1000));
    curves.push({ name: method, dir: r.runDir });
  }

  const reportDir = join(runsDir, 'report');
  // Learning curves from the per-iteration log (every `logEvery` steps).
  const series = (key: string) =>
    curves.map((c) => ({
      name: c.name.split(' ')[0] as string,
      points: readFileSync(join(c.dir, 'log.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((e) => e.event === 'iter' && typeof e[key] === 'number')
        .map((e) => [e.iter as number, e[key] as number] as const),
    }));
  await writeChartPng(join(reportDir, 'train_loss_cls.png'), series('loss_cls'), { title: 'classification loss', xLabel: 'iteration', yLabel: 'loss_cls' });
  await writeChartPng(join(reportDir, 'train_loss_bbox.png'), series('loss_bbox'), { title: 'box loss (GIoU)', xLabel: 'iteration', yLabel: 'loss_bbox' });

  // Both students' detections (best weights) on the first val images that have objects, ground truth dashed.
  say('demo: drawing both students\' detections on val images');
  const val = openSplit(runs[0]![1], 'val');
  const shown = val.dataset.images.filter((im) => val.dataset.annotationsOf(im.id).length > 0).slice(0, DEMO_PICTURE.images);
  const files = shown.map((im) => imagePath(val.images, im));
  const columns: GridColumn[] = [];
  for (const c of curves) columns.push({ title: c.name, boxes: await runDetections(c.dir, files, DEMO_PICTURE) });
  const picture = join(reportDir, DEMO_PICTURE.file);
  writeFileAtomic(picture, await renderPredictionGrid(files, shown.map((im) => groundTruthBoxes(val.dataset, im.id)), columns));

  const recorded = readCheckpointHeader(teacherWeights).meta?.info?.bbox_mAP;
  const teacher = { weights: teacherWeights, trainedHere, AP: typeof recorded === 'number' ? recorded : null, trainSeconds: teacherSeconds };
  const table = formatTable(rows);
  const dataset = String(runs[0]![1].data.builtin ?? runs[0]![1].data.root);
  const teacherFacts = [
    teacher.AP === null ? 'no val AP recorded' : `val AP ${fmt(teacher.AP)} at its best epoch`,
    ...(teacherSeconds === null ? [] : [`trained by this demo in ${formatDuration(teacherSeconds)}`]),
  ].join(', ');
  const md = [
    '# ladet demo: PAA vs LAD',
    '',
    `Student: ${DEMO_STUDENT_CONFIG} on ${dataset} (val split). Teacher: ${DEMO_TEACHER_CONFIG}, weights ${teacherWeights} (${teacherFacts}).`,
    'Both runs share the seed, data order, schedule and losses; only who assigns the labels differs. Train time is each',
    "student run's wall time, its evaluations included.",
    '',
    table,
    '',
    '![classification loss](train_loss_cls.png) ![box loss](train_loss_bbox.png)',
    '',
    '## Predictions',
    '',
    `The first ${shown.length} val images with objects; left the PAA student, right the LAD student (best weights), detections`,
    `with score >= ${DEMO_PICTURE.scoreThr} (at most ${DEMO_PICTURE.maxDets} per image) tagged with class and score; ground truth dashed white.`,
    '',
    `![predictions of both students](${DEMO_PICTURE.file})`,
    '',
  ].join('\n');
  writeFileAtomic(join(reportDir, 'report.md'), md);
  writeFileAtomic(join(reportDir, 'results.json'), JSON.stringify({ rows, teacher, dataset, picture: DEMO_PICTURE.file }, null, 2) + '\n');
  return { rows, reportDir, dataset, teacher, picture };
}
