// `ladet convert`: PyTorch `.pth` <-> safetensors, names kept. ladet's names are mmdetection's for a detector and
// torchvision's for a ResNet, so converting is a change of container, not of names: a DataParallel `module.` is
// stripped, an mmdetection LAD teacher (`teacher_model.*`) and optimizer state are dropped, dtypes are kept.
// .pth -> .safetensors records the source file, its sha256, its layout and class names in ladet's metadata, so the
// result is a ladet weights file. .safetensors -> .pth writes what torch.load reads: a detector as an mmdetection
// checkpoint ({meta: {CLASSES}, state_dict}), a backbone or classifier as a bare state dict (torchvision's
// `load_state_dict(strict=True)` takes it as it is).
import { basename } from 'node:path';
import {
  loadSafetensorsRaw,
  readPthStateDict,
  serializeSafetensorsRaw,
  serializePth,
  type RawTensor,
} from '../io/index.js';
import type { CheckpointMeta } from './checkpoint.js';
import { isPthFile } from './pth_checkpoint.js';
import { checkpointClassNames, detectLayout, LAYOUT_WORDS, weightKey, type Layout } from './key_maps.js';
import { sha256File } from './teacher.js';

export interface ConvertOptions {
  /** CoLAD checkpoints hold two networks (`net1.*`, `net2.*`): the one to write */
  net?: 1 | 2;
  /** 'backbone': only the `backbone.*` tensors, under torchvision's bare names */
  part?: 'backbone';
}

export interface Converted {
  /** the bytes to write to OUT */
  bytes: Uint8Array;
  direction: 'pth->safetensors' | 'safetensors->pth';
  layout: string;
  tensors: number;
  dropped: { key: string; why: string }[];
  classes: string[] | null;
}

/** Keeps, renames or drops each tensor; returns the kept ones in file order and what was dropped. */
function select(
  tensors: ReadonlyMap<string, RawTensor>,
  opts: ConvertOptions,
  source: string,
): { kept: Map<string, RawTensor>; dropped: { key: string; why: string }[] } {
  const kept = new Map<string, RawTensor>();
  const dropped: { key: string; why: string }[] = [];
  const paired = [...tensors.keys()].some((k) => k.startsWith('net1.') || k.startsWith('net2.'));
  if (paired && opts.net === undefined)
    throw new Error(`${source}: a CoLAD checkpoint with two networks (net1.*, net2.*): choose one with net=1|2`);
  for (const [orig, raw] of tensors) {
    const w = weightKey(orig);
    if ('why' in w) {
      dropped.push({ key: orig, why: w.why });
      continue;
    }
    let k = w.key;
    if (paired && !k.startsWith(`net${opts.net}.`)) dropped.push({ key: orig, why: 'the other CoLAD network' });
    else {
      if (paired) k = k.slice('net1.'.length);
      if (opts.part === 'backbone') {
        if (!k.startsWith('backbone.')) {
          dropped.push({ key: orig, why: 'not part of the backbone (part=backbone)' });
          continue;
        }
        k = k.slice('backbone.'.length);
      }
      if (kept.has(k)) throw new Error(`${source}: '${orig}' and another tensor both become '${k}'`);
      kept.set(k, raw);
    }
  }
  if (kept.size === 0) throw new Error(`${source}: no tensors left to write`);
  return { kept, dropped };
}

function layoutOf(keys: readonly string[], source: string): Layout {
  try {
    return detectLayout(keys);
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`, { cause: e });
  }
}

/** Reads IN (a `.pth` or a safetensors file, told apart by content) and returns OUT's bytes in the other format. */
export function convertWeights(input: string, opts: ConvertOptions = {}): Converted {
  if (isPthFile(input)) {
    const r = readPthStateDict(input);
    const { kept, dropped } = select(r.tensors, opts, input);
    const layout = layoutOf([...kept.keys()], input);
    const classes = checkpointClassNames(r.meta);
    const meta: CheckpointMeta = {
      format: 'ladet-checkpoint',
      version: 1,
      kind: 'weights',
      info: {
        ...(classes ? { classes } : {}),
        source: {
          file: basename(input),
          sha256: sha256File(input),
          format: 'pth',
          container: r.container,
          layout: LAYOUT_WORDS[layout],
        },
      },
    };
    return {
      bytes: serializeSafetensorsRaw(kept, { ladet: JSON.stringify(meta) }),
      direction: 'pth->safetensors',
      layout: LAYOUT_WORDS[layout],
      tensors: kept.size,
      dropped,
      classes,
    };
  }
  const raw = loadSafetensorsRaw(input);
  const { kept, dropped } = select(raw.tensors, opts, input);
  const layout = layoutOf([...kept.keys()], input);
  const classes = classNamesOf(raw.metadata?.ladet, input);
  // a detector goes out as mmdetection saves one; a backbone or classifier as torchvision's bare state dict
  const extra =
    layout === 'detector'
      ? { meta: { ...(classes ? { CLASSES: classes } : {}), ladet: { source: basename(input), sha256: sha256File(input) } } }
      : undefined;
  return {
    bytes: serializePth(kept, extra),
    direction: 'safetensors->pth',
    layout: LAYOUT_WORDS[layout],
    tensors: kept.size,
    dropped,
    classes,
  };
}

/** Class names from ladet's metadata (info.classes: {id, name} entries or bare names), or null. */
function classNamesOf(ladet: string | undefined, source: string): string[] | null {
  if (ladet === undefined) return null;
  let meta: unknown;
  try {
    meta = JSON.parse(ladet);
  } catch {
    throw new Error(`${source}: __metadata__.ladet is not valid JSON`);
  }
  const classes = (meta as CheckpointMeta | null)?.info?.classes;
  if (!Array.isArray(classes)) return null;
  const names = classes.map((c: unknown) => (typeof c === 'string' ? c : (c as { name?: unknown } | null)?.name));
  return names.every((n): n is string => typeof n === 'string') ? names : null;
}

