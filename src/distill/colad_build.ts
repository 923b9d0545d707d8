// CoLAD from a config: network 2's model section (a preset path, an inline section, or network 1's), the pair with
// optional starting weights, and single networks rebuilt from a CoLAD run for testing (`ladet test net=1|2`).
import { existsSync } from 'node:fs';
import { type Tensor, dispose } from '../torch/index.js';
import { join } from 'node:path';
import { loadConfig, type Config } from '../engine/config.js';
import { buildDetector } from '../engine/build.js';
import { loadWeights, readCheckpoint, resolveWeights, type CheckpointMeta } from '../engine/checkpoint.js';
import type { Detector } from '../models/detector.js';
import { CoLADPair, type NetIndex } from './colad.js';

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
  if (config.assigner.type !== 'paa') throw new Error(`assigner.type: CoLAD shares a PAA assignment; '${config.assigner.type}' reads no network outputs`);
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
  const net = buildDetector(coladModel(config, k), numClasses);
  const init = k === 1 ? config.distill.colad.net1Init : config.distill.colad.net2Init;
  if (withInit && init !== undefined) {
    try {
      loadWeights(init, net, true);
    } catch (e) {
      net.dispose();
      throw new Error(`distill.colad.net${k}Init: ${(e as Error).message}`);
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
 * Network k of a CoLAD run, weights from a checkpoint: a `last` checkpoint (or any file with `net1.` / `net2.` keys)
 * gives either network, its prefix stripped; a `best` checkpoint holds only the evaluated network (unprefixed),
 * recorded in its metadata as info.colad.evalNet. pathOrRun: a .safetensors file or a run directory (its
 * weights/last is used, since only it holds both networks).
 */
export function loadColadNetwork(config: Config, numClasses: number, k: NetIndex, pathOrRun: string): { net: Detector; meta: CheckpointMeta | null } {
  const path = existsSync(pathOrRun) && !pathOrRun.endsWith('.safetensors') ? resolveRunLast(pathOrRun) : pathOrRun;
  const ck = readCheckpoint(path);
  const net = buildColadNetwork(config, numClasses, k, false);
  try {
    const prefix = `net${k}.`;
    const paired = [...ck.model.keys()].some((key) => key.startsWith('net1.') || key.startsWith('net2.'));
    let sd: Map<string, Tensor>;
    if (paired) {
      sd = new Map([...ck.model].filter(([key]) => key.startsWith(prefix)).map(([key, v]) => [key.slice(prefix.length), v]));
      if (sd.size === 0) throw new Error(`${path}: no '${prefix}' weights (network ${k})`);
    } else {
      const held = (ck.meta?.info?.colad as { evalNet?: number } | undefined)?.evalNet;
      if (held !== k) {
        throw new Error(`${path}: holds a single network${held ? ` (network ${held})` : ''}, not network ${k} of a CoLAD run; use the run's weights/last.safetensors`);
      }
      sd = ck.model;
    }
    try {
      net.loadStateDict(sd);
    } catch (e) {
      throw new Error(`${path}: network ${k}: ${(e as Error).message}`);
    }
    return { net, meta: ck.meta };
  } catch (e) {
    net.dispose();
    throw e;
  } finally {
    dispose([...ck.model.values(), ck.optimizer]);
  }
}

function resolveRunLast(dir: string): string {
  const p = join(dir, 'weights', 'last.safetensors');
  if (existsSync(p)) return p;
  return resolveWeights(dir);
}
