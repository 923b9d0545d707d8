// A PyTorch `.pth` as a ladet weights file: what `weights=FILE.pth` (ladet test / predict / export,
// TrainedDetector.open) and `distill.teacher.weights` read. A released mmdetection detector checkpoint
// ({meta, state_dict}, PAA / ATSS heads) already uses ladet's names, so the state dict loads as it is once a
// DataParallel `module.` is stripped, an mmdetection LAD teacher's `teacher_model.*` dropped and half / double floats
// widened to float32. Its class names (meta.CLASSES, meta.dataset_meta.classes) become info.classes. A backbone-only
// file (torchvision ImageNet weights) is refused here with a pointer to model.backbone.init.
import { closeSync, openSync, readSync } from 'node:fs';
import type { Tensor } from '../torch/index.js';
import { dispose } from '../torch/index.js';
import { rawToTensor, readPthStateDict, type RawTensor } from '../io/index.js';
import { checkpointClassNames, detectLayout, LAYOUT_WORDS, toF32, weightKey } from './key_maps.js';
import type { CheckpointMeta, LoadedCheckpoint } from './checkpoint.js';

const WIDENED = new Set(['F16', 'BF16', 'F64']);

/**
 * Whether a file is a torch.save checkpoint, from its first bytes; else it is read as safetensors. A safetensors file
 * starts with its header's length (u64, little-endian) and then '{' at byte 8, so each test below also rules that out:
 * a zip's byte 8 is its compression method (0 or 8 for torch.save, never 0x7b), and the legacy format's first pickle
 * (PROTO 2, LONG1 of 10 bytes) holds torch's magic number 0x1950a86a20f9469cfc6c.
 */
export function isPthFile(path: string): boolean {
  const head = new Uint8Array(14);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const starts = (bytes: readonly number[]): boolean => n >= bytes.length && bytes.every((b, i) => head[i] === b);
  if (starts([0x50, 0x4b, 0x03, 0x04]) && head[8] !== 0x7b) return true;
  return starts([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
}

/** The state dict of a `.pth` under ladet's names, and what to say about it; throws for a backbone-only file. */
function pthStateDict(path: string) {
  const r = readPthStateDict(path);
  const kept: [string, RawTensor][] = [];
  for (const [k, raw] of r.tensors) {
    const w = weightKey(k);
    if ('key' in w) kept.push([w.key, raw]);
  }
  let layout;
  try {
    layout = detectLayout(kept.map(([k]) => k));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`, { cause: e });
  }
  if (layout !== 'detector')
    throw new Error(
      `${path}: a ${LAYOUT_WORDS[layout]}, not a detector; initialise a backbone with model.backbone.init=${path}`,
    );
  const classes = checkpointClassNames(r.meta);
  const meta: CheckpointMeta = {
    format: 'ladet-checkpoint',
    version: 1,
    kind: 'weights',
    // bare names: the readers take category ids from the config's annotations when they have them
    info: { ...(classes ? { classes } : {}), source: { format: 'pth', container: r.container } },
  };
  return { kept, meta };
}

/** A `.pth` detector checkpoint as readCheckpoint returns a safetensors one (no optimizer state). Caller disposes. */
export function readPthCheckpoint(path: string): LoadedCheckpoint {
  const { kept, meta } = pthStateDict(path);
  const model = new Map<string, Tensor>();
  try {
    for (const [name, raw] of kept) {
      model.set(name, rawToTensor(WIDENED.has(raw.dtype) ? toF32(raw) : raw, name, path));
    }
  } catch (e) {
    dispose([...model.values()]);
    throw e;
  }
  return { meta, model, optimizer: {} };
}

/** A `.pth` checkpoint's metadata and tensor names (under ladet's names). */
export function readPthCheckpointHeader(path: string): { meta: CheckpointMeta; keys: string[] } {
  const { kept, meta } = pthStateDict(path);
  return { meta, keys: kept.map(([k]) => k) };
}
