// Bilinear resizing of 8-bit RGB in plain TypeScript, for the runtime's input pipeline. Enlarging follows OpenCV's
// pixel-centre convention (what ladet's own decoder does: src = (x + 0.5) / s - 0.5, edges replicated); reducing
// uses a triangle filter widened by the reduction factor (antialiased, like libvips' linear reduce, which ladet
// trains with), so a large photo is averaged rather than sampled. Rounded to the nearest byte.

/** Resampling weights of one axis: for each output index, the first input index and its weights. */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float64Array;
  /** taps per output index (stride into weights) */
  size: number;
}

function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const support = scale > 1 ? scale : 1; // triangle radius in input pixels
  const size = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * size);
  for (let x = 0; x < outSize; x++) {
    const center = (x + 0.5) * scale - 0.5;
    if (scale <= 1) {
      // enlarging: two taps, the edges replicated (OpenCV)
      const c = Math.min(Math.max(center, 0), inSize - 1);
      const i0 = Math.floor(c);
      const f = c - i0;
      start[x] = i0;
      if (i0 + 1 < inSize && f > 0) {
        weights[x * size] = 1 - f;
        weights[x * size + 1] = f;
        count[x] = 2;
      } else {
        weights[x * size] = 1;
        count[x] = 1;
      }
      continue;
    }
    // reducing: every input pixel under the widened triangle, weights normalised
    const lo = Math.max(0, Math.floor(center - support) + 1);
    const hi = Math.min(inSize - 1, Math.ceil(center + support) - 1);
    let total = 0;
    let n = 0;
    for (let i = lo; i <= hi; i++) {
      const w = 1 - Math.abs(i - center) / support;
      if (w <= 0) continue;
      if (n === 0) start[x] = i;
      weights[x * size + (i - (start[x] as number))] = w;
      total += w;
      n = i - (start[x] as number) + 1;
    }
    for (let k = 0; k < n; k++) weights[x * size + k] = (weights[x * size + k] as number) / total;
    count[x] = n;
  }
  return { start, count, weights, size };
}

/** RGB HWC (width x height) -> RGB HWC (outWidth x outHeight). */
export function resizeBilinear(
  src: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  if (src.length !== width * height * 3)
    throw new Error(`resizeBilinear: ${src.length} bytes for ${width}x${height} RGB`);
  if (!(outWidth > 0 && outHeight > 0)) throw new Error(`resizeBilinear: output size ${outWidth}x${outHeight}`);
  const tx = taps(width, outWidth);
  const ty = taps(height, outHeight);
  // horizontal pass into float rows, then vertical
  const mid = new Float64Array(height * outWidth * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      const s = tx.start[x] as number;
      const n = tx.count[x] as number;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < n; k++) {
        const w = tx.weights[x * tx.size + k] as number;
        const p = (y * width + s + k) * 3;
        r += w * (src[p] as number);
        g += w * (src[p + 1] as number);
        b += w * (src[p + 2] as number);
      }
      const o = (y * outWidth + x) * 3;
      mid[o] = r;
      mid[o + 1] = g;
      mid[o + 2] = b;
    }
  }
  const out = new Uint8Array(outWidth * outHeight * 3);
  for (let y = 0; y < outHeight; y++) {
    const s = ty.start[y] as number;
    const n = ty.count[y] as number;
    for (let x = 0; x < outWidth * 3; x++) {
      let v = 0;
      for (let k = 0; k < n; k++)
        v += (ty.weights[y * ty.size + k] as number) * (mid[(s + k) * outWidth * 3 + x] as number);
      out[y * outWidth * 3 + x] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
  return out;
}
