// `weights=MODEL.onnx` for `ladet test` / `ladet predict`: an exported ONNX model run by onnxruntime-node on the CPU
// in place of the libtorch network, its raw per-level outputs turned into detections by ladet/runtime's
// post-processing (detectFromOutputs: the same anchors, scores, nmsPre, decode and selectDetections with NMS and
// score voting as the libtorch path). The model's metadata (ladet.runtime_spec, read by src/runtime/onnx_spec.ts)
// gives its classes, anchors and, for an .onnx used without a config, the test pipeline and post-processing settings.
// onnxruntime-node is an optional peer dependency: imported on first use, with a clear error naming the install when
// it is absent. LADET_ONNXRUNTIME names another module exposing its API (a custom build; tests name a missing one).
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Tensor } from '../torch/index.js';
import type { ImageMeta } from '../data/transforms.js';
import type { Category } from '../data/label_map.js';
import { DEFAULT_MAX_IMAGE_PIXELS } from '../data/image.js';
import type { InferenceConfig, ImageDetections } from '../models/heads/paa_inference.js';
import { detectFromOutputs, type LevelOutputs } from '../runtime/postprocess.js';
import { onnxRuntimeSpec } from '../runtime/onnx_spec.js';
import type { RuntimeSpec } from '../runtime/model_file.js';
import { applyOverrides, type Overrides } from '../config/overrides.js';
import { UsageError } from '../config/usage_error.js';
import { loadConfig, ConfigSchema, type Config } from '../config/schema.js';
import type { ModelFiles } from './open_detector.js';
import { testSettingsOf, type BatchDetector, type TestSettings } from './predict.js';

/** The environment variable naming the module to load instead of 'onnxruntime-node'. */
export const ONNXRUNTIME_ENV = 'LADET_ONNXRUNTIME';

/** The part of onnxruntime-node's API ladet uses (its types stay out of ladet's: it is an optional peer). */
export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
}
interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>, fetches?: readonly string[]): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface OrtModule {
  InferenceSession: {
    create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
}

/** Modules loaded by name (with the default import). */
const loaded = new Map<string, OrtModule>();

/**
 * onnxruntime-node (or the module LADET_ONNXRUNTIME names), imported once; `why` says what needs it. `load` imports
 * a module by name (tests pass one that fails as a missing package does).
 */
export async function loadOnnxRuntime(why: string, load?: (name: string) => Promise<unknown>): Promise<OrtModule> {
  const name = process.env[ONNXRUNTIME_ENV] || 'onnxruntime-node';
  const cached = load === undefined ? loaded.get(name) : undefined;
  if (cached !== undefined) return cached;
  try {
    const raw = (await (load ?? ((n: string) => import(n)))(name)) as OrtModule & { default?: OrtModule };
    const m = raw.default ?? raw;
    if (typeof m.InferenceSession?.create !== 'function' || typeof m.Tensor !== 'function')
      throw new Error(`${name} does not export onnxruntime's InferenceSession and Tensor`);
    if (load === undefined) loaded.set(name, m);
    return m;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new UsageError(
        name === 'onnxruntime-node'
          ? `${why} runs on onnxruntime-node, which is not installed (an optional peer dependency of ladet): ` +
              'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node'
          : `${why}: ${ONNXRUNTIME_ENV}=${name} names a module that is not installed (unset it for onnxruntime-node)`,
      );
    }
    throw new Error(`${why}: cannot load ${name}: ${(e as Error).message}`, { cause: e });
  }
}

/** An exported ONNX model on onnxruntime-node, as a BatchDetector (CPU, float32). */
export class OnnxDetector implements BatchDetector {
  readonly external = true as const;
  private session: OrtSession | null;

  private constructor(
    readonly file: string,
    readonly spec: RuntimeSpec,
    private readonly ort: OrtModule,
    session: OrtSession,
    /** per level: the output names */
    private readonly levels: { cls: string; reg: string; iou: string | null }[],
    private readonly imageSizes: boolean,
  ) {
    this.session = session;
  }

  /** what cls_l holds: PAA heads' logits, COP / IOP heads' probabilities */
  get clsKind(): 'logits' | 'probs' {
    return this.spec.network.head.type === 'paa' ? 'logits' : 'probs';
  }

  /**
   * Reads `file` (a model `ladet export format=onnx` wrote) and starts an onnxruntime session on it. threads:
   * onnxruntime's intra-op threads (default: its own, the cores); ort: another module with onnxruntime's API
   * (onnxruntime-web, with executionProviders ['wasm']), default onnxruntime-node on the CPU. Errors name the file.
   */
  static async open(
    file: string,
    opts: { threads?: number; ort?: OrtModule; executionProviders?: readonly string[] } = {},
  ): Promise<OnnxDetector> {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UsageError(
        code === 'ENOENT' ? `weights not found: ${file}` : `weights=${file}: cannot read it (${code ?? String(e)})`,
      );
    }
    let spec: RuntimeSpec;
    try {
      spec = onnxRuntimeSpec(bytes, file);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const ort = opts.ort ?? (await loadOnnxRuntime(`weights=${file}`));
    let session: OrtSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        executionProviders: [...(opts.executionProviders ?? ['cpu'])],
        graphOptimizationLevel: 'all',
        interOpNumThreads: 1,
        ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
      });
    } catch (e) {
      throw new UsageError(`${file}: onnxruntime cannot load it: ${(e as Error).message}`);
    }
    const numLevels = spec.anchors.strides.length;
    const iou = spec.network.head.iouBranch;
    const levels = Array.from({ length: numLevels }, (_, l) => ({
      cls: `cls_${l}`,
      reg: `reg_${l}`,
      iou: iou ? `iou_${l}` : null,
    }));
    const missing = levels
      .flatMap((lv) => [lv.cls, lv.reg, ...(lv.iou ? [lv.iou] : [])])
      .filter((n) => !session.outputNames.includes(n));
    const inputs = session.inputNames;
    if (missing.length || !inputs.includes('images')) {
      await session.release();
      throw new UsageError(
        `${file}: ${missing.length ? `no output ${missing[0]}` : 'no input images'}: not the outputs ladet export format=onnx writes for its ${numLevels}-level ${spec.network.head.type} network`,
      );
    }
    return new OnnxDetector(file, spec, ort, session, levels, inputs.includes('image_sizes'));
  }

  /** The settings the model's metadata records: its test pipeline, post-processing and anchors. */
  get settings(): TestSettings {
    const { input } = this.spec;
    return {
      pipeline: {
        scales: [input.testScale],
        multiscaleMode: 'value',
        flipProb: 0,
        mean: input.mean,
        std: input.std,
        sizeDivisor: input.sizeDivisor,
        maxImagePixels: DEFAULT_MAX_IMAGE_PIXELS,
      },
      inference: this.spec.inference,
      anchors: this.spec.anchors,
      workers: ConfigSchema.shape.data.parse({ root: '.' }).workers,
      device: 'cpu',
    };
  }

  /** images (B, 3, H, W) float32, normalised and padded; one meta per image -> each image's detections. */
  async detect(images: Tensor, metas: readonly ImageMeta[], inference: InferenceConfig): Promise<ImageDetections[]> {
    const session = this.session;
    if (session === null) throw new Error(`${this.file}: the onnxruntime session was released`);
    const dims = images.shape;
    const flat =
      images.dtype === 'float32' ? images.toTypedArray<'float32'>() : images.to('float32').toTypedArray<'float32'>();
    const feeds: Record<string, OrtTensor> = { images: new this.ort.Tensor('float32', flat, dims) };
    if (this.imageSizes)
      feeds.image_sizes = new this.ort.Tensor('float32', Float32Array.from(metas.flatMap((m) => m.imgShape)), [
        metas.length,
        2,
      ]);
    const names = this.levels.flatMap((lv) => [lv.cls, lv.reg, ...(lv.iou ? [lv.iou] : [])]);
    const out = await session.run(feeds, names);
    const numClasses = this.spec.network.head.numClasses;
    return metas.map((meta, i) => {
      const levels: LevelOutputs[] = this.levels.map((lv) => {
        const cls = out[lv.cls] as OrtTensor;
        const [n, , h, w] = cls.dims as [number, number, number, number];
        if (n !== metas.length) throw new Error(`${this.file}: ${lv.cls} has batch ${n} for ${metas.length} images`);
        const part = (t: OrtTensor | undefined): Float32Array => {
          const data = (t as OrtTensor).data as Float32Array;
          const per = data.length / n;
          return data.subarray(i * per, (i + 1) * per);
        };
        return { cls: part(cls), reg: part(out[lv.reg]), iou: lv.iou === null ? null : part(out[lv.iou]), h, w };
      });
      const det = detectFromOutputs(levels, this.spec.anchors, meta, numClasses, inference, this.clsKind);
      return { imageId: meta.imageId, ...det };
    });
  }

  /** Ends the onnxruntime session (its memory is freed when it finishes). Idempotent. */
  dispose(): void {
    const s = this.session;
    this.session = null;
    void s?.release();
  }
}

/** An .onnx model opened for test / predict: what OpenedDetector holds for libtorch weights. */
export interface OpenedOnnx {
  /** the config that decides data and test settings, or null: an .onnx alone runs with the settings it records */
  config: Config | null;
  configPath: string | null;
  /** outputs default into it: the run's, the config's runs/<name>, else runs/<the file's stem> */
  runDir: string;
  weightsPath: string;
  /** the model's classes (its metadata), in label order */
  classes: Category[];
  /** the CoLAD network it was exported from, when recorded */
  net: 1 | 2 | null;
  /** the settings inference uses: the config's (test pipeline, eval.*) when there is one, else the model's */
  settings: TestSettings;
  model: OnnxDetector;
}

/** Whether `weights` names an ONNX model (by its extension, as ladet writes them). */
export function isOnnxFile(weights: string | null | undefined): boolean {
  return typeof weights === 'string' && /\.onnx$/i.test(weights);
}

/**
 * Opens an .onnx weights file for `ladet test` / `ladet predict`. The network, its classes and anchors are the
 * file's; a config (given, or its run's) decides the data and test settings, with overrides, as for any weights;
 * without one the file's recorded settings apply, overridable by data.* / eval.* keys. model.* overrides are refused:
 * the network is fixed in the file. onnxruntime runs on `threads` threads (the config's, or threads=) when set.
 */
export async function openOnnxDetector(files: ModelFiles, overrides: Overrides = {}): Promise<OpenedOnnx> {
  const file = files.weights;
  if (file === null || !isOnnxFile(file)) throw new Error('openOnnxDetector: weights must be an .onnx file');
  const modelKey = Object.keys(overrides).find((k) => k === 'model' || k.startsWith('model.'));
  if (modelKey !== undefined)
    throw new UsageError(`${modelKey}=: an ONNX model's network is fixed in ${file} (export it again to change it)`);
  const config = files.configPath === null ? null : loadConfig(files.configPath, overrides);
  const recorded = config === null ? recordedOverrides(file, overrides) : null;
  const threads = config?.threads ?? recorded?.threads;
  const model = await OnnxDetector.open(file, threads === undefined ? {} : { threads });
  const spec = model.spec;
  const net = spec.source?.net === 1 || spec.source?.net === 2 ? spec.source.net : null;
  const stem = basename(file).replace(/\.onnx$/i, '');
  return {
    config,
    configPath: files.configPath,
    runDir: files.runDir ?? (config ? join(config.runsDir, config.name) : join('runs', stem)),
    weightsPath: file,
    classes: spec.classes.map((c) => ({ id: c.id, name: c.name })),
    net,
    // the anchors are the network's, whatever the config says
    settings: config ? { ...testSettingsOf(config), anchors: spec.anchors } : applyRecorded(model.settings, recorded),
    model,
  };
}

/** data.* / eval.* / threads overrides of an .onnx used without a config: the keys given, checked by the schema. */
interface RecordedOverrides {
  data: Partial<Config['data']>;
  eval: Partial<Config['eval']>;
  threads?: number;
}

function recordedOverrides(file: string, overrides: Overrides): RecordedOverrides {
  const keys = Object.keys(overrides);
  const other = keys.find((k) => !k.startsWith('data.') && !k.startsWith('eval.') && k !== 'threads');
  if (other !== undefined)
    throw new UsageError(
      `${other}=: ${file} runs with the settings it records; without config= only data.*, eval.* and threads= apply`,
    );
  const threads = overrides.threads;
  if (threads !== undefined && !(Number.isInteger(threads) && (threads as number) > 0))
    throw new UsageError(`threads= must be a positive whole number (got ${JSON.stringify(threads)})`);
  const raw = applyOverrides({ data: { root: dirname(file) }, eval: {} }, overrides) as {
    data: unknown;
    eval: unknown;
  };
  const data = ConfigSchema.shape.data.safeParse(raw.data);
  const evaluation = ConfigSchema.shape.eval.safeParse(raw.eval);
  const error = data.error ?? evaluation.error;
  if (error) {
    const issue = error.issues[0];
    const where = `${data.error ? 'data' : 'eval'}.${issue?.path.join('.') ?? ''}`;
    throw new UsageError(`${file}: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  // only the keys given replace the recorded values
  const given = (prefix: string): Set<string> =>
    new Set(keys.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length).split('.')[0] as string));
  const pick = <T extends object>(v: T, names: Set<string>): Partial<T> =>
    Object.fromEntries(Object.entries(v).filter(([k]) => names.has(k))) as Partial<T>;
  return {
    data: pick(data.data as Config['data'], given('data.')),
    eval: pick(evaluation.data as Config['eval'], given('eval.')),
    ...(threads === undefined ? {} : { threads: threads as number }),
  };
}

function applyRecorded(base: TestSettings, o: RecordedOverrides | null): TestSettings {
  if (o === null) return base;
  const { data: d, eval: e } = o;
  const r = base.inference;
  const inference: InferenceConfig = {
    nmsPre: e.nmsPre ?? r.nmsPre,
    scoreThr: e.scoreThr ?? r.scoreThr,
    nmsIou: e.nmsIou ?? r.nmsIou,
    maxPerImg: e.maxPerImg ?? r.maxPerImg,
    scoreVoting: e.scoreVoting ?? r.scoreVoting,
  };
  return {
    ...base,
    pipeline: {
      ...base.pipeline,
      ...(d.testScale === undefined ? {} : { scales: [d.testScale] }),
      ...(d.sizeDivisor === undefined ? {} : { sizeDivisor: d.sizeDivisor }),
      ...(d.maxImagePixels === undefined ? {} : { maxImagePixels: d.maxImagePixels }),
    },
    inference,
    ...(d.workers === undefined ? {} : { workers: d.workers }),
  };
}
