// Non-maximum suppression on tensors (torchvision's semantics; see nms_arrays.ts, where the greedy loop lives, in
// pure TypeScript over flat arrays, re-exported here).
import { Tensor, tensor } from '../torch/index.js';
import { nmsArrays } from './nms_arrays.js';

export { nmsArrays } from './nms_arrays.js';

/** NMS of one class: boxes (N, 4), scores (N) -> kept indices (K) int64, by decreasing score. */
export function nms(boxes: Tensor, scores: Tensor, iouThr: number): Tensor {
  return batchedNms(boxes, scores, null, iouThr);
}

/**
 * Class-aware NMS: boxes (N, 4), scores (N), classes (N) integer or null -> kept indices (K) int64 on the boxes'
 * device, by decreasing score. Boxes of different classes never suppress each other.
 */
export function batchedNms(boxes: Tensor, scores: Tensor, classes: Tensor | null, iouThr: number): Tensor {
  const n = scores.numel;
  if (boxes.ndim !== 2 || boxes.dim(1) !== 4 || boxes.dim(0) !== n) {
    throw new Error(`batchedNms: boxes must be (N, 4) with N = scores.numel (${n}), got [${boxes.shape.join(', ')}]`);
  }
  const b = asNumbers(boxes);
  const s = asNumbers(scores);
  const c = classes === null ? null : classes.toArray();
  const kept = nmsArrays(b, s, c, iouThr);
  return tensor(
    BigInt64Array.from(kept, (i) => BigInt(i)),
    [kept.length],
    { device: boxes.device },
  );
}

function asNumbers(t: Tensor): Float32Array | Float64Array {
  if (t.dtype === 'float64') return t.toTypedArray<'float64'>();
  if (t.dtype === 'float32') return t.toTypedArray<'float32'>();
  const f = t.to('float32');
  const a = f.toTypedArray<'float32'>();
  f.dispose();
  return a;
}
