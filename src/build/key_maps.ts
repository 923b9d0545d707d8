// Key maps for weights from other toolkits: torchvision ResNets, mmdetection detector checkpoints, mmdetection / mmcv
// backbone checkpoints and ladet's own files, as PyTorch `.pth` or safetensors. ladet's parameter names already are
// mmdetection's (and, under `backbone.`, torchvision's), so the mapping is mostly prefixes: detect the source layout,
// strip a DataParallel `module.`, add or strip `backbone.`, drop what the target has no place for (a classifier, a
// detector's neck and head when only the backbone is initialised) and say so. The mapping (mapCheckpoint) is pure
// data (no libtorch), unit-tested on names and shapes; pretrained.ts reads a file and loads the result into a Module.
import type { Module } from '../nn/index.js';
import { SAFETENSORS_DTYPE_BYTES, safetensorsDtypeOf } from '../io/index.js';
import type { RawTensor, SafetensorsDtype } from '../io/safetensors_raw.js';

/** What a checkpoint initialises: the backbone alone (e.g. ImageNet weights) or the whole detector. */
export type PretrainedPart = 'backbone' | 'detector';

/** Shape and dtype of one entry of the target module's state dict. */
export interface TargetEntry {
  shape: readonly number[];
  dtype: SafetensorsDtype;
}

export interface MappingReport {
  /** The detected source layout, in words. */
  source: string;
  /** Checkpoint key -> target key, in checkpoint order. */
  mapped: { from: string; to: string }[];
  /** Checkpoint keys with no place in the target, and why. */
  dropped: { key: string; why: string }[];
  /** Target keys the checkpoint lacks and that were filled (only BatchNorm's `num_batches_tracked`, with 0). */
  missing: string[];
  /** Checkpoint keys whose float dtype was converted to the target's F32. */
  converted: { key: string; from: SafetensorsDtype }[];
  /** Whether a DataParallel `module.` prefix was stripped. */
  strippedModulePrefix: boolean;
}

export interface MappedCheckpoint {
  /** Under the target module's own names, with the target's dtypes. */
  tensors: Map<string, RawTensor>;
  report: MappingReport;
}

export interface PretrainedReport extends MappingReport {
  path: string;
  /** What the module loaded into: 'backbone' (a detector's `backbone` child or a bare backbone) or 'detector'. */
  part: PretrainedPart;
  /** Class names recorded by an mmdetection checkpoint (see checkpointClassNames), or null. */
  classes: string[] | null;
}

const DETECTOR_PARTS = ['backbone.', 'neck.', 'bbox_head.'] as const;
const FLOAT_DTYPES: readonly SafetensorsDtype[] = ['F16', 'BF16', 'F32', 'F64'];

export type Layout = 'detector' | 'backbone-prefixed' | 'torchvision' | 'bare-backbone';

/** Each layout in words, for reports and messages. */
export const LAYOUT_WORDS: Record<Layout, string> = {
  detector: 'detector state dict (backbone.* / neck.* / bbox_head.*: mmdetection or ladet names)',
  'backbone-prefixed': 'backbone-only checkpoint (backbone.* names: mmdetection / mmcv / ladet)',
  torchvision: 'torchvision ResNet (ImageNet classifier: bare names with fc.*)',
  'bare-backbone': 'backbone-only checkpoint (bare ResNet names: mmcv open-mmlab:// / ladet backbone)',
};

/**
 * A checkpoint key as a weight's name: without a DataParallel `module.` prefix; or why the entry holds no weights of
 * the model (optimizer state, an mmdetection LAD checkpoint's teacher). Every reader of foreign checkpoints (the key
 * maps, `.pth` weights files, `ladet convert`) applies this first.
 */
export function weightKey(k: string): { key: string } | { why: string } {
  const key = k.startsWith('module.') ? k.slice('module.'.length) : k;
  if (key.startsWith('optimizer.')) return { why: 'optimizer state, not weights' };
  if (key.startsWith('teacher_model.')) return { why: "an mmdetection LAD teacher's weights, not the student's" };
  return { key };
}

/** The layout a checkpoint's keys (DataParallel `module.` already stripped) are in; throws on none of them. */
export function detectLayout(keys: readonly string[]): Layout {
  if (keys.some((k) => k.startsWith('neck.') || k.startsWith('bbox_head.'))) return 'detector';
  if (keys.some((k) => k.startsWith('backbone.'))) return 'backbone-prefixed';
  if (keys.some((k) => k.startsWith('fc.'))) return 'torchvision';
  if (keys.some((k) => /^(conv1|bn1|layer[1-4])\./.test(k))) return 'bare-backbone';
  throw new Error(
    `unrecognised checkpoint layout (first key '${keys[0] ?? '(none)'}'): expected a torchvision ResNet (conv1.*, ` +
      `layer1.*, fc.*), an mmdetection detector (backbone.*, neck.*, bbox_head.*) or a backbone checkpoint`,
  );
}

/** "ResNet-50" from the block counts (and block type) of ResNet names (`layer3.5.conv3.weight`), or null. */
export function guessResNet(names: Iterable<string>): string | null {
  const blocks = [0, 0, 0, 0];
  let bottleneck = false;
  let any = false;
  for (const n of names) {
    const m = /^layer([1-4])\.(\d+)\.(conv\d)\./.exec(n);
    if (m === null) continue;
    any = true;
    const s = Number(m[1]) - 1;
    blocks[s] = Math.max(blocks[s] as number, Number(m[2]) + 1);
    if (m[3] === 'conv3') bottleneck = true;
  }
  if (!any) return null;
  const table: [string, boolean, number][] = [
    ['2,2,2,2', false, 18],
    ['3,4,6,3', false, 34],
    ['3,4,6,3', true, 50],
    ['3,4,23,3', true, 101],
    ['3,8,36,3', true, 152],
  ];
  const key = blocks.join(',');
  const hit = table.find(([b, bn]) => b === key && bn === bottleneck);
  return hit ? `ResNet-${hit[2]}` : `a ResNet with ${key} ${bottleneck ? 'bottleneck' : 'basic'} blocks`;
}

function fmtShape(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Why the checkpoint is another architecture, in a few words, from both name sets ('' when nothing specific). */
function architectureHint(
  srcNames: Iterable<string>,
  tgtNames: Iterable<string>,
  key?: string,
  src?: readonly number[],
  tgt?: readonly number[],
): string {
  if (key !== undefined && /atss_cls\.(weight|bias)$/.test(key) && src && tgt && src[0] !== tgt[0]) {
    return ` — the checkpoint's head has ${src[0]} class outputs, the model's ${tgt[0]}`;
  }
  const strip = (ns: Iterable<string>): string[] => [...ns].map((n) => n.replace(/^backbone\./, ''));
  const a = guessResNet(strip(srcNames));
  const b = guessResNet(strip(tgtNames));
  if (a !== null && b !== null && a !== b) return ` — the checkpoint is another architecture (${a}?; the model is ${b})`;
  return ' — the checkpoint is another architecture';
}

// ---- dtype conversion to F32 (pure data) ----------------------------------------------------------------------

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return sign * f * 2 ** -24;
  if (e === 31) return f ? NaN : sign * Infinity;
  return sign * (1 + f / 1024) * 2 ** (e - 15);
}

/** A float tensor's values as little-endian F32 bytes (F16, BF16, F64 converted; F32 returned as is). */
export function toF32(raw: RawTensor): RawTensor {
  if (raw.dtype === 'F32') return raw;
  const n = numel(raw.shape);
  const src = new DataView(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength);
  const width = raw.dtype === 'F64' ? 8 : raw.dtype === 'F16' || raw.dtype === 'BF16' ? 2 : 0;
  if (width === 0) throw new Error(`toF32: ${raw.dtype} is not a float dtype`);
  if (raw.data.byteLength !== n * width) {
    throw new Error(`toF32: ${raw.data.byteLength} bytes for ${n} ${raw.dtype} elements of shape ${fmtShape(raw.shape)}`);
  }
  const out = new Uint8Array(n * 4);
  const dst = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    let v: number;
    if (raw.dtype === 'F64') v = src.getFloat64(i * 8, true);
    else if (raw.dtype === 'F16') v = halfToFloat(src.getUint16(i * 2, true));
    else v = new Float32Array(new Uint32Array([src.getUint16(i * 2, true) << 16]).buffer)[0] as number;
    dst.setFloat32(i * 4, v, true);
  }
  return { dtype: 'F32', shape: raw.shape, data: out };
}

// ---- the mapping ----------------------------------------------------------------------------------------------

/**
 * Maps a checkpoint's tensors onto a target module's state dict (`target`: its own names -> shape and dtype; see
 * targetEntries). `part` 'backbone': the target is a backbone (names without `backbone.`), and a detector
 * checkpoint's neck and head are dropped; 'detector': the target is a whole detector under mmdetection's names.
 * Throws, naming the first offending key, when the checkpoint is another architecture (a shape, dtype or name that does
 * not fit) or lacks a target key other than `num_batches_tracked` (absent from old torchvision files: filled with 0).
 */
export function mapCheckpoint(
  tensors: ReadonlyMap<string, RawTensor>,
  target: ReadonlyMap<string, TargetEntry>,
  part: PretrainedPart,
): MappedCheckpoint {
  if (tensors.size === 0) throw new Error('the checkpoint holds no tensors');
  const allKeys = [...tensors.keys()];
  const strippedModulePrefix = allKeys.some((k) => k.startsWith('module.'));
  const keys = allKeys.flatMap((k) => {
    const w = weightKey(k);
    return 'key' in w ? [w.key] : [];
  });
  const layout = detectLayout(keys);
  const bare = layout === 'torchvision' || layout === 'bare-backbone';

  // checkpoint key -> target name, or a reason to drop it
  const place = (k: string): { to: string } | { why: string } => {
    if (part === 'backbone') {
      if (bare) return k.startsWith('fc.') ? { why: 'classifier, not part of a detector backbone' } : { to: k };
      if (k.startsWith('backbone.')) return { to: k.slice('backbone.'.length) };
      if (k.startsWith('neck.') || k.startsWith('bbox_head.')) return { why: 'not part of the backbone' };
      return { why: 'outside backbone.*: not part of the backbone' };
    }
    if (bare) {
      if (k.startsWith('fc.')) return { why: 'classifier, not part of a detector backbone' };
      return { to: `backbone.${k}` };
    }
    if (DETECTOR_PARTS.some((p) => k.startsWith(p))) return { to: k };
    return { why: 'outside backbone.* / neck.* / bbox_head.*: not part of the detector' };
  };

  const placeOrig = (orig: string): { to: string } | { why: string } => {
    const w = weightKey(orig);
    return 'why' in w ? w : place(w.key);
  };

  const out = new Map<string, RawTensor>();
  const report: MappingReport = {
    source: LAYOUT_WORDS[layout],
    mapped: [],
    dropped: [],
    missing: [],
    converted: [],
    strippedModulePrefix,
  };
  const placedNames: string[] = [];
  const from = new Map<string, string>();
  for (const orig of tensors.keys()) {
    const p = placeOrig(orig);
    if ('why' in p) {
      report.dropped.push({ key: orig, why: p.why });
      continue;
    }
    placedNames.push(p.to);
    const prev = from.get(p.to);
    if (prev !== undefined) throw new Error(`'${orig}' and '${prev}' both map to the model's '${p.to}'`);
    from.set(p.to, orig);
  }
  for (const [orig, raw] of tensors) {
    const p = placeOrig(orig);
    if ('why' in p) continue;
    const want = target.get(p.to);
    if (want === undefined) {
      throw new Error(
        `${orig}: in the checkpoint, not in the model (no '${p.to}')${architectureHint(placedNames, target.keys())}`,
      );
    }
    const a = raw.shape;
    const b = want.shape;
    if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
      throw new Error(
        `${orig}: checkpoint ${fmtShape(a)} vs model ${fmtShape(b)}` +
          architectureHint(placedNames, target.keys(), p.to, a, b),
      );
    }
    let value = raw;
    if (raw.dtype !== want.dtype) {
      if (want.dtype === 'F32' && FLOAT_DTYPES.includes(raw.dtype)) {
        value = toF32(raw);
        report.converted.push({ key: orig, from: raw.dtype });
      } else {
        throw new Error(`${orig}: dtype ${raw.dtype} in the checkpoint, the model expects ${want.dtype}`);
      }
    }
    out.set(p.to, value);
    report.mapped.push({ from: orig, to: p.to });
  }

  const absent = [...target.keys()].filter((k) => !out.has(k));
  const fillable = (k: string): boolean => /(^|\.)num_batches_tracked$/.test(k);
  const lacking = absent.filter((k) => !fillable(k));
  if (lacking.length > 0) {
    const more = lacking.length > 1 ? ` (and ${lacking.length - 1} more)` : '';
    let hint: string;
    if (part === 'detector' && layout !== 'detector') {
      hint = ` — the checkpoint holds a backbone only (${LAYOUT_WORDS[layout]}); initialise the backbone with part 'backbone'`;
    } else {
      hint = architectureHint(placedNames, target.keys());
    }
    throw new Error(`the model's '${lacking[0]}' is missing from the checkpoint${more}${hint}`);
  }
  for (const k of absent) {
    const want = target.get(k) as TargetEntry;
    const bytes = SAFETENSORS_DTYPE_BYTES[want.dtype] * numel(want.shape);
    out.set(k, { dtype: want.dtype, shape: want.shape, data: new Uint8Array(bytes) });
    report.missing.push(k);
  }
  // the target's order, as a state dict
  const ordered = new Map<string, RawTensor>();
  for (const k of target.keys()) ordered.set(k, out.get(k) as RawTensor);
  return { tensors: ordered, report };
}

/** A module's state dict as names -> shape and (safetensors) dtype: the target of mapCheckpoint. */
export function targetEntries(module: Module): Map<string, TargetEntry> {
  const out = new Map<string, TargetEntry>();
  for (const [k, t] of module.stateDict()) out.set(k, { shape: t.shape, dtype: safetensorsDtypeOf(t.dtype) });
  return out;
}

/**
 * The class names an mmdetection checkpoint records: `meta.CLASSES` (2.x) or `meta.dataset_meta.classes` (3.x).
 * `meta` is either the checkpoint's `meta` dict or its top-level entries beside the state dict (`{ meta: {...} }`,
 * what readPthStateDict returns). null when absent or not a list of names.
 */
export function checkpointClassNames(meta: Record<string, unknown> | null | undefined): string[] | null {
  const isDict = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  const names = (v: unknown): string[] | null =>
    Array.isArray(v) && v.length > 0 && v.every((c) => typeof c === 'string') ? [...(v as string[])] : null;
  const fromMeta = (m: Record<string, unknown>): string[] | null =>
    names(m.CLASSES) ?? (isDict(m.dataset_meta) ? names(m.dataset_meta.classes) : null);
  if (!isDict(meta)) return null;
  return fromMeta(meta) ?? (isDict(meta.meta) ? fromMeta(meta.meta) : null);
}

function examples<T>(items: readonly T[], show: (t: T) => string, n: number): string {
  const head = items.slice(0, n).map(show).join(', ');
  return items.length > n ? `${head}, ... (${items.length - n} more)` : head;
}

/** A few lines: the source, counts and the first `n` examples of each kind. */
export function formatPretrainedReport(r: MappingReport, n = 3): string {
  const lines = [`source: ${r.source}${r.strippedModulePrefix ? ' (DataParallel module. prefix stripped)' : ''}`];
  const renamed = r.mapped.filter((m) => m.from !== m.to);
  lines.push(
    `mapped ${r.mapped.length} tensors` +
      (renamed.length ? `, ${renamed.length} renamed: ${examples(renamed, (m) => `${m.from} -> ${m.to}`, n)}` : ''),
  );
  if (r.dropped.length) {
    const byWhy = new Map<string, string[]>();
    for (const d of r.dropped) byWhy.set(d.why, [...(byWhy.get(d.why) ?? []), d.key]);
    for (const [why, ks] of byWhy) lines.push(`dropped ${ks.length} (${why}): ${examples(ks, (k) => k, n)}`);
  }
  if (r.missing.length) {
    lines.push(`filled ${r.missing.length} absent from the file with 0: ${examples(r.missing, (k) => k, n)}`);
  }
  if (r.converted.length) {
    const dts = [...new Set(r.converted.map((c) => c.from))].join('/');
    lines.push(`converted ${r.converted.length} ${dts} tensors to F32: ${examples(r.converted, (c) => c.key, n)}`);
  }
  return lines.join('\n');
}

