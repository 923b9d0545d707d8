// A PyTorch `.pth` as a ladet weights file: what `weights=FILE.pth` (ladet test / predict / export,
// TrainedDetector.open) and `distill.teacher.weights` read. A released mmdetection detector checkpoint
// ({meta, state_dict}, PAA / ATSS heads) already uses ladet's names, so the state dict loads as it is once a
// DataParallel `module.` is stripped, an mmdetection LAD teacher's `teacher_model.*` dropped and half / double floats
// widened to float32. Its class names (meta.CLASSES, meta.dataset_meta.classes) become info.classes. A backbone-only
// file (torchvision ImageNet weights) is refused here with a pointer to model.backbone.init.
import { closeSync, openSync, readSync } from 'node:fs';
import type { Tensor } from '../torch/index.js';
import { dispose } from '../torch/index.js';
import { rawToTensor, readPthStateDict } from '../io/index.js';
import { checkpointClassNames, detectLayout, LAYOUT_WORDS, toF32 } from './key_maps.js';
import type { CheckpointMeta, LoadedCheckpoint } from './checkpoint.js';

const WIDENED = new Set(['F16', 'BF16', 'F64']);

/** Whether a file is a torch.save checkpoint (a zip, or a legacy pickle), from its first bytes; else safetensors. */
export function isPthFile(path: string): boolean {
  const head = new Uint8Array(4);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  const zip = head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
  // a pickle starts with PROTO (0x80) and its protocol (2 for torch's legacy format)
  const pickle = head[0] === 0x80 && (head[1] as number) <= 5;
  return zip || pickle;
}

/** The state dict of a `.pth` under ladet's names, and what to say about it; throws for a backbone-only file. */
function pthStateDict(path: string) {
  const r = readPthStateDict(path);
  const keyOf = (k: string): string => (k.startsWith('module.') ? k.slice('module.'.length) : k);
  const kept = [...r.tensors].filter(([k]) => !keyOf(k).startsWith('teacher_model.'));
  let layout;
  try {
    layout = detectLayout(kept.map(([k]) => keyOf(k)));
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
  return { kept, keyOf, meta };
}

/** A `.pth` detector checkpoint as readCheckpoint returns a safetensors one (no optimizer state). Caller disposes. */
export function readPthCheckpoint(path: string): LoadedCheckpoint {
  const { kept, keyOf, meta } = pthStateDict(path);
  const model = new Map<string, Tensor>();
  try {
    for (const [k, raw] of kept) {
      const name = keyOf(k);
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
  const { kept, keyOf, meta } = pthStateDict(path);
  return { meta, keys: kept.map(([k]) => keyOf(k)) };
}
