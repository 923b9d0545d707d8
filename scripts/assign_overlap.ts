// How far a teacher's PAA assignment (what a LAD student trains on) is from a student's own (what PAA trains on),
// batch by batch on the training split: positives of each, and the Jaccard overlap of their (anchor, GT) pairs.
// Where the two coincide, LAD cannot teach the student anything its own assignment does not (algorithms.md §4).
//   node dist/scripts/assign_overlap.js CONFIG|RUN_DIR [student=RUN_DIR|FILE] [batches=20] [mode=train|eval] [k=v ...]
// CONFIG|RUN_DIR: a LAD / SoLAD / KD config (a run's config.yaml names its teacher); the student is that config's
// network, randomly initialised (seed from the config) or with `student=` weights (e.g. a PAA run of the same
// network), in train mode as in a training step unless mode=eval, and in the precision training runs it in.
import { join } from 'node:path';
import { loadConfig } from '../src/config/schema.js';
import { parseValue } from '../src/config/overrides.js';
import { ensureDataset, openSplit, trainLoader } from '../src/engine/data_setup.js';
import { AnchorCache, assignTargets } from '../src/assign/targets.js';
import { buildAnchorGenerator, buildDetector, runPrecision, setPrecision } from '../src/build/model.js';
import { buildStrategy } from '../src/build/strategy.js';
import { loadWeights } from '../src/build/checkpoint.js';
import { TeacherStrategy } from '../src/distill/lad.js';
import { flattenHeadOutputs, levelSizes } from '../src/models/heads/outputs.js';
import { dispose, manualSeed, noGrad, setNumThreads, tidy } from '../src/torch/index.js';
import type { Assignment } from '../src/assign/assignment.js';

/** The (anchor, GT) pairs of an assignment's positives, as numbers anchor · gts + gt. */
export function positivePairs(a: Pick<Assignment, 'posInds' | 'posGtInds'>, gts: number): Set<number> {
  const anchors = a.posInds.toTypedArray<'int64'>();
  const gt = a.posGtInds.toTypedArray<'int64'>();
  const out = new Set<number>();
  for (let i = 0; i < anchors.length; i++) out.add(Number(anchors[i]) * gts + Number(gt[i]));
  return out;
}

/** |a ∩ b| / |a ∪ b|; 1 for two empty sets. */
export function jaccard(a: ReadonlySet<number>, b: ReadonlySet<number>): number {
  let both = 0;
  for (const x of a) if (b.has(x)) both++;
  const either = a.size + b.size - both;
  return either === 0 ? 1 : both / either;
}

export interface OverlapOptions {
  /** weights for the student (a run directory or a checkpoint); default: the config's random initialisation */
  student?: string;
  batches?: number;
  /** the student's mode: train (as in a training step: BatchNorm on batch statistics) or eval */
  mode?: 'train' | 'eval';
  overrides?: Record<string, unknown>;
}

export interface OverlapRow {
  /** positives the teacher's assignment gives the batch */
  teacher: number;
  /** positives the student's own assignment gives it */
  student: number;
  /** Jaccard overlap of the two sets of (anchor, GT) pairs */
  overlap: number;
}

/**
 * Both assignments of the first `batches` training batches (epoch 1's order) of `source`, a LAD / SoLAD / KD config
 * file or run directory (its config.yaml).
 */
export async function assignOverlap(source: string, o: OverlapOptions = {}): Promise<OverlapRow[]> {
  const file = source.endsWith('.yaml') || source.endsWith('.yml') ? source : join(source, 'config.yaml');
  const config = loadConfig(file, o.overrides ?? {});
  setNumThreads(config.threads ?? 1);
  await ensureDataset(config);
  const train = openSplit(config, 'train');
  const numClasses = train.dataset.labels.size;
  manualSeed(config.seed);
  const anchors = new AnchorCache(buildAnchorGenerator(config.model), config.device);
  const { strategy } = buildStrategy(config, () => buildDetector(config.model, numClasses), numClasses, anchors);
  if (!(strategy instanceof TeacherStrategy)) {
    strategy.dispose();
    anchors.dispose();
    throw new Error(`${file}: distill.strategy must be lad, solad or kd (a teacher assigns)`);
  }
  const student = strategy.trainable;
  if (o.student) loadWeights(o.student, student);
  // the precision a training step runs the student in (the teacher is built in it too, unless its config says)
  setPrecision(student, runPrecision(config));
  if (o.mode === 'eval') student.eval();
  else student.train();
  const loader = trainLoader(config, train, { workers: 0 });
  const rows: OverlapRow[] = [];
  try {
    for await (const batch of loader.epoch(1, 0)) {
      try {
        if (rows.length >= (o.batches ?? 20)) break;
        const input = { images: batch.images, targets: batch.targets, metas: batch.metas };
        const gts = batch.targets.reduce((n, t) => n + t.labels.length, 0);
        rows.push(
          tidy(() =>
            noGrad(() => {
              const ta = strategy.teacherAssignment(input);
              const out = student.forward(input.images);
              const flat = flattenHeadOutputs(out, numClasses);
              const t = assignTargets(anchors, levelSizes(out), input.targets, input.metas, numClasses);
              const sa = strategy.assigner.assign(t, {
                clsLogits: flat.cls,
                regDeltas: flat.reg,
                clsKind: flat.clsKind,
              });
              const a = positivePairs(ta, gts);
              const b = positivePairs(sa, gts);
              return { teacher: a.size, student: b.size, overlap: jaccard(a, b) };
            }),
          ),
        );
      } finally {
        dispose(batch.images);
      }
    }
  } finally {
    await loader.close();
    strategy.dispose();
    student.dispose();
    anchors.dispose();
  }
  return rows;
}

async function main(args: string[]): Promise<void> {
  const [source, ...rest] = args;
  if (!source)
    throw new Error(
      'usage: assign_overlap CONFIG|RUN_DIR [student=RUN_DIR|FILE] [batches=20] [mode=train|eval] [key.sub=value ...]',
    );
  const kv = rest.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] as const);
  const mine = new Set(['student', 'batches', 'mode']);
  const own = Object.fromEntries(kv.filter(([k]) => mine.has(k)));
  const overrides = Object.fromEntries(kv.filter(([k]) => !mine.has(k)).map(([k, v]) => [k, parseValue(v)]));
  if (own.mode !== undefined && own.mode !== 'train' && own.mode !== 'eval')
    throw new Error(`mode= must be train or eval (got ${own.mode})`);
  const rows = await assignOverlap(source, {
    ...(own.student ? { student: own.student } : {}),
    batches: Number(own.batches ?? 20),
    mode: own.mode === 'eval' ? 'eval' : 'train',
    overrides,
  });
  const mean = (k: keyof OverlapRow) => rows.reduce((s, r) => s + r[k], 0) / rows.length;
  console.log(
    `${source}, student ${own.student ?? 'at random init'} (${own.mode ?? 'train'} mode): over ${rows.length} batches, positives per batch: teacher ${mean('teacher').toFixed(1)}, student ${mean('student').toFixed(1)}; Jaccard overlap of their (anchor, GT) pairs ${mean('overlap').toFixed(3)}`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
