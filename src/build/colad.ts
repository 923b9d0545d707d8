// CoLAD from a config: network 2's model section (a preset path, an inline section, or network 1's), the pair with
// optional starting weights, and single networks rebuilt from a CoLAD run for testing (`ladet test net=1|2`).
import { existsSync, statSync } from 'node:fs';
import { type Tensor, dispose } from '../torch/index.js';
import { join } from 'node:path';
import { loadConfig, teacherAssignerRefusal, type Config } from '../config/schema.js';
import { buildDetector } from './model.js';
import {
  loadModelTensors,
  loadWeights,
  readCheckpoint,
  readCheckpointHeader,
  type CheckpointMeta,
  type LoadedCheckpoint,
} from './checkpoint.js';
import type { Detector } from '../models/detector.js';
import { CoLADPair, type NetIndex } from '../distill/colad.js';

type ModelSection = Config['model'];

/** The model section of network k: `model` for 1; distill.colad.net2 (path or inline) or `model` for 2. */
export function coladModel(config: Config, k: NetIndex): ModelSection {
  if (k === 1) return config.model;
  const net2 = config.distill.colad.net2;
  if (net2 === undefined) return config.model;
  if (typeof net2 !== 'string') return net2;
  if (!existsSync(net2)) throw new Error(`distill.colad.net2: ${net2} not found`);
  return loadConfig(net2).model;
}

/** Checks that must fail before any data is made: network 2's preset, equal anchors, the init weights exist. */
export function precheckColad(config: Config): void {
  // any assigner that reads network outputs can co-learn (distill/colad.ts takes it as a CostAssigner)
  const refused = teacherAssignerRefusal(config);
  if (refused !== null) throw new Error(refused);
  const m2 = coladModel(config, 2);
  const a = JSON.stringify(config.model.anchors);
  const b = JSON.stringify(m2.anchors);
  if (a !== b) throw new Error(`distill.colad.net2: its anchors ${b} differ from model.anchors ${a}; both networks share one assignment`);
  const c = config.distill.colad;
  for (const [key, path] of [['net1Init', c.net1Init], ['net2Init', c.net2Init]] as const) {
    if (path !== undefined && !existsSync(path)) throw new Error(`distill.colad.${key}: ${path} not found`);
  }
}

/** Builds network k of a CoLAD config with its random init (and its starting weights when colad.net{k}Init is set). */
export function buildColadNetwork(config: Config, numClasses: number, k: NetIndex, withInit = true): Detector {
  const init = k === 1 ? config.distill.colad.net1Init : config.distill.colad.net2Init;
  // model.backbone.init (of network k's model section) unless starting weights replace the whole network anyway
  const net = buildDetector(coladModel(config, k), numClasses, { init: withInit && init === undefined });
  if (withInit && init !== undefined) {
    try {
      loadWeights(init, net, true);
    } catch (e) {
      net.dispose();
      throw new Error(`distill.colad.net${k}Init: ${(e as Error).message}`, { cause: e });
    }
  }
  return net;
}

/** Both networks under one module (network 1 is built first, so the two random inits differ). */
export function buildColadPair(config: Config, numClasses: number): CoLADPair {
  precheckColad(config);
  const net1 = buildColadNetwork(config, numClasses, 1);
  let net2: Detector | null = null;
  try {
    net2 = buildColadNetwork(config, numClasses, 2);
    return new CoLADPair(net1, net2, config.distill.colad.evalNet);
  } catch (e) {
    net1.dispose();
    net2?.dispose();
    throw e;
  }
}

/**
 * The CoLAD networks a weights file holds, from its header alone: both when it has `net1.` / `net2.` keys (a `last`
 * checkpoint); else the one its metadata names as info.colad.evalNet (a `best` checkpoint, unprefixed); else none.
 */
export function coladNetworksIn(path: string): NetIndex[] {
  const { meta, keys } = readCheckpointHeader(path);
  const paired = ([1, 2] as const).filter((k) => keys.some((key) => key.startsWith(`net${k}.`)));
  if (paired.length) return paired;
  const held = (meta?.info?.colad as { evalNet?: unknown } | undefined)?.evalNet;
  return held === 1 || held === 2 ? [held] : [];
}

/**
 * The file of a CoLAD run directory that holds network k: weights/best when it does (the network the run
 * evaluated, at its best epoch), else weights/last (both networks, latest epoch).
 */
export function coladRunWeights(dir: string, k: NetIndex): string {
  const best = join(dir, 'weights', 'best.safetensors');
  if (existsSync(best) && coladNetworksIn(best).includes(k)) return best;
  const last = join(dir, 'weights', 'last.safetensors');
  if (existsSync(last)) return last;
  throw new Error(`${dir}: no weights/last.safetensors, and no weights/best.safetensors holding network ${k}`);
}

/**
 * Network k's tensors among a checkpoint's (`model`, read from `path`): the `net{k}.` ones with the prefix stripped,
 * or all of them when the file holds network k alone (coladNetworksIn). The tensors are the checkpoint's own.
 */
export function coladNetworkTensors(path: string, ck: LoadedCheckpoint, k: NetIndex): Map<string, Tensor> {
  const keys = [...ck.model.keys()];
  const paired = keys.some((key) => key.startsWith('net1.') || key.startsWith('net2.'));
  if (paired) {
    const prefix = `net${k}.`;
    const sd = new Map([...ck.model].filter(([key]) => key.startsWith(prefix)).map(([key, v]) => [key.slice(prefix.length), v]));
    if (sd.size === 0) throw new Error(`${path}: no '${prefix}' weights (network ${k})`);
    return sd;
  }
  const held = (ck.meta?.info?.colad as { evalNet?: number } | undefined)?.evalNet;
  if (held !== k) {
    throw new Error(`${path}: holds a single network${held ? ` (network ${held})` : ''}, not network ${k} of a CoLAD run; use the run's weights/last.safetensors`);
  }
  return ck.model;
}

/**
 * Network k of a CoLAD run with its trained weights. pathOrRun: a .safetensors file (a `last` checkpoint gives either
 * network, a `best` one only the network it holds) or a run directory (coladRunWeights picks the file).
 */
export function loadColadNetwork(config: Config, numClasses: number, k: NetIndex, pathOrRun: string): { net: Detector; meta: CheckpointMeta | null; path: string } {
  const path = existsSync(pathOrRun) && statSync(pathOrRun).isDirectory() ? coladRunWeights(pathOrRun, k) : pathOrRun;
  const ck = readCheckpoint(path);
  try {
    const sd = coladNetworkTensors(path, ck, k);
    const net = buildColadNetwork(config, numClasses, k, false);
    try {
      loadModelTensors(path, net, sd);
    } catch (e) {
      net.dispose();
      throw new Error(`${(e as Error).message} (network ${k})`, { cause: e });
    }
    return { net, meta: ck.meta, path };
  } finally {
    dispose([...ck.model.values(), ck.optimizer]);
  }
}
