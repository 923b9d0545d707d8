// Checkpoints are safetensors files: the model's state dict under its PyTorch/mmdetection names (so the file is
// also a plain weights file), plus — for resumable `last` checkpoints — the optimizer's tensors under `optimizer.`
// and the trainer's position in `__metadata__.ladet`. Writes are atomic, so a crash keeps the previous file.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../torch/index.js';
import { dispose } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import type { AnyOptimizer, OptimizerStateMeta } from '../optim/index.js';
import type { LrSchedulerState } from '../optim/index.js';
import { loadSafetensors, saveSafetensors } from '../io/index.js';

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
}

export interface CheckpointMeta {
  format: 'ladet-checkpoint';
  version: 1;
  kind: 'last' | 'best' | 'weights';
  trainer?: TrainerState;
  /** free-form facts (e.g. the teacher of a LAD run) */
  info?: Record<string, unknown>;
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
  let meta: CheckpointMeta | null = null;
  if (metadata?.ladet !== undefined) {
    try {
      meta = JSON.parse(metadata.ladet) as CheckpointMeta;
    } catch {
      dispose([...tensors.values()]);
      throw new Error(`${path}: __metadata__.ladet is not valid JSON`);
    }
  }
  const model = new Map<string, Tensor>();
  const optimizer: Record<string, Tensor> = {};
  for (const [k, v] of tensors) {
    if (k.startsWith(OPT_PREFIX)) optimizer[k.slice(OPT_PREFIX.length)] = v;
    else model.set(k, v);
  }
  return { meta, model, optimizer };
}

/** Loads model weights from a checkpoint file, a weights file, or a run directory (its weights/best, else last). */
export function loadWeights(pathOrRun: string, model: Module, strict = true): CheckpointMeta | null {
  const path = resolveWeights(pathOrRun);
  const ck = readCheckpoint(path);
  try {
    model.loadStateDict(ck.model, strict);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  } finally {
    dispose([...ck.model.values(), ck.optimizer]);
  }
  return ck.meta;
}

/** A run directory resolves to weights/best.safetensors, else weights/last.safetensors. */
export function resolveWeights(pathOrRun: string): string {
  if (existsSync(pathOrRun) && statSync(pathOrRun).isDirectory()) {
    for (const f of ['best.safetensors', 'last.safetensors']) {
      const p = join(pathOrRun, 'weights', f);
      if (existsSync(p)) return p;
    }
    throw new Error(`${pathOrRun}: no weights/best.safetensors or weights/last.safetensors in this run directory`);
  }
  return pathOrRun;
}
