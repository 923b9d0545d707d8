// `ladet demo`: the README's main job. On the built-in fashion-det data (shapes where Fashion-MNIST is not
// installed) it trains the same small student twice — once assigning its own labels (PAA), once with a bigger
// teacher's assignment (LAD) — evaluates both and writes a report folder (markdown table with training times and
// the teacher's AP, learning curves, and a picture of both students' detections on a few val images).
// The teacher is the shipped assets/demo_teacher_r18w50.safetensors (made by the command in its preset), or is
// trained on the spot when that file is absent. Nothing is lost on an interruption: a rerun resumes a stopped run
// from its last checkpoint and reuses a finished one of the same config (delete runs/demo to train afresh).
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { configHash, loadConfig, type Config } from '../config/schema.js';
import { train, type StartMode, type TrainHooks } from './trainer.js';
import { readRunResult, type MetricKey } from './run_result.js';
import type { Overrides } from '../config/overrides.js';
import { chartPng } from './plot.js';
import { Outputs } from '../io/outputs.js';
import { generator } from '../data/synth/registry.js';
import { imagePath } from '../data/coco.js';
import { readCheckpointHeader } from '../build/checkpoint.js';
import { runPrecision } from '../build/model.js';
import { openSplit } from './data_setup.js';
import { groundTruthBoxes, renderPredictionGrid, runDetections, type GridColumn } from './prediction_grid.js';
import { openDetector, resolveModelFiles } from './open_detector.js';
import { exportRuntime } from './export_runtime.js';
import { decodeImage } from '../data/image.js';
import { RuntimeDetector } from '../runtime/index.js';
import { predictImages, toDetections, type Detection } from './predict.js';

export const DEMO_TEACHER_CONFIG = 'configs/demo/teacher_r18w50.yaml';
export const DEMO_STUDENT_CONFIG = 'configs/demo/student_r18w25.yaml';
export const DEMO_TEACHER_WEIGHTS = 'assets/demo_teacher_r18w50.safetensors';
/** The runtime check of the exported student: its best `top` detections above evaluation's threshold. */
const RUNTIME_CHECK = { scoreThr: 0.05, top: 10 };

/** Trains (or resumes) the run of a preset with overrides; `ladet demo` runs it in a worker thread (Ctrl-C). */
export type DemoTrainer = (
  configPath: string,
  overrides: Overrides,
  start: StartMode,
) => Promise<{ runDir: string; stopped: boolean }>;

/** The default trainer: `train` in this thread, with `hooks` (its `shouldStop` stops the run). */
export function inThreadTrainer(hooks: TrainHooks): DemoTrainer {
  return async (configPath, overrides, start) => {
    const r = await train(loadConfig(configPath, overrides), { ...start, hooks });
    return { runDir: r.runDir, stopped: r.stopped };
  };
}

export interface DemoOptions {
  runsDir?: string;
  /** progress and messages, and `shouldStop` for the default in-process trainer */
  hooks?: TrainHooks;
  /** how each run is trained; default: in this thread with `hooks` */
  trainer?: DemoTrainer;
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
  stopped: false;
  rows: DemoRow[];
  reportDir: string;
  dataset: string;
  /** the teacher's val AP as its checkpoint records it (best epoch), null when not recorded */
  teacher: { weights: string; trainedHere: boolean; AP: number | null; trainSeconds: number | null };
  /** the predictions picture (PNG) */
  picture: string;
  /** the LAD student as a ladet/runtime model; on the picture's first image, how many of its best detections were
   * compared with ladet on libtorch's and whether they agreed */
  runtime: { model: string; bytes: number; compared: number; sameDetections: boolean };
}

/** A demo stopped on request: `runDir` saved its last checkpoint, and a rerun continues from there. */
export interface DemoStopped {
  stopped: true;
  runDir: string;
}

function dataOverrides(): Record<string, unknown> {
  // fashion-det needs Debian's dataset-fashion-mnist; shapes needs nothing.
  if (generator('fashion-det').missing() === null) return {};
  return { 'data.builtin': 'shapes', 'data.root': 'data/shapes' };
}

/**
 * Trains the run of `configPath` + `overrides` to the end, resuming its last checkpoint when it was made by the same
 * config (a finished run is then reused as it is), and reads back what it scored.
 */
async function trainToEnd(
  configPath: string,
  overrides: Overrides,
  trainer: DemoTrainer,
  say: (line: string) => void,
): Promise<{ config: Config; runDir: string; metrics: Record<MetricKey, number>; trainSeconds: number } | DemoStopped> {
  const config = loadConfig(configPath, overrides);
  const runDir = join(config.runsDir, config.name);
  const last = join(runDir, 'weights', 'last.safetensors');
  let resume = false;
  if (existsSync(last)) {
    let hash: string | null = null;
    try {
      hash = readCheckpointHeader(last).meta?.trainer?.configHash ?? null;
    } catch {
      // a damaged checkpoint: train afresh (the trainer replaces it atomically)
    }
    resume = hash === configHash(config);
    say(
      resume
        ? `demo: continuing ${runDir} from its last checkpoint`
        : `demo: ${runDir} was trained with another config; training it afresh`,
    );
  }
  // the demo owns its runs: one it cannot continue (another config, a damaged or missing checkpoint) is replaced
  const r = await trainer(configPath, overrides, { resume, overwrite: !resume });
  if (r.stopped) return { stopped: true, runDir: r.runDir };
  const { metrics, trainSeconds } = readRunResult(r.runDir, config.schedule.epochs);
  return { config, runDir: r.runDir, metrics, trainSeconds };
}

/** A report folder an earlier demo wrote before output manifests existed: its results.json is the demo's. */
function isDemoReport(dir: string): boolean {
  try {
    const r = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Record<string, unknown>;
    return Array.isArray(r.rows) && typeof r.teacher === 'object' && r.picture === DEMO_PICTURE.file;
  } catch {
    return false;
  }
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
    (r) =>
      `| ${r.method} | ${fmt(r.AP)} | ${fmt(r.AP50)} | ${fmt(r.AP75)} | ${fmt(r.APs)} | ${fmt(r.APm)} | ${fmt(r.APl)} | ${formatDuration(r.trainSeconds)} |`,
  );
  return [head, sep, ...body].join('\n');
}

export async function runDemo(o: DemoOptions = {}): Promise<DemoResult | DemoStopped> {
  const runsDir = o.runsDir ?? join('runs', 'demo');
  const base = { ...dataOverrides(), runsDir, ...(o.overrides ?? {}) };
  const say = o.hooks?.onMessage ?? ((l: string) => console.log(l));
  const trainer = o.trainer ?? inThreadTrainer(o.hooks ?? {});

  let teacherWeights = DEMO_TEACHER_WEIGHTS;
  let trainedHere = false;
  let teacherSeconds: number | null = null;
  const shipped =
    existsSync(DEMO_TEACHER_WEIGHTS) && Object.keys(dataOverrides()).length === 0 && o.overrides === undefined;
  if (!shipped) {
    say(`demo: training the teacher (${DEMO_TEACHER_CONFIG}) first`);
    const t = await trainToEnd(DEMO_TEACHER_CONFIG, base, trainer, say);
    if ('stopped' in t) return t;
    teacherSeconds = t.trainSeconds;
    teacherWeights = join(t.runDir, 'weights', 'best.safetensors');
    if (!existsSync(teacherWeights)) teacherWeights = join(t.runDir, 'weights', 'last.safetensors');
    trainedHere = true;
  }

  const runs: [string, Overrides][] = [
    ['PAA (self-assigned)', { ...base, name: 'demo_paa' }],
    [
      'LAD (teacher-assigned)',
      {
        ...base,
        name: 'demo_lad',
        'distill.strategy': 'lad',
        'distill.teacher.config': DEMO_TEACHER_CONFIG,
        'distill.teacher.weights': teacherWeights,
      },
    ],
  ];
  const rows: DemoRow[] = [];
  const curves: { name: string; dir: string }[] = [];
  let studentConfig: Config | null = null;
  for (const [method, overrides] of runs) {
    say(`demo: training the student with ${method}`);
    const r = await trainToEnd(DEMO_STUDENT_CONFIG, overrides, trainer, say);
    if ('stopped' in r) return r;
    studentConfig ??= r.config;
    rows.push({ method, ...r.metrics, trainSeconds: r.trainSeconds });
    curves.push({ name: method, dir: r.runDir });
  }
  if (studentConfig === null) throw new Error('demo: no student runs');

  const reportDir = join(runsDir, 'report');
  // the report replaces only an earlier demo's report files, never a file of the user's
  const outputs = new Outputs({
    command: 'ladet demo',
    owns: (p) => reportFiles.includes(basename(p)) && isDemoReport(reportDir),
  });
  const reportFiles = [
    'train_loss_cls.png',
    'train_loss_bbox.png',
    DEMO_PICTURE.file,
    'lad_student.runtime.safetensors',
    'report.md',
    'results.json',
  ];
  for (const f of reportFiles) outputs.check(join(reportDir, f));
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
  outputs.write(
    join(reportDir, 'train_loss_cls.png'),
    await chartPng(series('loss_cls'), { title: 'classification loss', xLabel: 'iteration', yLabel: 'loss_cls' }),
  );
  outputs.write(
    join(reportDir, 'train_loss_bbox.png'),
    await chartPng(series('loss_bbox'), { title: 'box loss (GIoU)', xLabel: 'iteration', yLabel: 'loss_bbox' }),
  );

  // Both students' detections (best weights) on the first val images that have objects, ground truth dashed.
  say("demo: drawing both students' detections on val images");
  const val = openSplit(studentConfig, 'val');
  const shown = val.dataset.images
    .filter((im) => val.dataset.annotationsOf(im.id).length > 0)
    .slice(0, DEMO_PICTURE.images);
  const files = shown.map((im) => imagePath(val.images, im));
  const columns: GridColumn[] = [];
  for (const c of curves) columns.push({ title: c.name, boxes: await runDetections(c.dir, files, DEMO_PICTURE) });
  const picture = join(reportDir, DEMO_PICTURE.file);
  outputs.write(
    picture,
    await renderPredictionGrid(
      files,
      shown.map((im) => groundTruthBoxes(val.dataset, im.id)),
      columns,
    ),
  );

  // The LAD student for deployment without libtorch, checked on the picture's first image: its best detections
  // (score >= 0.05, as evaluation keeps) from ladet/runtime against ladet on libtorch.
  const runtimeModel = join(reportDir, 'lad_student.runtime.safetensors');
  const lad = openDetector(resolveModelFiles({ run: (curves[1] as { dir: string }).dir }));
  let runtimeBytes: number;
  let reference: Detection[] = [];
  try {
    runtimeBytes = outputs.writeWith(runtimeModel, (p) => exportRuntime(lad, p));
    const stream = predictImages({
      model: lad.model,
      config: lad.config,
      classes: lad.classes,
      files: files.slice(0, 1),
      onSkip: (f, why) => {
        throw new Error(`${f}: ${why}`);
      },
    });
    for await (const p of stream)
      reference = toDetections(p, lad.classes, RUNTIME_CHECK.scoreThr).slice(0, RUNTIME_CHECK.top);
  } finally {
    lad.model.dispose();
  }
  const first = await decodeImage(files[0] as string);
  const fromRuntime = RuntimeDetector.fromBytes(readFileSync(runtimeModel))
    .detect({ data: first.data, width: first.width, height: first.height }, { scoreThr: RUNTIME_CHECK.scoreThr })
    .slice(0, RUNTIME_CHECK.top);
  const compared = reference.length;
  const sameDetections =
    compared > 0 &&
    fromRuntime.length === compared &&
    fromRuntime.every((d, k) => {
      const r = reference[k] as Detection;
      return (
        d.category_id === r.category_id &&
        Math.abs(d.score - r.score) < 1e-4 &&
        d.box.every((v, c) => Math.abs(v - (r.box[c] as number)) < 0.01)
      );
    });
  say(`demo: the LAD student for ladet/runtime (no libtorch): ${runtimeModel}`);
  const runtime = { model: runtimeModel, bytes: runtimeBytes, compared, sameDetections };

  const recorded = readCheckpointHeader(teacherWeights).meta?.info?.bbox_mAP;
  const teacher = {
    weights: teacherWeights,
    trainedHere,
    AP: typeof recorded === 'number' ? recorded : null,
    trainSeconds: teacherSeconds,
  };
  const table = formatTable(rows);
  const precision = runPrecision(studentConfig);
  const dataset = String(studentConfig.data.builtin ?? studentConfig.data.root);
  const teacherFacts = [
    teacher.AP === null ? 'no val AP recorded' : `val AP ${fmt(teacher.AP)} at its best epoch`,
    ...(teacherSeconds === null ? [] : [`trained by this demo in ${formatDuration(teacherSeconds)}`]),
  ].join(', ');
  const md = [
    '# ladet demo: PAA vs LAD',
    '',
    `Student: ${DEMO_STUDENT_CONFIG} on ${dataset} (val split). Teacher: ${DEMO_TEACHER_CONFIG}, weights ${teacherWeights} (${teacherFacts}).`,
    'Both runs share the seed, data order, schedule and losses; only who assigns the labels differs. Train time is the',
    "sum of each student run's epoch times (metrics.csv), evaluations excluded.",
    `Precision: ${precision} (train.precision ${studentConfig.train?.precision ?? 'auto'}; the teacher's forward in the same precision, validation in fp32).`,
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
    '## Deploy',
    '',
    `\`lad_student.runtime.safetensors\` (${(runtimeBytes / 2 ** 20).toFixed(1)} MiB) is the LAD student as a ladet/runtime model: \`RuntimeDetector.fromBytes\``,
    `(\`import { RuntimeDetector } from 'ladet/runtime'\`) runs it in plain TypeScript, in a browser or any JS runtime without libtorch.`,
    sameDetections
      ? `On the first image above, its ${compared} best detections are those of ladet on libtorch (classes equal, boxes within 0.01 px).`
      : `On the first image above, its ${compared} best detections differ from those of ladet on libtorch (see docs/runtime.md).`,
    '',
  ].join('\n');
  outputs.write(join(reportDir, 'report.md'), md);
  outputs.write(
    join(reportDir, 'results.json'),
    JSON.stringify({ rows, teacher, dataset, precision, picture: DEMO_PICTURE.file, runtime }, null, 2) + '\n',
  );
  outputs.flush();
  return { stopped: false, rows, reportDir, dataset, teacher, picture, runtime };
}
