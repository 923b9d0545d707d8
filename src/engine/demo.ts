// `ladet demo`: the README's main job. On the built-in fashion-det data (shapes where Fashion-MNIST is not
// installed) it trains the same small student twice — once assigning its own labels (PAA), once with a bigger
// teacher's assignment (LAD) — evaluates both and writes a report folder (markdown table, learning curves).
// The teacher is the shipped assets/demo_teacher_r18w50.safetensors (made by the command in its preset), or is
// trained on the spot when that file is absent.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type Config } from './config.js';
import { train, type TrainHooks, type TrainSummary } from './trainer.js';
import { writeChartPng } from './plot.js';
import { writeFileAtomic } from '../io/atomic.js';
import { generator } from '../data/synth/registry.js';

export const DEMO_TEACHER_CONFIG = 'configs/demo/teacher_r18w50.yaml';
export const DEMO_STUDENT_CONFIG = 'configs/demo/student_r18w25.yaml';
export const DEMO_TEACHER_WEIGHTS = 'assets/demo_teacher_r18w50.safetensors';

export interface DemoOptions {
  runsDir?: string;
  hooks?: TrainHooks;
  /** extra overrides for every run (tests shrink the schedule with these) */
  overrides?: Record<string, unknown>;
}

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
  teacher: { weights: string; trainedHere: boolean };
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

export function formatTable(rows: readonly DemoRow[]): string {
  const head = '| method | AP | AP50 | AP75 | APs | APm | APl | train time |';
  const sep = '|---|---|---|---|---|---|---|---|';
  const body = rows.map(
    (r) => `| ${r.method} | ${fmt(r.AP)} | ${fmt(r.AP50)} | ${fmt(r.AP75)} | ${fmt(r.APs)} | ${fmt(r.APm)} | ${fmt(r.APl)} | ${(r.trainSeconds / 60).toFixed(1)} min |`,
  );
  return [head, sep, ...body].join('\n');
}

export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const runsDir = o.runsDir ?? join('runs', 'demo');
  const base = { ...dataOverrides(), runsDir, ...(o.overrides ?? {}) };
  const say = o.hooks?.onMessage ?? ((l: string) => console.log(l));

  let teacherWeights = DEMO_TEACHER_WEIGHTS;
  let trainedHere = false;
  const shipped = existsSync(DEMO_TEACHER_WEIGHTS) && Object.keys(dataOverrides()).length === 0 && o.overrides === undefined;
  if (!shipped) {
    say(`demo: training the teacher (${DEMO_TEACHER_CONFIG}) first`);
    const tc = loadConfig(DEMO_TEACHER_CONFIG, base);
    const t = await train(tc, { hooks: o.hooks ?? {} });
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
  const table = formatTable(rows);
  const dataset = String(runs[0]![1].data.builtin ?? runs[0]![1].data.root);
  const md = [
    '# ladet demo: PAA vs LAD',
    '',
    `Student: ${DEMO_STUDENT_CONFIG} on ${dataset} (val split). Teacher: ${teacherWeights}${trainedHere ? ' (trained by this demo)' : ''}.`,
    'Both runs share the seed, data order, schedule and losses; only who assigns the labels differs.',
    '',
    table,
    '',
    '![classification loss](train_loss_cls.png) ![box loss](train_loss_bbox.png)',
    '',
  ].join('\n');
  writeFileAtomic(join(reportDir, 'report.md'), md);
  writeFileAtomic(join(reportDir, 'results.json'), JSON.stringify({ rows, teacher: teacherWeights, dataset }, null, 2) + '\n');
  return { rows, reportDir, dataset, teacher: { weights: teacherWeights, trainedHere } };
}
