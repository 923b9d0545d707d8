// Loading pretrained weights into a module: a `.pth` (PyTorch's format, src/io/pth.ts) or `.safetensors` file from
// torchvision, mmdetection, mmcv or ladet, mapped onto ladet's names by key_maps.ts and loaded strictly. Used by
// `model.backbone.init` (ImageNet-style initialisation) and by the cross-checks against PyTorch.
import type { Tensor } from '../torch/index.js';
import { dispose } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import { loadSafetensorsRaw, rawToTensor, readPthStateDict, type RawTensor } from '../io/index.js';
import { loadModelTensors } from './checkpoint.js';
import {
  checkpointClassNames,
  mapCheckpoint,
  targetEntries,
  type MappedCheckpoint,
  type PretrainedPart,
  type PretrainedReport,
} from './key_maps.js';

export * from './key_maps.js';

/** A checkpoint's tensors and mmdetection meta: `.safetensors` read directly, anything else as a PyTorch `.pth`. */
function readAny(path: string): { tensors: Map<string, RawTensor>; meta: Record<string, unknown> | null } {
  if (path.endsWith('.safetensors')) return { tensors: loadSafetensorsRaw(path).tensors, meta: null };
  const r = readPthStateDict(path);
  return { tensors: r.tensors, meta: r.meta };
}

/**
 * Loads a pretrained checkpoint (`.pth` / `.pt` / `.safetensors`) into `model`: part 'backbone' fills the model's
 * `backbone` child (or the model itself when it is a bare backbone) from torchvision, mmdetection, mmcv or ladet
 * weights; part 'detector' fills the whole detector from an mmdetection / ladet detector checkpoint. Strict: every
 * target tensor is set (num_batches_tracked filled with 0 when the file lacks it), errors name the first key that does
 * not fit. Returns what was mapped, dropped, filled and converted.
 */
export function loadPretrained(path: string, model: Module, opts: { part: PretrainedPart }): PretrainedReport {
  const part = opts.part;
  const dest = part === 'backbone' ? (model.child('backbone') ?? model) : model;
  const file = readAny(path);
  let mapped: MappedCheckpoint;
  try {
    mapped = mapCheckpoint(file.tensors, targetEntries(dest), part);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`, { cause: e });
  }
  const ts = new Map<string, Tensor>();
  try {
    for (const [k, raw] of mapped.tensors) ts.set(k, rawToTensor(raw, k, path));
    loadModelTensors(path, dest, ts, true);
  } finally {
    dispose(ts);
  }
  return { ...mapped.report, path, part, classes: checkpointClassNames(file.meta) };
}
