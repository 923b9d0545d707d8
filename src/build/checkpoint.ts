// Checkpoints are safetensors files (a PyTorch `.pth` detector checkpoint is read as a weights file too, see
// pth_checkpoint.ts): the model's state dict under its PyTorch/mmdetection names (so the file is
// also a plain weights file), plus — for resumable `last` checkpoints — the optimizer's tensors under `optimizer.`
// and the trainer's position in `__metadata__.ladet`. Writes are atomic, so a crash keeps the previous file.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../torch/index.js';
import { dispose, isFloating, tidy } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import type { AnyOptimizer, OptimizerStateMeta } from '../optim/index.js';
import type { GradScalerState, LrSchedulerState } from '../optim/index.js';
import { loadSafetensors, readSafetensorsHeader, safetensorsDtypeOf, saveSafetensors } from '../io/index.js';
import type { Category, LabelMap } from '../data/label_map.js';
import { isPthFile, readPthCheckpoint, readPthCheckpointHeader } from './pth_checkpoint.js';

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
  /** fp16 runs: the gradient scaler's scale and growth tracker (torch's GradScaler state_dict) */
  gradScaler?: GradScalerState | null;
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

/**
 * Reads a checkpoint or any safetensors weights file (no ladet metadata => meta null). Caller disposes. Every
 * floating-point tensor, the optimizer's included, must be finite (checkFinite): every weights path (loadWeights,
 * teachers, CoLAD inits, openDetector, resume) reads through here.
 */
export function readCheckpoint(path: string): LoadedCheckpoint {
  if (!existsSync(path)) throw new Error(`checkpoint not found: ${path}`);
  if (statSync(path).isDirectory()) throw new Error(`${path} is a folder; expected a .safetensors file`);
  if (isPthFile(path)) {
    const ck = readPthCheckpoint(path);
    try {
      checkFinite(path, ck.model);
    } catch (e) {
      dispose([...ck.model.values()]);
      throw e;
    }
    return ck;
  }
  const { tensors, metadata } = loadSafetensors(path);
  let meta: CheckpointMeta | null;
  try {
    meta = parseMeta(metadata, path);
    checkFinite(path, tensors);
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
  if (isPthFile(path)) return readPthCheckpointHeader(path);
  const h = readSafetensorsHeader(path);
  return { meta: parseMeta(h.metadata, path), keys: h.entries.map((e) => e.name) };
}

function parseMeta(metadata: Readonly<Record<string, string>> | null, path: string): CheckpointMeta | null {
  if (metadata?.ladet === undefined) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(metadata.ladet);
  } catch {
    throw new Error(`${path}: __metadata__.ladet is not valid JSON`);
  }
  // Only the outline is checked here (the readers of trainer / info check the fields they use): a value of another
  // type would otherwise surface later as a TypeError far from the file.
  const isObject = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObject(raw)) throw new Error(`${path}: __metadata__.ladet must be a JSON object`);
  const m = raw as Record<string, unknown>;
  for (const key of ['trainer', 'info'] as const) {
    if (m[key] !== undefined && !isObject(m[key])) throw new Error(`${path}: __metadata__.ladet ${key} must be a JSON object`);
  }
  return raw as CheckpointMeta;
}

type NamedTensorsIn = ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>;

/**
 * Throws, naming `path` and the tensor, when a floating-point tensor holds NaN or ±Infinity. No trained model,
 * teacher or optimizer state holds one: it is a corrupt file or a diverged run, and loading it would train or
 * predict on garbage without a word (a NaN teacher makes every anchor background). Integer tensors are not checked.
 */
export function checkFinite(path: string, tensors: NamedTensorsIn): void {
  const entries = tensors instanceof Map ? [...(tensors as ReadonlyMap<string, Tensor>)] : Object.entries(tensors as Record<string, Tensor>);
  for (const [name, t] of entries) {
    if (!isFloating(t.dtype)) continue;
    const allFinite = tidy(() => t.isFinite().all().item() === 1);
    if (allFinite) continue;
    const values = tidy(() => t.to('float64').toTypedArray<'float64'>());
    let count = 0;
    let first = -1;
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i] as number)) {
        count++;
        if (first < 0) first = i;
      }
    }
    throw new Error(
      `${path}: tensor '${name}' holds ${count} non-finite value${count === 1 ? '' : 's'} of ${values.length} (element ${first} is ${values[first]}): a corrupt file or a diverged run`,
    );
  }
}

/**
 * Why optimizer state tensors (`state.<i>.<buffer>`, as in a checkpoint's `optimizer.` part) do not have the dtype
 * of the parameter they belong to, or null. Optimizer.loadStateDict casts, so a relabelled tensor would load as
 * garbage; other problems (names, shapes) are left to it.
 */
export function optimizerStateMismatch(optimizer: AnyOptimizer, tensors: NamedTensorsIn): string | null {
  const params = optimizer.paramGroups.flatMap((g) => g.params);
  const entries = tensors instanceof Map ? [...(tensors as ReadonlyMap<string, Tensor>)] : Object.entries(tensors as Record<string, Tensor>);
  for (const [name, t] of entries) {
    const m = /^state\.(0|[1-9]\d*)\./.exec(name);
    const p = m === null ? undefined : params[Number(m[1])];
    if (p !== undefined && p.dtype !== t.dtype) {
      return `'${OPT_PREFIX}${name}' has dtype ${safetensorsDtypeOf(t.dtype)} in the file, its parameter is ${safetensorsDtypeOf(p.dtype)}`;
    }
  }
  return null;
}

/** Throws naming `path` when optimizerStateMismatch finds a tensor of the wrong dtype. */
export function checkOptimizerTensors(path: string, optimizer: AnyOptimizer, tensors: NamedTensorsIn): void {
  const why = optimizerStateMismatch(optimizer, tensors);
  if (why !== null) throw new Error(`${path}: the optimizer state does not fit this run: ${why}`);
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
 * Why `tensors` do not fit `model` (its state dict keys, shapes and dtypes), or null when they do. Names the first
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
    // Exact dtype: no conversion, so a tensor relabelled in the header (F32 bytes read as I32 or F16) is refused.
    if (v.dtype !== dst.dtype) {
      return `'${k}' has dtype ${safetensorsDtypeOf(v.dtype)} in the file, the model expects ${safetensorsDtypeOf(dst.dtype)} (ladet converts no dtype on loading)`;
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

/**
 * Copies `tensors` into `model` after checking that every key, shape and dtype fits and that the values are finite;
 * errors name `path` and the key.
 */
export function loadModelTensors(path: string, model: Module, tensors: ReadonlyMap<string, Tensor>, strict = true): void {
  const why = stateDictMismatch(model, tensors, strict);
  if (why !== null) throw new Error(`${path}: the weights do not fit this model: ${why}`);
  checkFinite(path, tensors);
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

/** The weights a run directory offers to readers (a teacher, `ladet test`): weights/best.safetensors, else
 * weights/last.safetensors; null when it has neither. */
export function runWeights(runDir: string): string | null {
  for (const f of ['best.safetensors', 'last.safetensors']) {
    const p = join(runDir, 'weights', f);
    if (existsSync(p)) return p;
  }
  return null;
}
