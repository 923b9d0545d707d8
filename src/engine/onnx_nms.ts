// The optional post-processing tail of an exported ONNX model (`ladet export format=onnx nms=true`): from the
// per-level head outputs to each image's final detections inside the graph, the steps of ladet's non-score-voting
// path (src/runtime/postprocess.ts + selectDetections, src/models/heads/paa_select.ts) in opset 17 ops:
//   anchors generated from each level's dynamic (h, w) as AnchorGrid lays them out (row-major locations, the base
//   anchors of a location innermost); scores sqrt(p · sigmoid(iou)) (or p); per level the nmsPre rows of highest
//   max-class score (TopK); DeltaXYWH decode clipped to each image's size; class-aware NonMaxSuppression with
//   score > scoreThr and IoU > nmsIou; the maxPerImg best of each image.
// Score voting (a weighted box average over all candidates) stays outside the graph: ladet applies it on the raw
// outputs (eval.scoreVoting), which the model keeps beside these.
// Reference: the ONNX operator spec (Operators.md: TopK's lower-index-first ties, GatherND batch_dims,
// NonMaxSuppression's [batch, class, box] selected_indices). Equal scores may be visited in another order than
// ladet's (onnxruntime's NMS heap does not order ties); everything else is the same arithmetic in float32.
import { attr, type OnnxGraph } from '../io/onnx.js';
import { AnchorGrid, type AnchorConfig } from '../det/anchor_grid.js';
import { deltaXYWHParams } from '../det/box_coder_arrays.js';
import type { InferenceConfig } from '../models/heads/paa_select.js';
import type { LevelMaps } from '../runtime/network.js';
import type { OnnxValue } from './onnx_ops.js';

/** The tail's outputs: K detections over the whole batch, each image's in decreasing score order, images in order. */
export interface NmsOutputs {
  /** (K, 4) x1, y1, x2, y2 in the network input's pixels, clipped to the image's size */
  boxes: OnnxValue;
  /** (K) */
  scores: OnnxValue;
  /** (K) int64 class index, 0..C-1 */
  labels: OnnxValue;
  /** (K) int64 image of the batch */
  batchIndex: OnnxValue;
}

/**
 * levels: the head outputs (N, A·C, h, w), (N, A·4, h, w), (N, A, h, w) or null, finest first; imageSizes: a
 * (N, 2) float32 graph input, each image's (height, width) inside the padded input (boxes are clipped to it, as
 * ladet clips to the resized image before padding).
 */
export function appendNms(
  g: OnnxGraph,
  images: OnnxValue,
  levels: readonly LevelMaps<OnnxValue>[],
  imageSizes: OnnxValue,
  anchors: AnchorConfig,
  numClasses: number,
  clsKind: 'logits' | 'probs',
  cfg: InferenceConfig,
): NmsOutputs {
  const grid = new AnchorGrid(anchors);
  if (levels.length !== grid.numLevels)
    throw new Error(`ONNX export: ${levels.length} pyramid levels but ${grid.numLevels} anchor strides`);
  const A = grid.numBaseAnchors;
  const i64 = (v: number[]): OnnxValue => g.i64(v);
  const f32 = (v: number[], dims: number[] = [v.length]): OnnxValue => g.f32(v, dims);
  const axis = (n: number) => ({ axis: attr.int(n) });
  const rows = (x: OnnxValue, width: number): OnnxValue =>
    // (N, A·width, h, w) -> (N, h·w·A, width): row (y·w + x)·A + a, as torch's permute(1, 2, 0).reshape(-1, width)
    g.op('Reshape', [g.op('Transpose', [x], { perm: attr.ints([0, 2, 3, 1]) }), i64([0, -1, width])]);

  // each image's clip bounds (w, h, w, h) as (N, 1, 4)
  const bounds = g.op('Unsqueeze', [g.op('Gather', [imageSizes, i64([1, 0, 1, 0])], axis(1)), i64([1])]);
  const coder = deltaXYWHParams();
  const stdXY = f32([coder.stds[0], coder.stds[1]]);
  const stdWH = f32([coder.stds[2], coder.stds[3]]);
  const meanXY = f32([coder.means[0], coder.means[1]]);
  const meanWH = f32([coder.means[2], coder.means[3]]);
  const half = f32([0.5], []);
  const slice = (x: OnnxValue, from: number, to: number): OnnxValue =>
    g.op('Slice', [x, i64([from]), i64([to]), i64([-1])]);

  const levelBoxes: OnnxValue[] = [];
  const levelScores: OnnxValue[] = [];
  levels.forEach((lv, l) => {
    // scores (N, M, C), M = h·w·A
    let scores = rows(lv.cls, numClasses);
    if (clsKind === 'logits') scores = g.op('Sigmoid', [scores]);
    if (lv.iou !== null) {
      const q = g.op('Sigmoid', [rows(lv.iou, 1)]);
      scores = g.op('Sqrt', [g.op('Mul', [scores, q])]);
    }
    let deltas = rows(lv.reg, 4);
    // anchors (M, 4) of this level's (h, w): base (A, 4) + (x·s, y·s, x·s, y·s)
    const stride = grid.strides[l] as number;
    const base = grid.baseAnchors(l);
    const hw = g.op('Cast', [g.op('Shape', [lv.cls], { start: attr.int(2), end: attr.int(4) })], { to: attr.int(1) });
    const scalar = (i: number): OnnxValue => g.op('Squeeze', [g.op('Gather', [hw, i64([i])], axis(0)), i64([0])]);
    const zero = f32([0], []);
    const one = f32([1], []);
    const sx = g.op('Mul', [g.op('Range', [zero, scalar(1), one]), f32([stride], [])]);
    const sy = g.op('Mul', [g.op('Range', [zero, scalar(0), one]), f32([stride], [])]);
    const shiftX = g.op('Mul', [g.op('Reshape', [sx, i64([1, -1, 1, 1])]), f32([1, 0, 1, 0], [1, 1, 1, 4])]);
    const shiftY = g.op('Mul', [g.op('Reshape', [sy, i64([-1, 1, 1, 1])]), f32([0, 1, 0, 1], [1, 1, 1, 4])]);
    const grid4 = g.op('Add', [g.op('Add', [f32(Array.from(base), [1, 1, A, 4]), shiftX]), shiftY]);
    let levelAnchors = g.op('Reshape', [grid4, i64([-1, 4])]);
    if (cfg.nmsPre > 0) {
      // the nmsPre rows of highest max-class score (all of them, sorted, when there are fewer)
      const best = g.op('ReduceMax', [scores], { axes: attr.ints([2]), keepdims: attr.int(0) });
      const k = g.op('Min', [g.op('Shape', [best], { start: attr.int(1), end: attr.int(2) }), i64([cfg.nmsPre])]);
      const [, top] = g.node('TopK', [best, k], { axis: attr.int(1), largest: attr.int(1), sorted: attr.int(1) }, 2);
      const idx = g.op('Unsqueeze', [top as string, i64([2])]);
      scores = g.op('GatherND', [scores, idx], { batch_dims: attr.int(1) });
      deltas = g.op('GatherND', [deltas, idx], { batch_dims: attr.int(1) });
      levelAnchors = g.op('Gather', [levelAnchors, top as string], axis(0));
    } else {
      // every anchor, for every image: (1, M, 4) broadcasts in the decode
      levelAnchors = g.op('Unsqueeze', [levelAnchors, i64([0])]);
    }
    // DeltaXYWH decode (box_coder_arrays.ts) on (x, y) pairs, in its order of float32 steps
    const a1 = slice(levelAnchors, 0, 2);
    const a2 = slice(levelAnchors, 2, 4);
    const centre = g.op('Mul', [g.op('Add', [a1, a2]), half]);
    const size = g.op('Sub', [a2, a1]);
    const dxy = g.op('Add', [g.op('Mul', [slice(deltas, 0, 2), stdXY]), meanXY]);
    const dwh = g.op('Clip', [
      g.op('Add', [g.op('Mul', [slice(deltas, 2, 4), stdWH]), meanWH]),
      f32([-coder.maxRatio], []),
      f32([coder.maxRatio], []),
    ]);
    const gxy = g.op('Add', [centre, g.op('Mul', [size, dxy])]);
    const halfWH = g.op('Mul', [g.op('Mul', [size, g.op('Exp', [dwh])]), half]);
    const box = g.op('Concat', [g.op('Sub', [gxy, halfWH]), g.op('Add', [gxy, halfWH])], axis(2));
    levelBoxes.push(g.op('Min', [g.op('Max', [box, f32([0], [])]), bounds]));
    levelScores.push(scores);
  });
  const boxes = g.op('Concat', levelBoxes, axis(1)); // (N, M, 4)
  const scores = g.op('Concat', levelScores, axis(1)); // (N, M, C)

  const selected = g.op('NonMaxSuppression', [
    boxes,
    g.op('Transpose', [scores], { perm: attr.ints([0, 2, 1]) }),
    i64([cfg.maxPerImg]),
    f32([cfg.nmsIou]),
    f32([cfg.scoreThr]),
  ]); // (K, 3): batch, class, box
  const column = (i: number): OnnxValue => g.op('Gather', [selected, i64([i])], axis(1));
  const batch = g.op('Squeeze', [column(0), i64([1])]);
  const label = g.op('Squeeze', [column(1), i64([1])]);
  const score = g.op('GatherND', [scores, g.op('Gather', [selected, i64([0, 2, 1])], axis(1))]);
  const kept = g.op('GatherND', [boxes, g.op('Gather', [selected, i64([0, 2])], axis(1))]);

  // order: by score, then (TopK's ties keep their order) by image, so each image's detections stay by score
  const count = g.op('Shape', [score]);
  const [, byScore] = g.node(
    'TopK',
    [score, count],
    { axis: attr.int(0), largest: attr.int(1), sorted: attr.int(1) },
    2,
  );
  const imageOfScored = g.op('Cast', [g.op('Gather', [batch, byScore as string], axis(0))], { to: attr.int(1) });
  const [, byImage] = g.node(
    'TopK',
    [imageOfScored, count],
    { axis: attr.int(0), largest: attr.int(0), sorted: attr.int(1) },
    2,
  );
  const order = g.op('Gather', [byScore as string, byImage as string], axis(0));
  const batchSorted = g.op('Gather', [batch, order], axis(0));
  // rank of each detection within its image: position - (detections of the images before it)
  const n = g.op('Squeeze', [g.op('Shape', [images], { start: attr.int(0), end: attr.int(1) }), i64([0])]);
  const zero64 = i64([0]);
  const one64 = i64([1]);
  const scalar64 = (v: OnnxValue): OnnxValue => g.op('Squeeze', [v, i64([0])]);
  const imageIds = g.op('Range', [scalar64(zero64), n, scalar64(one64)]);
  const perImage = g.op(
    'ReduceSum',
    [g.op('Cast', [g.op('Equal', [g.op('Unsqueeze', [batchSorted, one64]), imageIds])], { to: attr.int(7) }), zero64],
    { keepdims: attr.int(0) },
  );
  const starts = g.op('CumSum', [perImage, scalar64(zero64)], { exclusive: attr.int(1) });
  const position = g.op('Range', [scalar64(zero64), scalar64(count), scalar64(one64)]);
  const rank = g.op('Sub', [position, g.op('Gather', [starts, batchSorted], axis(0))]);
  const keep = g.op('Less', [rank, i64([cfg.maxPerImg])]);
  const pick = (v: OnnxValue): OnnxValue =>
    g.op('Compress', [g.op('Gather', [v, order], axis(0)), keep], { axis: attr.int(0) });
  return {
    boxes: pick(kept),
    scores: pick(score),
    labels: pick(label),
    batchIndex: g.op('Compress', [batchSorted, keep], { axis: attr.int(0) }),
  };
}
