// Non-maximum suppression with torchvision's semantics, over flat arrays: visit boxes by decreasing score, keep a
// box unless an already kept box of the same class overlaps it with IoU > iouThr (IoU = inter / (area_i + area_j -
// inter), no +1, no eps). Equal scores are visited in index order (stable sort). libtorch has no nms op, and the work
// is a data-dependent greedy loop, so it runs in JS over Float32Array copies of the boxes; classes are handled by
// bucketing (same result as torchvision's coordinate-offset trick, without its float rounding at large offsets).
// Pure TypeScript with no imports, so it runs without the native addon too (src/runtime); nms.ts adds tensor forms.

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
  if (classes !== null && classes.length !== n)
    throw new Error(`nms: classes has ${classes.length} entries, scores ${n}`);
  // The overlap-free shortcut in the inner loop is only exact for a non-negative threshold.
  if (!(iouThr >= 0)) throw new RangeError(`nms: iouThr must be >= 0, got ${iouThr}`);
  const order = scoreOrder(scores);
  // Stable bucketing of the score order by class (counting sort), so each class is one contiguous segment and the
  // inner loop reads coordinates sequentially.
  const cls = new Int32Array(n);
  const ids = new Map<number, number>();
  if (classes !== null) {
    for (let i = 0; i < n; i++) {
      const c = classes[i] as number;
      let id = ids.get(c);
      if (id === undefined) ids.set(c, (id = ids.size));
      cls[i] = id;
    }
  }
  const numCls = Math.max(1, ids.size);
  const segStart = new Int32Array(numCls + 1);
  for (let i = 0; i < n; i++) segStart[(cls[i] as number) + 1]++;
  for (let c = 0; c < numCls; c++) segStart[c + 1] = (segStart[c + 1] as number) + (segStart[c] as number);
  const fill = segStart.slice(0, numCls);
  const perm = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const i = order[k] as number;
    const c = cls[i] as number;
    perm[fill[c] as number] = i;
    fill[c] = (fill[c] as number) + 1;
  }
  const x1 = new Float64Array(n);
  const y1 = new Float64Array(n);
  const x2 = new Float64Array(n);
  const y2 = new Float64Array(n);
  const ar = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    const i = perm[p] as number;
    x1[p] = boxes[4 * i] as number;
    y1[p] = boxes[4 * i + 1] as number;
    x2[p] = boxes[4 * i + 2] as number;
    y2[p] = boxes[4 * i + 3] as number;
    ar[p] = ((x2[p] as number) - (x1[p] as number)) * ((y2[p] as number) - (y1[p] as number));
  }
  const removed = new Uint8Array(n);
  const keep = new Uint8Array(n);
  for (let c = 0; c < numCls; c++) {
    const e = segStart[c + 1] as number;
    for (let p = segStart[c] as number; p < e; p++) {
      if (removed[p]) continue;
      keep[perm[p] as number] = 1;
      const ix1 = x1[p] as number;
      const iy1 = y1[p] as number;
      const ix2 = x2[p] as number;
      const iy2 = y2[p] as number;
      const ia = ar[p] as number;
      for (let q = p + 1; q < e; q++) {
        if (removed[q]) continue;
        const w = Math.min(ix2, x2[q] as number) - Math.max(ix1, x1[q] as number);
        if (w <= 0) continue;
        const h = Math.min(iy2, y2[q] as number) - Math.max(iy1, y1[q] as number);
        if (h <= 0) continue;
        const inter = w * h;
        if (inter / (ia + (ar[q] as number) - inter) > iouThr) removed[q] = 1;
      }
    }
  }
  let m = 0;
  for (let k = 0; k < n; k++) if (keep[order[k] as number]) m++;
  const out = new Int32Array(m);
  m = 0;
  for (let k = 0; k < n; k++) if (keep[order[k] as number]) out[m++] = order[k] as number;
  return out;
}

const IDX_BITS = 2 ** 21;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Indices by decreasing score, ties by increasing index. When every score is a float32 value (the usual case) and
 * n < 2^21, each (score, index) is packed into one exact float64 key, (2^32 - 1 - orderedBits(score))·2^21 + index,
 * and sorted natively — about 5x faster than a comparator sort. Otherwise a stable comparator sort.
 */
function scoreOrder(scores: ArrayLike<number>): Int32Array {
  const n = scores.length;
  let packable = n < IDX_BITS;
  for (let i = 0; packable && i < n; i++) {
    const v = scores[i] as number;
    if (Math.fround(v) !== v) packable = false;
  }
  const order = new Int32Array(n);
  if (!packable) {
    for (let i = 0; i < n; i++) order[i] = i;
    return order.sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    f32[0] = scores[i] as number;
    const bits = u32[0] as number;
    // IEEE order as unsigned: flip all bits of negatives, set the sign bit of positives.
    const ordered = bits & 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
    keys[i] = (0xffffffff - ordered) * IDX_BITS + i;
  }
  keys.sort();
  for (let k = 0; k < n; k++) {
    const key = keys[k] as number;
    order[k] = key - Math.floor(key / IDX_BITS) * IDX_BITS;
  }
  return order;
}
