// Opening a trained detector for `ladet test` / `ladet predict`: find the config and the weights (a run directory
// holds both), learn the class list (from the checkpoint, else the config's training annotations), build the
// network the config describes and load the weights, checking every key and shape first. CoLAD runs hold two
// networks; `net` picks one.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { dispose, resolvePrecision, type Precision } from '../torch/index.js';
import { readCoco } from '../data/coco.js';
import type { Category } from '../data/label_map.js';
import type { Detector } from '../models/detector.js';
import { applyOverrides, type Overrides } from '../config/overrides.js';
import { UsageError } from '../config/usage_error.js';
import { loadConfig, parseConfig, type Config } from '../config/schema.js';
import { buildDetector } from '../build/model.js';
import { dataPath, dataPathKey } from './data_setup.js';
import {
  checkpointClasses,
  checkpointConfig,
  classList,
  loadModelTensors,
  readCheckpoint,
  readCheckpointHeader,
  resolveWeights,
  type CheckpointMeta,
} from '../build/checkpoint.js';
import { runPaths } from './run_dir.js';
import type { NetIndex } from '../distill/colad.js';
import { buildColadNetwork, coladNetworkTensors, coladRunWeights } from '../build/colad.js';

export interface ModelFiles {
  /** null: the config embedded in the weights file (`info.resolvedConfig`, written by the trainer) */
  configPath: string | null;
  /** a run directory or a .safetensors file (a run directory resolves to its best, else last, weights) */
  weights: string | null;
  /** the run directory outputs default into; null: the config's runs/<name> */
  runDir: string | null;
}

/**
 * Where config and weights come from:
 * - `run` (a run directory): its config.yaml, and its weights unless `weights` is given;
 * - `weights` a run directory: as `run`; a file inside a run's weights/ folder: the run's config; any other file:
 *   `config`, else the config the trainer embedded in it;
 * - only `config`: the weights of its run, runs/<name> (decided once the config is read).
 * An explicit `config` always wins over a run's config.yaml.
 */
export function resolveModelFiles(o: { run?: string; config?: string; weights?: string }): ModelFiles {
  const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();
  const runConfig = (dir: string): string => {
    const p = join(dir, 'config.yaml');
    if (!existsSync(p)) throw new UsageError(`${dir}: not a run directory (no config.yaml)`);
    return p;
  };
  if (o.run !== undefined) {
    if (!existsSync(o.run)) throw new UsageError(`run directory not found: ${o.run}`);
    return { configPath: o.config ?? runConfig(o.run), weights: o.weights ?? o.run, runDir: o.run };
  }
  if (o.weights !== undefined) {
    if (!existsSync(o.weights)) throw new UsageError(`weights not found: ${o.weights}`);
    if (isDir(o.weights))
      return { configPath: o.config ?? runConfig(o.weights), weights: o.weights, runDir: o.weights };
    // runs/<name>/weights/<file>.safetensors: the run's config describes it
    const run = dirname(dirname(o.weights));
    const inRun = basename(dirname(o.weights)) === 'weights' && existsSync(join(run, 'config.yaml'));
    if (o.config !== undefined) return { configPath: o.config, weights: o.weights, runDir: inRun ? run : null };
    if (inRun) return { configPath: join(run, 'config.yaml'), weights: o.weights, runDir: run };
    return { configPath: null, weights: o.weights, runDir: null };
  }
  if (o.config === undefined) throw new UsageError('give a run directory, weights= or config=');
  return { configPath: o.config, weights: null, runDir: null };
}

export interface OpenedDetector {
  config: Config;
  /** where the config came from: a YAML file, or `<weights> (embedded config)` */
  configPath: string;
  /** the run directory (outputs default into it) */
  runDir: string;
  weightsPath: string;
  meta: CheckpointMeta | null;
  /** training categories in label order */
  classes: Category[];
  /** CoLAD runs: which of the two networks `model` is; null for a single-network run */
  net: NetIndex | null;
  /** in eval mode; the caller disposes it */
  model: Detector;
}

export interface OpenOptions {
  /** CoLAD runs: the network to open (default: the one the run evaluated, distill.colad.evalNet); unset otherwise */
  net?: NetIndex;
  /** the forward's precision (default fp32: the AP a run recorded; bf16 / auto: faster where the CPU has bf16) */
  precision?: Precision;
}

/**
 * Reads the config (with overrides), the weights and the class list; builds and loads the detector. A CoLAD run
 * trains two networks; one of them is opened: a run directory gives weights/best when it holds that network (the
 * evaluated one), else weights/last (both networks).
 */
export function openDetector(files: ModelFiles, overrides: Overrides = {}, opts: OpenOptions = {}): OpenedDetector {
  const { config, configPath } =
    files.configPath === null
      ? embeddedConfig(files.weights, overrides)
      : { config: loadConfig(files.configPath, overrides), configPath: files.configPath };
  const runDir = files.runDir ?? runPaths(config.runsDir, config.name).dir;
  const net = networkOf(config, configPath, opts.net);
  let source = files.weights;
  if (source === null) {
    if (!existsSync(runDir))
      throw new UsageError(`${files.configPath}: its run ${runDir} does not exist; train it first or pass weights=`);
    source = runDir;
  }
  const weightsPath =
    net !== null && statSync(source).isDirectory() ? coladRunWeights(source, net) : resolveWeights(source);
  const ck = readCheckpoint(weightsPath);
  try {
    const classes =
      checkpointClasses(ck.meta, weightsPath) ?? classesFromConfig(config, configPath, weightsPath, ck.meta);
    let tensors = ck.model;
    if (net !== null) {
      try {
        tensors = coladNetworkTensors(weightsPath, ck, net);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    const model =
      net === null
        ? buildDetector(config.model, classes.length)
        : buildColadNetwork(config, classes.length, net, false);
    try {
      loadModelTensors(weightsPath, model, tensors);
    } catch (e) {
      model.dispose();
      const which = net === null ? 'model' : `network ${net}`;
      throw new UsageError(`${(e as Error).message} (${which} of ${configPath}, ${classes.length} classes)`);
    }
    model.eval();
    model.toDevice(config.device);
    model.precision = resolvePrecision(opts.precision ?? 'fp32', config.device);
    return { config, configPath, runDir, weightsPath, meta: ck.meta, classes, net, model };
  } finally {
    dispose([...ck.model.values(), ck.optimizer]);
  }
}

/** The config a weights file carries (`info.resolvedConfig`), with overrides; a clear error when it has none. */
function embeddedConfig(weights: string | null, overrides: Overrides): { config: Config; configPath: string } {
  if (weights === null) throw new Error('embeddedConfig: no weights file');
  const raw = checkpointConfig(readCheckpointHeader(weights).meta, weights);
  if (raw === null) {
    throw new UsageError(
      `${weights} is a weights file outside a run directory that records no config (saved before ladet embedded it): pass config=CONFIG.yaml too`,
    );
  }
  const configPath = `${weights} (embedded config)`;
  return { config: parseConfig(applyOverrides(raw, overrides), configPath), configPath };
}

/** The CoLAD network to open (asked, else the evaluated one), null for single-network runs; net= elsewhere is an error. */
function networkOf(config: Config, configPath: string, asked: NetIndex | undefined): NetIndex | null {
  const strategy = config.distill.strategy;
  if (strategy === 'colad') return asked ?? config.distill.colad.evalNet;
  if (asked !== undefined) {
    throw new UsageError(
      `net=${asked} picks a network of a CoLAD run, but ${configPath} trains one network (distill.strategy: ${strategy})`,
    );
  }
  return null;
}

/** The training categories of the config's dataset (checkpoints made before classes were recorded). */
function classesFromConfig(
  config: Config,
  configPath: string,
  weightsPath: string,
  meta: CheckpointMeta | null,
): Category[] {
  const ann = dataPath(config.data, 'trainAnn');
  const names = meta?.info?.classes;
  if (!existsSync(ann) && Array.isArray(names) && names.length && names.every((n) => typeof n === 'string')) {
    // class names without category ids (an mmdetection checkpoint's meta.CLASSES): ids 1..N, in label order
    return (names as string[]).map((name, i) => ({ id: i + 1, name }));
  }
  if (!existsSync(ann)) {
    const key = dataPathKey(config.data, 'trainAnn');
    throw new UsageError(
      `${weightsPath} records no class list (info.classes) and the training annotations ${ann} that would give it are missing ` +
        `(${configPath}: set ${key}=${key === 'data.root' ? 'DIR' : 'FILE'})`,
    );
  }
  return classList(readCoco(ann).labels);
}

/** The annotation file and image folder of the config's val split; a clear error when the dataset is missing. */
export function valSplitFiles(config: Config, configPath: string): { annotations: string; images: string } {
  const annotations = dataPath(config.data, 'valAnn');
  const images = dataPath(config.data, 'valImages');
  if (!existsSync(annotations)) {
    const args = Object.entries(config.data.builtinArgs)
      .map(([k, v]) => ` ${k}=${String(v)}`)
      .join('');
    const make = config.data.builtin
      ? ` or make it with \`ladet data make ${config.data.builtin} out=${config.data.root}${args}\``
      : '';
    const key = dataPathKey(config.data, 'valAnn');
    throw new UsageError(
      `${key}: ${annotations} not found (the val split of ${configPath}); set ${key}=${key === 'data.root' ? 'DIR' : 'FILE'}${make}`,
    );
  }
  return { annotations, images };
}
