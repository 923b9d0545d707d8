// The experiment config: one zod schema validates every preset (configs/*.yaml), fills defaults and rejects
// unknown keys by name. CLI overrides (`key.sub=value`) are applied to the raw YAML before validation.
import { createHash } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { applyOverrides, type Overrides } from './overrides.js';
import { UsageError } from './usage_error.js';
import { AssignerSchema, readsOutputs } from '../assign/registry.js';
import { BACKBONE_SCHEMAS, type BackboneSection, type BackboneSectionInput } from '../models/backbones/registry.js';
import { HEAD_TYPES } from '../models/heads/registry.js';

const pair = z.tuple([z.number().positive(), z.number().positive()]);

// every registered backbone's section (src/models/backbones/registry.ts); a union only once there are two, so that
// with one the messages stay those of a plain object
const Backbone = (BACKBONE_SCHEMAS.length === 1
  ? BACKBONE_SCHEMAS[0]
  : z.union(BACKBONE_SCHEMAS)) as unknown as z.ZodType<BackboneSection, BackboneSectionInput>;

const Neck = z
  .object({
    outChannels: z.number().int().positive().default(256),
    startLevel: z.number().int().min(0).max(3).default(1),
    numOuts: z.number().int().positive().default(5),
    addExtraConvs: z.enum(['on_input', 'on_lateral', 'on_output']).default('on_output'),
  })
  .strict();

const Head = z
  .object({
    /** the head (src/models/heads/registry.ts) */
    type: z.enum(HEAD_TYPES).default('paa'),
    featChannels: z.number().int().positive().default(256),
    stackedConvs: z.number().int().min(0).default(4),
    gnGroups: z.number().int().positive().default(32),
    priorProb: z.number().gt(0).lt(1).default(0.01),
    iouBranch: z.boolean().default(true),
    /** COP neighbourhood size k (k×k logits weighted by k² coefficients) */
    coeffKernelSize: z
      .number()
      .int()
      .positive()
      .refine((k) => k % 2 === 1, 'must be odd')
      .default(3),
  })
  .strict();

const Anchors = z
  .object({
    strides: z.array(z.number().int().positive()).nonempty().default([8, 16, 32, 64, 128]),
    octaveBaseScale: z.number().positive().default(8),
    scalesPerOctave: z.number().int().positive().default(1),
    ratios: z.array(z.number().positive()).nonempty().default([1]),
  })
  .strict();

const Model = z
  .object({
    backbone: Backbone,
    neck: Neck.default(Neck.parse({})),
    head: Head.default(Head.parse({})),
    anchors: Anchors.default(Anchors.parse({})),
  })
  .strict()
  .superRefine((m, ctx) => {
    // COP's and IOP's probability branches are written for one anchor per location (as the papers' heads)
    const a = m.anchors.ratios.length * m.anchors.scalesPerOctave;
    if (a !== 1 && m.head.type !== 'paa')
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['anchors', 'ratios'],
        message: `the ${m.head.type} head predicts one anchor per location; ratios [${m.anchors.ratios.join(', ')}] × scalesPerOctave ${m.anchors.scalesPerOctave} give ${a} (use head.type paa for several)`,
      });
  });

// every registered assigner's section (src/assign/registry.ts)
const Assigner = AssignerSchema;

const Data = z
  .object({
    /** A built-in dataset made on first use when `root` holds no dataset yet. */
    builtin: z.enum(['fashion-det', 'shapes']).optional(),
    /** Generator parameters for the built-in dataset (`ladet data make` keys). */
    builtinArgs: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).default({}),
    /** The dataset folder: relative trainAnn, trainImages, valAnn and valImages lie under it. */
    root: z.string(),
    /**
     * trainAnn / valAnn (COCO annotation files) and trainImages / valImages (image folders): a relative path lies
     * under `root`; an absolute path is used as it is (`root` does not apply to it), e.g. annotations kept outside
     * the image tree. A built-in dataset is only made under `root`.
     */
    trainAnn: z.string().default('annotations/instances_train.json'),
    trainImages: z.string().default('train'),
    valAnn: z.string().default('annotations/instances_val.json'),
    valImages: z.string().default('val'),
    trainScales: z
      .array(pair)
      .nonempty()
      .default([[1333, 800]]),
    multiscaleMode: z.enum(['range', 'value']).default('range'),
    testScale: pair.default([1333, 800]),
    flipProb: z.number().min(0).max(1).default(0.5),
    sizeDivisor: z.number().int().positive().default(32),
    batchSize: z.number().int().positive().default(2),
    workers: z.number().int().min(0).default(2),
    /** Train / evaluate on the first N images only (0 = all): quick experiments and tests. */
    trainLimit: z.number().int().min(0).default(0),
    valLimit: z.number().int().min(0).default(0),
    /**
     * The most pixels (width x height) an image may have; a larger one is refused from its header before it is
     * decoded (a small PNG can decode to gigabytes), and the error names the file, its size and this key.
     * Absent = DEFAULT_MAX_IMAGE_PIXELS (100 megapixels, src/data/image.ts); 0 = no limit. No default here, so
     * configs that leave it out keep their config hash (recorded runs and repro results stay valid).
     */
    maxImagePixels: z.number().int().min(0).optional(),
  })
  .strict();

const Optimizer = z
  .object({
    lr: z.number().positive().default(0.01),
    momentum: z.number().min(0).lt(1).default(0.9),
    weightDecay: z.number().min(0).default(1e-4),
    gradClip: z.number().positive().nullable().default(null),
  })
  .strict();

const Schedule = z
  .object({
    epochs: z.number().int().positive().default(12),
    warmupIters: z.number().int().min(0).default(500),
    warmupRatio: z.number().gt(0).lte(1).default(0.001),
    /** epochs after which the lr is multiplied by gamma (mmdetection step policy) */
    steps: z.array(z.number().int().positive()).default([8, 11]),
    gamma: z.number().gt(0).lte(1).default(0.1),
  })
  .strict();

const Loss = z
  .object({
    clsWeight: z.number().min(0).default(1),
    bboxWeight: z.number().min(0).default(1.3),
    iouWeight: z.number().min(0).default(0.5),
  })
  .strict();

const Evaluation = z
  .object({
    every: z.number().int().min(0).default(1),
    nmsPre: z.number().int().default(1000),
    scoreThr: z.number().min(0).default(0.05),
    nmsIou: z.number().gt(0).lte(1).default(0.6),
    maxPerImg: z.number().int().positive().default(100),
    scoreVoting: z.boolean().default(true),
  })
  .strict();

const SoftLabel = z
  .object({
    gamma: z.number().min(0).default(0.5),
    /** region threshold: teacher box IoU with some GT above this (0.1 ccdet KD config, 0.5 SoLAD) */
    minIou: z.number().min(0).lt(1).default(0.1),
    clsWeight: z.number().min(0).default(10),
    iouWeight: z.number().min(0).default(10),
    bboxWeight: z.number().min(0).default(1.3),
    /** 'teacher': region from the teacher's boxes (released code); 'student': the paper's variant */
    region: z.enum(['teacher', 'student']).default('teacher'),
  })
  .strict();

const Teacher = z
  .object({
    /** the teacher's own preset (its model section is used) */
    config: z.string(),
    /** a ladet run directory (weights/best, else last), a .safetensors file or a PyTorch .pth (mmdetection) */
    weights: z.string(),
    /** the teacher's inference precision; absent: the student's (train.precision) */
    precision: z.enum(['fp32', 'bf16', 'fp16']).optional(),
  })
  .strict();

const Colad = z
  .object({
    /**
     * network 2: a preset path (its model section is used, resolved from the current directory) or an inline model
     * section; default: network 1's architecture (`model`) with its own random init
     */
    net2: z.union([z.string(), Model]).optional(),
    /** local: per (image, GT, FPN level) as the released code; network: per iteration, the paper's rule */
    switch: z.enum(['local', 'network']).default('local'),
    /** stdmean: std/mean of the costs; fisher: (mu+ - mu-)^2 / (var+ + var-) of their 2-component GMM */
    criterion: z.enum(['stdmean', 'fisher']).default('stdmean'),
    /** the network the run evaluates and saves as best (released code: use_teacher=True, network 2) */
    evalNet: z.union([z.literal(1), z.literal(2)]).default(2),
    /** optional starting weights of each network: a run directory or a .safetensors file */
    net1Init: z.string().optional(),
    net2Init: z.string().optional(),
  })
  .strict();

const Distill = z
  .object({
    /**
     * self: the network assigns its own labels (PAA baseline); lad: teacher assigns; kd: soft labels only;
     * solad: lad + kd; colad: two networks trained together on one shared assignment
     */
    strategy: z.enum(['self', 'lad', 'kd', 'solad', 'colad']).default('self'),
    teacher: Teacher.optional(),
    kd: SoftLabel.default(SoftLabel.parse({})),
    colad: Colad.default(Colad.parse({})),
  })
  .strict();

/** How a run computes: none of it is part of the config hash (a config's results are that config's in any precision). */
const Train = z
  .object({
    /**
     * fp32; bf16: the network's forward under autocast (fp32 master weights, optimizer state, losses, assignment);
     * auto (absent): bf16 where the CPU has native bf16 dot products (or on CUDA), fp32 elsewhere
     */
    precision: z.enum(['fp32', 'bf16', 'fp16', 'auto']).optional(),
    /**
     * minutes between mid-epoch saves of weights/last.safetensors (default 10; 0: at epoch ends only), so a crash or
     * a killed process loses at most that much training; not hashed (resuming from one gives the same run)
     */
    checkpointMinutes: z.number().min(0).optional(),
  })
  .strict();

/** Data-parallel runs (engine/ddp.ts); not part of the config hash (it changes no result). */
const Dist = z
  .object({
    /** seconds a collective (a step's all-reduce, the stop vote) waits for the other ranks before failing */
    timeout: z.number().positive().default(60),
    /** seconds every rank may take to join at start (rank 0 builds a dataset, a slow node boots) */
    startTimeout: z.number().positive().default(300),
    /**
     * average PAA's loss normalisers (num_pos, the IoU-target sum) and CoLAD's batch rho over ranks, as the official
     * PAA head's reduce_mean (mmdetection's assigner-side num_pos sync); false: each rank normalises by its own batch
     */
    syncNumPos: z.boolean().default(true),
  })
  .strict();

/** The `dist` settings of a config without that section. */
export const DIST_DEFAULTS: Readonly<z.infer<typeof Dist>> = Dist.parse({});

export const ConfigSchema = z
  .object({
    name: z.string().regex(/^[\w.-]+$/, 'use letters, digits, _ . - only'),
    seed: z.number().int().min(0).default(0),
    threads: z.number().int().positive().optional(),
    device: z.string().default('cpu'),
    /** where run directories go: runs/<name> */
    runsDir: z.string().default('runs'),
    data: Data,
    model: Model,
    assigner: Assigner.default({ type: 'paa', topk: 9, preAssignIou: 0.1 }),
    loss: Loss.default(Loss.parse({})),
    optimizer: Optimizer.default(Optimizer.parse({})),
    schedule: Schedule.default(Schedule.parse({})),
    eval: Evaluation.default(Evaluation.parse({})),
    distill: Distill.default(Distill.parse({})),
    logEvery: z.number().int().positive().default(20),
    /** absent in configs written before it existed; no default, so their hashes stay */
    train: Train.optional(),
    dist: Dist.optional(),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/** Formats zod issues as `file: key.path: message` lines. */
function describe(source: string, err: z.ZodError): string {
  return err.issues
    .map((i) => {
      const where = i.path.length ? i.path.join('.') : '(top level)';
      if (i.code === 'unrecognized_keys') {
        const keys = (i as { keys: string[] }).keys.map((k) => (i.path.length ? `${i.path.join('.')}.${k}` : k));
        return `${source}: unknown key${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`;
      }
      return `${source}: ${where}: ${i.message}`;
    })
    .join('\n');
}

/** Validates a raw config object (from YAML or code); errors name the file and the key. */
export function parseConfig(raw: unknown, source = 'config'): Config {
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) throw new UsageError(describe(source, r.error));
  const refused = teacherAssignerRefusal(r.data);
  if (refused !== null) throw new UsageError(`${source}: ${refused}`);
  return r.data;
}

/**
 * Why distill.strategy lad / solad / colad cannot run with this assigner, or null: their assignment comes from a
 * teacher's (or the other network's) outputs, which a geometry-only assigner never reads.
 */
export function teacherAssignerRefusal(c: Pick<Config, 'assigner' | 'distill'>): string | null {
  const strategy = c.distill.strategy;
  if (strategy !== 'lad' && strategy !== 'solad' && strategy !== 'colad') return null;
  if (readsOutputs(c.assigner.type)) return null;
  return (
    `assigner.type: '${c.assigner.type}' reads only geometry (anchors and GT boxes), so a teacher would assign exactly ` +
    `what the student assigns itself; distill.strategy '${strategy}' needs an assigner that reads network outputs (assigner.type: paa)`
  );
}

/**
 * Reads a YAML preset, applies overrides, validates. Relative data paths are resolved against the current
 * directory (presets are run from the repository root).
 */
export function loadConfig(path: string, overrides: Overrides = {}): Config {
  if (!existsSync(path)) throw new UsageError(`config file not found: ${path}`);
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    const line = yamlNestingBeyond(text, MAX_CONFIG_NESTING);
    if (line !== null)
      throw new Error(`line ${line} nests more than ${MAX_CONFIG_NESTING} levels deep (a config nests a few)`);
    raw = parseYaml(text);
  } catch (e) {
    throw new UsageError(`${path}: invalid YAML: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new UsageError(`${path}: a config must be a YAML mapping`);
  return parseConfig(applyOverrides(raw as Record<string, unknown>, overrides), path);
}

/**
 * Deeper YAML is refused before parsing. The yaml parser recurses once per level: a few hundred levels overflow the
 * stack, and in a fresh process such an overflow can abort Node outright (a fatal V8 error while compiling a regular
 * expression near the stack limit: `[` x 1000 loaded twice ends the process with SIGABRT, no exception).
 */
export const MAX_CONFIG_NESTING = 64;

/**
 * The first line (1-based) where an upper bound of the nesting depth of YAML `text` exceeds `limit`, or null; no
 * parsing. The bound adds block indentation levels, compact `- ` / `? ` / `: ` indicators starting a line, and open
 * flow brackets; quoted scalars, comments and block scalars (`|`, `>`) are skipped. It never undercounts a real
 * nesting; it may overcount (a plain scalar holding brackets), which only matters past `limit`.
 */
export function yamlNestingBeyond(text: string, limit: number): number | null {
  const lines = text.split(/\r\n|\r|\n/);
  const indents: number[] = [];
  let block = 0;
  let flow = 0;
  let quote: string | null = null;
  let scalarParent = -1; // inside a block scalar: the indentation of the line that opened it
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln] as string;
    let i = 0;
    let content = -1; // the column where this line's node starts (after its indentation and compact indicators)
    if (quote === null && flow === 0) {
      while (line[i] === ' ') i++;
      const blank = i === line.length || line[i] === '#';
      if (scalarParent >= 0 && (blank || i > scalarParent)) continue;
      scalarParent = -1;
      if (blank) continue;
      while (indents.length > 0 && (indents[indents.length - 1] as number) >= i) indents.pop();
      indents.push(i);
      let compact = 0;
      while (
        (line[i] === '-' || line[i] === '?' || line[i] === ':') &&
        (i + 1 === line.length || line[i + 1] === ' ' || line[i + 1] === '\t')
      ) {
        compact++;
        i++;
        while (line[i] === ' ' || line[i] === '\t') i++;
      }
      block = indents.length + compact;
      if (block > limit) return ln + 1;
      content = i;
    }
    let prev = ''; // the last non-blank character before i on this line
    let end = line.length; // where a comment starts
    for (; i < line.length; i++) {
      const c = line[i] as string;
      if (quote !== null) {
        if (quote === '"' && c === '\\') i++;
        else if (c === quote) {
          if (quote === "'" && line[i + 1] === "'") i++;
          else quote = null;
        }
        prev = c;
        continue;
      }
      if (c === '#' && (i === 0 || line[i - 1] === ' ' || line[i - 1] === '\t')) {
        end = i;
        break;
      }
      if ((c === '"' || c === "'") && (prev === '' || ':-?[{,'.includes(prev))) quote = c;
      else if (c === '[' || c === '{') {
        flow++;
        if (block + flow > limit) return ln + 1;
      } else if ((c === ']' || c === '}') && flow > 0) flow--;
      if (c !== ' ' && c !== '\t') prev = c;
    }
    // a block scalar header ends the line ("key: |", "- >-"): the more indented lines below are its text
    if (content >= 0 && quote === null && flow === 0 && /(^|[\s:-])[|>][-+0-9]*[ \t]*$/.test(line.slice(0, end)))
      scalarParent = content;
  }
  return null;
}

/**
 * sha256 of the resolved config: recorded in checkpoints (resume refuses another config) and in run logs. Lives here,
 * not in the trainer, so tools that only compare configs (ladet repro) need not load libtorch.
 */
export function configHash(c: Config): string {
  return createHash('sha256')
    .update(JSON.stringify(hashedPart(c)))
    .digest('hex');
}

/**
 * The config without its precision settings (train.precision, distill.teacher.precision): a run resumed in another
 * precision continues the same config, and configs written before precision existed keep their hashes. Which
 * precision ran is recorded beside the hash (run log, checkpoint info).
 */
function hashedPart(c: Config): Omit<Config, 'train' | 'dist'> {
  // `train` holds precision and the checkpoint interval, which change no result; a field that does must be hashed
  // when one is added. `dist` holds timeouts.
  const { train: _train, dist: _dist, ...rest } = c;
  const teacher = c.distill.teacher;
  if (teacher?.precision === undefined) return rest;
  const { precision: _precision, ...t } = teacher;
  return { ...rest, distill: { ...c.distill, teacher: t } };
}

export function configToYaml(c: Config): string {
  return stringifyYaml(c);
}

export function resolveFrom(base: string, p: string): string {
  return resolve(dirname(base), p);
}
