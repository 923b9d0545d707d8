// DeltaXYWH box decoding over flat arrays (mmdetection's DeltaXYWHBBoxCoder.decode, see box_coder.ts), in pure
// TypeScript with no imports so it runs without the native addon (src/runtime). The coder's parameters and their
// defaults live here too; DeltaXYWHCoder (tensors) takes them from deltaXYWHParams.

export interface DeltaXYWHOptions {
  means?: readonly [number, number, number, number];
  stds?: readonly [number, number, number, number];
  /** dw, dh are clamped to ±|ln(whRatioClip)| before exp */
  whRatioClip?: number;
}

/** Resolved coder parameters. */
export interface DeltaXYWHParams {
  readonly means: readonly [number, number, number, number];
  readonly stds: readonly [number, number, number, number];
  /** |ln(whRatioClip)|: the bound on dw, dh */
  readonly maxRatio: number;
}

/** The options with mmdetection's defaults filled in: means 0, stds (0.1, 0.1, 0.2, 0.2), whRatioClip 16/1000. */
export function deltaXYWHParams(opts: DeltaXYWHOptions = {}): DeltaXYWHParams {
  return {
    means: opts.means ?? [0, 0, 0, 0],
    stds: opts.stds ?? [0.1, 0.1, 0.2, 0.2],
    maxRatio: Math.abs(Math.log(opts.whRatioClip ?? 16 / 1000)),
  };
}

const f32 = Math.fround;

/**
 * anchors (N·4) and deltas (N·4), x1y1x2y2 / dx,dy,dw,dh rows -> boxes (N·4) float32. With maxShape [h, w] the boxes
 * are clipped to [0, w] × [0, h]. Every step is rounded to float32 in the order DeltaXYWHCoder.decode runs its tensor
 * ops on float32 inputs, so the result equals it to the last bit except where exp rounds differently (1 ulp).
 */
export function decodeDeltasArray(
  anchors: ArrayLike<number>,
  deltas: ArrayLike<number>,
  maxShape?: readonly [number, number],
  params: DeltaXYWHParams = deltaXYWHParams(),
): Float32Array {
  const n = anchors.length / 4;
  if (!Number.isInteger(n) || deltas.length !== anchors.length) {
    throw new Error(`decodeDeltas: anchors (${anchors.length} values) and deltas (${deltas.length}) must be N·4 each`);
  }
  // the tensor path holds these as float32 tensors / clamps a float32 tensor with float32 bounds
  const [m0, m1, m2, m3] = params.means.map(f32) as [number, number, number, number];
  const [s0, s1, s2, s3] = params.stds.map(f32) as [number, number, number, number];
  const r = f32(params.maxRatio);
  const clipX = maxShape === undefined ? (v: number) => v : clamper(f32(maxShape[1]));
  const clipY = maxShape === undefined ? (v: number) => v : clamper(f32(maxShape[0]));
  const out = new Float32Array(anchors.length);
  for (let i = 0; i < anchors.length; i += 4) {
    const ax1 = f32(anchors[i] as number);
    const ay1 = f32(anchors[i + 1] as number);
    const ax2 = f32(anchors[i + 2] as number);
    const ay2 = f32(anchors[i + 3] as number);
    // centreSize: ((x1 + x2) · 0.5, (y1 + y2) · 0.5, x2 - x1, y2 - y1)
    const px = f32(f32(ax1 + ax2) * 0.5);
    const py = f32(f32(ay1 + ay2) * 0.5);
    const pw = f32(ax2 - ax1);
    const ph = f32(ay2 - ay1);
    // d = deltas · stds + means
    const dx = f32(f32(f32(deltas[i] as number) * s0) + m0);
    const dy = f32(f32(f32(deltas[i + 1] as number) * s1) + m1);
    const dw = Math.min(Math.max(f32(f32(f32(deltas[i + 2] as number) * s2) + m2), -r), r);
    const dh = Math.min(Math.max(f32(f32(f32(deltas[i + 3] as number) * s3) + m3), -r), r);
    const gx = f32(px + f32(pw * dx));
    const gy = f32(py + f32(ph * dy));
    const hw = f32(f32(pw * f32(Math.exp(dw))) * 0.5);
    const hh = f32(f32(ph * f32(Math.exp(dh))) * 0.5);
    out[i] = clipX(f32(gx - hw));
    out[i + 1] = clipY(f32(gy - hh));
    out[i + 2] = clipX(f32(gx + hw));
    out[i + 3] = clipY(f32(gy + hh));
  }
  return out;
}

/** clamp(v, 0, hi) as torch.clamp does it (NaN stays NaN). */
function clamper(hi: number): (v: number) => number {
  return (v) => (v < 0 ? 0 : v > hi ? hi : v);
}
