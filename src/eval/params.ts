// The fixed parameters of COCO bbox evaluation, built with the same float arithmetic as the reference so that
// IoU and recall comparisons against them land on the same side of every boundary.

/** numpy.linspace(start, stop, num) with endpoint: i * ((stop - start) / (num - 1)) + start, last one = stop. */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  if (num > 1) out[num - 1] = stop;
  return out;
}

/** IoU thresholds .50:.05:.95 (T = 10). */
export const IOU_THRESHOLDS: Float64Array = linspace(0.5, 0.95, 10);
/** Recall thresholds 0:.01:1 (R = 101). */
export const RECALL_THRESHOLDS: Float64Array = linspace(0, 1, 101);

/** Area ranges on the annotation's `area` (detections: w*h); both ends inclusive, as the reference compares. */
export const AREA_RANGES: readonly (readonly [number, number])[] = [
  [0, 1e10],
  [0, 32 * 32],
  [32 * 32, 96 * 96],
  [96 * 96, 1e10],
];
export const AREA_LABELS = ['all', 'small', 'medium', 'large'] as const;
export type AreaLabel = (typeof AREA_LABELS)[number];

/** Detections kept per image and category, one setting per entry (M = 3). */
export const DEFAULT_MAX_DETS: readonly [number, number, number] = [1, 10, 100];
