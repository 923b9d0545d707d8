// Checkpoints are safetensors files: the model's state dict under its PyTorch/mmdetection names (so the file is
// also a plain weights file), plus — for resumable `last` checkpoints — the optimizer's tensors under `optimizer.`
// and the trainer's position in `__metadata__.ladet`. Writes are atomic, so a crash keeps the previous file.
import { existsSync, statSync } from 'node:fs';
import type { Tensor } from '../torch/index.js';
import { dispose } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import type { AnyOptimizer, OptimizerStateMeta } from '../optim/index.js';
import type { LrSchedulerState } from '../optim/index.js';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors } from '../io/index.js';
import type { Category, LabelMap } from '../data/label-map.js';
import { runWeights } from './run_dir.js';

const OPT_PREFIX = 'optimizer.';

export interface TrainerState {
  /** epoch to run next (0-based) */
  epoch: number;
  /** batch of that epoch to run next */
  batch: number;
  /** optimizer steps taken so far */
  iter: number;
  /** best validation mAP so far and its epoch (1-based), or null */
  best: { metric: number; epoch: number } | null;
  scheduler: LrSchedulerState | null;
  optimizer: OptimizerStateMeta | null;
  /** sha256 of the resolved config, checked on resume */
  configHash: string;
  /** the running loss sums of the epoch a stop interrupted (null at an epoch boundary): a resumed epoch's
   * metrics.csv row then averages all its batches, as the uninterrupted run's does */
  epochLog?: { sums: Record<string, number>; count: number; seconds: number } | null;
}

export interface CheckpointMeta {
  format: 'ladet-checkpoint';
  version: 1;
  kind: 'last' | 'best' | 'weights';
  trainer?: TrainerState;
  /** free-form facts (e.g. the teacher of a LAD run); read back: `classes` (a class list, see classList) and
   * `resolvedConfig` (the whole config the run trained with, so a weights file alone can be opened) */
  info?: Record<string, unknown>;
}

/** The training categories in label order (label i predicts classes[i]), as stored in `info.classes`. */
export function classList(labels: LabelMap): Category[] {
  return labels.names.map((name, i) => ({ id: labels.categoryIds[i] as number, name }));
}

/** `info.classes` of a checkpoint when present and well formed; null when absent. Throws naming `path` if malformed. */
export function checkpointClasses(meta: CheckpointMeta | null, path: string): Category[] | null {
  const raw = meta?.info?.classes;
  if (raw === undefined) return null;
  // The first checkpoints of ladet recorded bare class names (no category ids): use the config's annotations then.
  if (Array.isArray(raw) && raw.length > 0 && raw.every((c: unknown) => typeof c === 'string')) return null;
  const ok =
    Array.isArray(raw) &&
    raw.length > 0 &&
    raw.every((c: unknown) => c !== null && typeof c === 'object' && Number.isInteger((c as Category).id) && typeof (c as Category).name === 'string');
  if (!ok) throw new Error(`${path}: __metadata__.ladet info.classes must be a non-empty list of {id, name}`);
  return (raw as Category[]).map((c) => ({ id: c.id, name: c.name }));
}

/** `info.resolvedConfig` of a checkpoint (validated by the caller), null when absent; throws naming `path` if not a mapping. */
export function checkpointConfig(meta: CheckpointMeta | null, path: string): Record<string, unknown> | null {
  const raw = meta?.info?.resolvedConfig;
  if (raw === undefined) return null;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${path}: __metadata__.ladet info.resolvedConfig must be a config mapping`);
  return raw as Record<string, unknown>;
}

export function saveCheckpoint(
  path: string,
  model: Module,
  meta: CheckpointMeta,
  optimizer: AnyOptimizer | null = null,
): void {
  const tensors: Record<string, Tensor> = {};
  for (const [k, v] of model.stateDict()) tensors[k] = v;
  let owned: Record<string, Tensor> = {};
  if (optimizer !== null) {
    const sd = optimizer.stateDict();
    owned = sd.tensors;
    for (const [k, v] of Object.entries(sd.tensors)) tensors[OPT_PREFIX + k] = v;
    if (meta.trainer) meta.trainer.optimizer = sd.meta;
  }
  try {
    saveSafetensors(path, tensors, { ladet: JSON.stringify(meta) });
  } finally {
    dispose(owned);
  }
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta | null;
  model: Map<string, Tensor>;
  optimizer: Record<string, Tensor>;
}

/** Reads a checkpoint or any safetensors weights file (no ladet metadata => meta null). Caller disposes. */
export function readCheckpoint(path: string): LoadedCheckpoint {
  if (!existsSync(path)) throw new Error(`checkpoint not found: ${path}`);
  if (statSync(path).isDirectory()) throw new Error(`${path} is a folder; expected a .safetensors file`);
  const { tensors, metadata } = loadSafetensors(path);
  let meta: CheckpointMeta | null;
  try {
    meta = parseMeta(metadata, path);
  } catch (e) {
    dispose([...tensors.values()]);
    throw e;
  }
  const model = new Map<string, Tensor>();
  const optimizer: Record<string, Tensor> = {};
  for (const [k, v] of tensors) {
    if (k.startsWith(OPT_PREFIX)) optimizer[k.slice(OPT_PREFIX.length)] = v;
    else model.set(k, v);
  }
  return { meta, model, optimizer };
}

/** A checkpoint's metadata and tensor names, from its header alone (no tensor data is read). */
export function readCheckpointHeader(path: string): { meta: CheckpointMeta | null; keys: string[] } {
  if (!existsSync(path)) throw new Error(`checkpoint not found: ${path}`);
  const h = readSafetensorsHeader(path);
  return { meta: parseMeta(h.metadata, path), keys: h.entries.map((e) => e.name) };
}

function parseMeta(metadata: Readonly<Record<string, string>> | null, path: string): CheckpointMeta | null {
  if (metadata?.ladet === undefined) return null;
  try {
    return JSON.parse(metadata.ladet) as CheckpointMeta;
  } catch {
    throw new Error(`${path}: __metadata__.ladet is not valid JSON`);
  }
}

/** Loads model weights from a checkpoint file, a weights file, or a run directory (its weights/best, else last). */
export function loadWeights(pathOrRun: string, model: Module, strict = true): CheckpointMeta | null {
  const path = resolveWeights(pathOrRun);
  const ck = readCheckpoint(path);
  try {
    loadModelTensors(path, model, ck.model, strict);
  } finally {
    dispose([...ck.model.values(), ck.optimizer]);
  }
  return ck.meta;
}

/**
 * Why `tensors` do not fit `model` (its state dict keys and shapes), or null when they do. Names the first
 * offending key of each kind, so a wrong-architecture file gives a short, precise message.
 */
export function stateDictMismatch(model: Module, tensors: ReadonlyMap<string, Tensor>, strict = true): string | null {
  const own = model.stateDict();
  for (const [k, dst] of own) {
    const v = tensors.get(k);
    if (v === undefined) continue;
    const a = dst.shape;
    const b = v.shape;
    if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
      return `'${k}' has shape [${b.join(', ')}] in the file, the model expects [${a.join(', ')}]`;
    }
  }
  if (!strict) return null;
  const missing = [...own.keys()].filter((k) => !tensors.has(k));
  const unexpected = [...tensors.keys()].filter((k) => !own.has(k));
  const parts: string[] = [];
  const more = (n: number): string => (n > 1 ? ` (and ${n - 1} more)` : '');
  if (missing.length) parts.push(`the model's key '${missing[0]}' is missing from the file${more(missing.length)}`);
  if (unexpected.length) parts.push(`the file's key '${unexpected[0]}' is not in the model${more(unexpected.length)}`);
  return parts.length ? parts.join('; ') : null;
}

/** Copies `tensors` into `model` after checking that every key and shape fits; errors name `path` and the key. */
export function loadModelTensors(path: string, model: Module, tensors: ReadonlyMap<string, Tensor>, strict = true): void {
  const why = stateDictMismatch(model, tensors, strict);
  if (why !== null) throw new Error(`${path}: the weights do not fit this model: ${why}`);
  model.loadStateDict(tensors, strict);
}

/** A run directory resolves to weights/best.safetensors, else weights/last.safetensors. */
export function resolveWeights(pathOrRun: string): string {
  if (existsSync(pathOrRun) && statSync(pathOrRun).isDirectory()) {
    const p = runWeights(pathOrRun);
    if (p !== null) return p;
    throw new Error(`${pathOrRun}: no weights/best.safetensors or weights/last.safetensors in this run directory`);
  }
  return pathOrRun;
}
