// Non-maximum suppression with torchvision's semantics: visit boxes by decreasing score, keep a box unless an
// already kept box of the same class overlaps it with IoU > iouThr (IoU = inter / (area_i + area_j - inter), no +1,
// no eps). Equal scores are visited in index order (stable sort). libtorch has no nms op, and the work is a
// data-dependent greedy loop, so it runs in JS over Float32Array copies of the boxes; classes are handled by
// bucketing (same result as torchvision's coordinate-offset trick, without its float rounding at large offsets).
import { Tensor, tensor } from '../torch/index.js';

/**
 * Greedy NMS over flat arrays. boxes (n·4) x1y1x2y2, scores (n), classes (n) or null for one class.
 * Returns kept indices sorted by decreasing score (ties by index).
 */
export function nmsArrays(
  boxes: ArrayLike<number>,
  scores: ArrayLike<number>,
  classes: ArrayLike<number> | null,
  iouThr: number,
): Int32Array {
  const n = scores.length;
  if (boxes.length !== 4 * n) throw new Error(`nms: boxes has ${boxes.length / 4} rows, scores ${n}`);
  if (classes !== null && classes.length !== n) throw new Error(`nms: classes has ${classes.length} entries, scores ${n}`);
  // The overlap-free shortcut in the inner loop is only exact for a non-negative threshold.
  if (!(iouThr >= 0)) throw new RangeError(`nms: iouThr must be >= 0, got ${iouThr}`);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
  const areas = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    areas[i] = ((boxes[4 * i + 2] as number) - (boxes[4 * i] as number)) * ((boxes[4 * i + 3] as number) - (boxes[4 * i + 1] as number));
  }
  // Bucket the score order by class so the inner loop only meets boxes that can suppress each other.
  const buckets = new Map<number, number[]>();
  for (const i of order) {
    const c = classes === null ? 0 : (classes[i] as number);
    let b = buckets.get(c);
    if (b === undefined) buckets.set(c, (b = []));
    b.push(i);
  }
  const keep = new Uint8Array(n);
  const removed = new Uint8Array(n);
  for (const idx of buckets.values()) {
    for (let p = 0; p < idx.length; p++) {
      const i = idx[p] as number;
      if (removed[i]) continue;
      keep[i] = 1;
      const ix1 = boxes[4 * i] as number;
      const iy1 = boxes[4 * i + 1] as number;
      const ix2 = boxes[4 * i + 2] as number;
      const iy2 = boxes[4 * i + 3] as number;
      const ia = areas[i] as number;
      for (let q = p + 1; q < idx.length; q++) {
        const j = idx[q] as number;
        if (removed[j]) continue;
        const w = Math.min(ix2, boxes[4 * j + 2] as number) - Math.max(ix1, boxes[4 * j] as number);
        if (w <= 0) continue;
        const h = Math.min(iy2, boxes[4 * j + 3] as number) - Math.max(iy1, boxes[4 * j + 1] as number);
        if (h <= 0) continue;
        const inter = w * h;
        if (inter / (ia + (areas[j] as number) - inter) > iouThr) removed[j] = 1;
      }
    }
  }
  const out: number[] = [];
  for (const i of order) if (keep[i]) out.push(i);
  return Int32Array.from(out);
}

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
  return tensor(BigInt64Array.from(kept, (i) => BigInt(i)), [kept.length], { device: boxes.device });
}

function asNumbers(t: Tensor): Float32Array | Float64Array {
  if (t.dtype === 'float64') return t.toTypedArray<'float64'>();
  if (t.dtype === 'float32') return t.toTypedArray<'float32'>();
  const f = t.to('float32');
  const a = f.toTypedArray<'float32'>();
  f.dispose();
  return a;
}
