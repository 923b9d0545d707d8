// The public shape of one detection, shared by ladet on libtorch (TrainedDetector, `ladet predict`) and
// ladet/runtime, and the conversion from a detection list's arrays to it. Plain TypeScript: no libtorch.

/** One detection, in original image pixels. */
export interface Detection {
  /** the class name */
  label: string;
  /** the COCO category id of the class */
  category_id: number;
  score: number;
  /** x1, y1, x2, y2 */
  box: [number, number, number, number];
  /** COCO [x, y, w, h], the same box */
  bbox: [number, number, number, number];
}

/** A detect() call's scoreThr: `value` when a number in [0, 1], 0.3 (as `ladet predict`) when absent; else a RangeError. */
export function scoreThrOf(value: number | undefined): number {
  const v = value ?? 0.3;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1))
    throw new RangeError(`detect: scoreThr must be a number in [0, 1] (got ${String(value)})`);
  return v;
}

/**
 * An image's detections with score >= scoreThr, best first (ties by index), named by `classes` (the model's class
 * list). boxes: (K·4) x1,y1,x2,y2; scores: (K); labels: (K) indices into classes.
 */
export function toDetections(
  p: { boxes: ArrayLike<number>; scores: ArrayLike<number>; labels: ArrayLike<number> },
  classes: readonly { id: number; name: string }[],
  scoreThr: number,
): Detection[] {
  const order = Array.from({ length: p.scores.length }, (_, k) => k)
    .filter((k) => (p.scores[k] as number) >= scoreThr)
    .sort((a, b) => (p.scores[b] as number) - (p.scores[a] as number) || a - b);
  return order.map((k) => {
    const [x1, y1, x2, y2] = [0, 1, 2, 3].map((c) => p.boxes[4 * k + c] as number) as [number, number, number, number];
    const cls = classes[p.labels[k] as number];
    if (!cls) throw new Error(`detection class index ${p.labels[k]} is outside the model's ${classes.length} classes`);
    return {
      label: cls.name,
      category_id: cls.id,
      score: p.scores[k] as number,
      box: [x1, y1, x2, y2],
      bbox: [x1, y1, x2 - x1, y2 - y1],
    };
  });
}
