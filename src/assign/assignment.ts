// The Assignment value (DESIGN.md §3): the one thing a label assigner hands to a head's loss. Everything is
// batch-flattened: anchor index = image · anchorsPerImage + index within the image's concatenated levels, and a
// GT index points into the batch's GTs concatenated image after image.
import { Tensor, cat, dispose, full, noGrad, tensor, tidy, zeros } from '../torch/index.js';
import type { z } from 'zod';

export interface Assignment {
  /** (B·A) int64: GT class of positives, numClasses (background) elsewhere */
  labels: Tensor;
  /** (B·A) float32: 1 on anchors that take part in the classification loss, 0 on ignored / invalid anchors */
  labelWeights: Tensor;
  /** (B·A, 4) float32: the matched GT box (x1y1x2y2) of each positive, zeros elsewhere */
  bboxTargets: Tensor;
  /** (P) int64: positive anchors, batch-flattened, ascending */
  posInds: Tensor;
  /** (P) int64: GT of each positive, index into the batch's concatenated GTs */
  posGtInds: Tensor;
  /** P, the number of positives in the batch (on this process; not reduced across processes) */
  numPos: number;
  numImages: number;
  anchorsPerImage: number;
  numClasses: number;
}

/** Inputs every assigner receives; shapes per batch of B images sharing one anchor grid. */
export interface AssignTargets {
  /** (A, 4) float32 anchors of one image (identical for the images of a padded batch) */
  anchors: Tensor;
  /** start of each FPN level in the anchor list, plus the total (length L+1) */
  levelStarts: readonly number[];
  /** (B, A) bool: anchor lies inside that image's own padded shape */
  validFlags: Tensor;
  /** per image (G_i, 4) float32 GT boxes x1y1x2y2 */
  gtBoxes: readonly Tensor[];
  /** per image (G_i) int64 GT classes in 0..numClasses-1 */
  gtLabels: readonly Tensor[];
  numClasses: number;
}

/** Head outputs an assigner may read (the student's for PAA, the teacher's for LAD), levels already flattened. */
export interface HeadPredictions {
  /** (B, A, C) classification logits, or probabilities when clsKind is 'probs' (COP / IOP heads) */
  clsLogits: Tensor;
  /** how to read clsLogits (default 'logits') */
  clsKind?: 'logits' | 'probs';
  /** (B, A, 4) box deltas (DeltaXYWH, before decoding) */
  regDeltas: Tensor;
}

/** A label assigner: ATSS, SimOTA or task-aligned assigners plug in here without touching heads. */
export interface Assigner {
  /** preds may be null for assigners that do not read predictions (max-IoU). */
  assign(targets: AssignTargets, preds: HeadPredictions | null): Assignment;
}

/**
 * A batch's candidates under a cost-based assigner, what its costs are computed on: per image the candidate (anchor,
 * GT) pairs and their (GT, FPN level) groups, and the label weights of the batch (B·A) float32, which
 * assignFromCosts takes over (a caller that does not call it disposes them).
 */
export interface CandidateSet {
  images: readonly ImageCandidates[];
  groups: readonly CandidateGroups[];
  labelWeights: Tensor;
}

/**
 * An assigner whose assignment is a function of per-candidate costs that it computes from a network's outputs (PAA:
 * focal + GIoU cost, then the GMM split). Exposing the steps lets a caller mix the costs of several networks per
 * (GT, level) group before the assigner decides, as CoLAD does; `assign` is the composition of the steps.
 */
export interface CostAssigner extends Assigner {
  /** the candidates of a batch (reads no outputs) */
  candidates(targets: AssignTargets): CandidateSet;
  /** one network's cost of every candidate (no gradient), one array per image in candidate order */
  costs(targets: AssignTargets, candidates: CandidateSet, preds: HeadPredictions): Float32Array[];
  /** the costs each GT's decision reads (PAA: the GMM input), for criteria on whole decisions */
  decisionSamples(candidates: CandidateSet, costs: readonly ArrayLike<number>[]): GtSampleRows;
  /** the assignment from one cost per candidate (from one network, or mixed per group); takes over labelWeights */
  assignFromCosts(targets: AssignTargets, candidates: CandidateSet, costs: readonly ArrayLike<number>[]): Assignment;
}

/** Whether an assigner exposes its candidate costs (see CostAssigner). */
export function isCostAssigner(a: Assigner): a is CostAssigner {
  const c = a as Partial<CostAssigner>;
  return (
    typeof c.candidates === 'function' &&
    typeof c.costs === 'function' &&
    typeof c.decisionSamples === 'function' &&
    typeof c.assignFromCosts === 'function'
  );
}

/** The candidates of one image of a cost-based assigner (PAA: its max-IoU pre-assignment): (anchor, GT) pairs. */
export interface ImageCandidates {
  /** (P) image-local anchor indices, ascending */
  anchorInds: Int32Array;
  /** (P) image-local GT index of each candidate */
  gtInds: Int32Array;
  /** GTs of the image */
  numGt: number;
}

/**
 * Candidates of one image grouped by (GT, level): group gt·L + level holds the candidate positions
 * order[starts[grp] .. starts[grp+1]) (positions into the candidate arrays, ascending anchor index).
 */
export interface CandidateGroups {
  numGt: number;
  numLevels: number;
  /** (P) candidate positions, grouped */
  order: Int32Array;
  /** (numGt·numLevels + 1) group boundaries in `order` */
  starts: Int32Array;
}

/** Groups one image's candidates by (GT, FPN level); levelStarts (L+1) from the anchor generator. */
export function groupCandidates(c: ImageCandidates, levelStarts: readonly number[]): CandidateGroups {
  const L = levelStarts.length - 1;
  const p = c.anchorInds.length;
  const nGroups = c.numGt * L;
  const groupOf = new Int32Array(p);
  const starts = new Int32Array(nGroups + 1);
  let level = 0;
  for (let j = 0; j < p; j++) {
    const a = c.anchorInds[j] as number;
    if (j > 0 && a < (c.anchorInds[j - 1] as number)) level = 0; // tolerate unsorted input
    while (level < L - 1 && a >= (levelStarts[level + 1] as number)) level++;
    if (a < 0 || a >= (levelStarts[L] as number))
      throw new RangeError(`groupCandidates: anchor index ${a} outside 0..${(levelStarts[L] as number) - 1}`);
    const g = c.gtInds[j] as number;
    if (g < 0 || g >= c.numGt) throw new RangeError(`groupCandidates: GT index ${g} outside 0..${c.numGt - 1}`);
    const grp = g * L + level;
    groupOf[j] = grp;
    starts[grp + 1] = (starts[grp + 1] as number) + 1;
  }
  for (let k = 0; k < nGroups; k++) starts[k + 1] = (starts[k + 1] as number) + (starts[k] as number);
  const fill = starts.slice(0, nGroups);
  const order = new Int32Array(p);
  for (let j = 0; j < p; j++) {
    const grp = groupOf[j] as number;
    order[fill[grp] as number] = j;
    fill[grp] = (fill[grp] as number) + 1;
  }
  return { numGt: c.numGt, numLevels: L, order, starts };
}

/**
 * Per-group choice of cost source (CoLAD's local switch): candidate j of group grp takes sources[choice[grp]][j].
 * choice has one entry per (GT, level) group (numGt·numLevels); every source has one cost per candidate.
 */
export function pickGroupCosts(
  groups: CandidateGroups,
  sources: readonly ArrayLike<number>[],
  choice: ArrayLike<number>,
): Float32Array {
  const nGroups = groups.numGt * groups.numLevels;
  if (choice.length !== nGroups)
    throw new Error(`pickGroupCosts: ${choice.length} choices for ${nGroups} (GT, level) groups`);
  const p = groups.order.length;
  sources.forEach((s, k) => {
    if (s.length !== p) throw new Error(`pickGroupCosts: source ${k} has ${s.length} costs for ${p} candidates`);
  });
  const out = new Float32Array(p);
  for (let grp = 0; grp < nGroups; grp++) {
    const src = sources[choice[grp] as number];
    if (src === undefined) throw new RangeError(`pickGroupCosts: choice ${choice[grp]} for group ${grp} has no source`);
    for (let q = groups.starts[grp] as number; q < (groups.starts[grp + 1] as number); q++) {
      const j = groups.order[q] as number;
      out[j] = src[j] as number;
    }
  }
  return out;
}

/**
 * The costs each GT's assignment decision reads, one row per GT of the batch (images in order), sorted ascending
 * (ties: lower candidate position first), padded to `stride`. PAA: every GT's GMM input, the min(n, topk)
 * lowest-cost candidates of each level, concatenated.
 */
export interface GtSampleRows {
  /** row length (PAA: topk · numLevels, at least 2) */
  stride: number;
  /** (G, stride) sorted costs */
  x: Float64Array;
  /** (G, stride) position of each sample in its image's candidate arrays */
  who: Int32Array;
  /** (G) samples per row */
  counts: Int32Array;
}

/** What building an assigner may read besides its own config section: the loss weights (PAA's cost uses them). */
export interface AssignerContext {
  clsWeight: number;
  giouWeight: number;
}

/**
 * An assigner as the config knows it (src/assign/registry.ts lists them): the schema of its `assigner:` section
 * (`type` is its registry key; defaults filled there), whether it reads network outputs (only such an assigner can
 * take a teacher's or a co-learning network's outputs), and how to build it.
 */
export interface AssignerSpec<S extends z.ZodObject<{ type: z.ZodLiteral<string> }>> {
  readonly options: S;
  readonly readsOutputs: boolean;
  create(options: z.output<S>, ctx: AssignerContext): Assigner;
}

/** Types an assigner's spec (the literal `type` and the options flow into the config's types). */
export function defineAssigner<S extends z.ZodObject<{ type: z.ZodLiteral<string> }>>(
  spec: AssignerSpec<S>,
): AssignerSpec<S> {
  return spec;
}

/** Per image: positive anchors (image-local indices, any order) and their image-local GT indices. */
export interface ImagePositives {
  anchorInds: Tensor | Int32Array;
  gtInds: Tensor | Int32Array;
}

/**
 * An Assignment from a geometry-only rule that labels each image's anchors by GT index (max-IoU, ATSS):
 * `assignedGt(validFlags (A) bool, gtBoxes (G, 4)) -> (A) int64`, 1-based GT of a positive, 0 background, -1 ignored.
 */
export function assignmentFromGtIndices(
  targets: AssignTargets,
  assignedGt: (valid: Tensor, gt: Tensor) => Tensor,
): Assignment {
  return noGrad(() => {
    const positives: { anchorInds: Tensor; gtInds: Tensor }[] = [];
    const weights: Tensor[] = [];
    return tidy(() => {
      targets.gtBoxes.forEach((gt, i) => {
        const assigned = assignedGt(targets.validFlags.select(0, i), gt);
        const anchorInds = assigned.gt(0).nonzero().reshape([-1]);
        positives.push({ anchorInds, gtInds: assigned.indexSelect(0, anchorInds).sub(1) });
        weights.push(assigned.ge(0).to('float32'));
      });
      return assignmentFromPositives(targets, positives, cat(weights));
    });
  });
}

/**
 * Builds an Assignment from per-image positives. labelWeights (B·A) float32 is taken over (not copied); the
 * other tensors are created on its device.
 */
export function assignmentFromPositives(
  targets: AssignTargets,
  positives: readonly ImagePositives[],
  labelWeights: Tensor,
): Assignment {
  const b = targets.gtBoxes.length;
  const a = targets.anchors.dim(0);
  const c = targets.numClasses;
  if (positives.length !== b) throw new Error(`assignment: ${positives.length} positive sets for ${b} images`);
  const device = labelWeights.device;
  const built = tidy(() => {
    const inds: Tensor[] = [];
    const gts: Tensor[] = [];
    let gtOffset = 0;
    positives.forEach((p, i) => {
      const ai = asLong(p.anchorInds, device);
      const gi = asLong(p.gtInds, device);
      if (ai.numel !== gi.numel)
        throw new Error(`assignment: image ${i} has ${ai.numel} positives but ${gi.numel} GT indices`);
      inds.push(ai.add(i * a));
      gts.push(gi.add(gtOffset));
      gtOffset += targets.gtBoxes[i]!.dim(0);
    });
    const posUnsorted = cat(inds);
    const gtUnsorted = cat(gts);
    const { values: posInds, indices: order } = posUnsorted.sort(0, false, true);
    const posGtInds = gtUnsorted.indexSelect(0, order);
    const allBoxes = cat(targets.gtBoxes.map((g) => (g.device === device ? g : g.toDevice(device))))
      .to('float32')
      .reshape([-1, 4]);
    const allLabels = cat(targets.gtLabels.map((g) => (g.device === device ? g : g.toDevice(device))))
      .to('int64')
      .reshape([-1]);
    const labels = full([b * a], c, { dtype: 'int64', device }).indexPut(
      [posInds],
      allLabels.indexSelect(0, posGtInds),
    );
    const bboxTargets = zeros([b * a, 4], { device }).indexPut([posInds], allBoxes.indexSelect(0, posGtInds));
    return { labels, bboxTargets, posInds, posGtInds };
  });
  return { ...built, labelWeights, numPos: built.posInds.numel, numImages: b, anchorsPerImage: a, numClasses: c };
}

function asLong(x: Tensor | Int32Array, device: string): Tensor {
  if (x instanceof Int32Array)
    return tensor(
      BigInt64Array.from(x, (v) => BigInt(v)),
      [x.length],
      { device },
    );
  const l = x.to('int64').reshape([-1]);
  return l.device === device ? l : l.toDevice(device);
}

/** Frees the tensors of an Assignment. */
export function disposeAssignment(a: Assignment): void {
  dispose([a.labels, a.labelWeights, a.bboxTargets, a.posInds, a.posGtInds]);
}

/** Checks the batch layout of assigner inputs; errors name the offending field. */
export function checkTargets(t: AssignTargets, preds: HeadPredictions | null): void {
  const b = t.gtBoxes.length;
  const a = t.anchors.dim(0);
  if (t.anchors.ndim !== 2 || t.anchors.dim(1) !== 4)
    throw new Error(`assign: anchors must be (A, 4), got [${t.anchors.shape.join(', ')}]`);
  if (t.gtLabels.length !== b) throw new Error(`assign: gtLabels has ${t.gtLabels.length} images, gtBoxes ${b}`);
  if (t.validFlags.ndim !== 2 || t.validFlags.dim(0) !== b || t.validFlags.dim(1) !== a) {
    throw new Error(`assign: validFlags must be (${b}, ${a}), got [${t.validFlags.shape.join(', ')}]`);
  }
  if (t.levelStarts[t.levelStarts.length - 1] !== a) {
    throw new Error(`assign: levelStarts ends at ${t.levelStarts[t.levelStarts.length - 1]}, anchors has ${a} rows`);
  }
  t.gtBoxes.forEach((g, i) => {
    if (g.ndim !== 2 || g.dim(1) !== 4)
      throw new Error(`assign: gtBoxes[${i}] must be (G, 4), got [${g.shape.join(', ')}]`);
    const labels = t.gtLabels[i]!;
    if (labels.numel !== g.dim(0))
      throw new Error(`assign: gtLabels[${i}] has ${labels.numel} entries, gtBoxes[${i}] ${g.dim(0)}`);
    if (labels.numel > 0) {
      const lo = tidy(() => labels.min().item());
      const hi = tidy(() => labels.max().item());
      if (lo < 0 || hi >= t.numClasses)
        throw new Error(`assign: gtLabels[${i}] has class ${lo < 0 ? lo : hi} outside 0..${t.numClasses - 1}`);
    }
  });
  if (preds !== null) {
    const cl = preds.clsLogits;
    if (cl.ndim !== 3 || cl.dim(0) !== b || cl.dim(1) !== a || cl.dim(2) !== t.numClasses) {
      throw new Error(`assign: clsLogits must be (${b}, ${a}, ${t.numClasses}), got [${cl.shape.join(', ')}]`);
    }
    const r = preds.regDeltas;
    if (r.ndim !== 3 || r.dim(0) !== b || r.dim(1) !== a || r.dim(2) !== 4) {
      throw new Error(`assign: regDeltas must be (${b}, ${a}, 4), got [${r.shape.join(', ')}]`);
    }
  }
}
