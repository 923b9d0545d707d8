// Helpers shared by the benchmark suites.
import { manualSeed, randn } from '../src/torch/index.js';
import type { StepInput } from '../src/distill/strategy.js';
import type { ImageMeta } from '../src/data/transforms.js';

/** mulberry32: a small seeded generator, so every run (and both sides of a comparison) sees the same data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The middle element (the upper one for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Median milliseconds per call over `reps` timed calls after `warm` untimed ones. */
export function timeIt(fn: () => void, reps: number, warm = 3): number {
  for (let i = 0; i < warm; i++) fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(t);
}

/**
 * Runs two sides of a comparison back to back `warmup + reps` times, alternating which goes first so slow drifts
 * of a shared machine hit both alike; returns each side's results of the timed reps (warm-up reps dropped).
 * `onRep` sees every rep, warm-up included (for progress lines).
 */
export function interleave<A, B>(
  sides: { a: () => A; b: () => B },
  counts: { warmup: number; reps: number },
  onRep?: (rep: number, a: A, b: B) => void,
): { a: A[]; b: B[] } {
  const as: A[] = [];
  const bs: B[] = [];
  for (let rep = 0; rep < counts.warmup + counts.reps; rep++) {
    let ra: A;
    let rb: B;
    if (rep % 2 === 0) {
      ra = sides.a();
      rb = sides.b();
    } else {
      rb = sides.b();
      ra = sides.a();
    }
    onRep?.(rep, ra, rb);
    if (rep < counts.warmup) continue;
    as.push(ra);
    bs.push(rb);
  }
  return { a: as, b: bs };
}

export interface SyntheticBatchSpec {
  batch: number;
  /** square image side, px */
  size: number;
  classes: number;
  /** objects per image, inclusive range */
  gtPerImage: readonly [number, number];
  /** box side length range, px */
  boxSide: readonly [number, number];
  /** seeds of the boxes (rng) and of the image noise (libtorch) */
  seed: number;
}

/** A seeded detection batch of noise images with random boxes, the same on every run and for both compared sides. */
export function syntheticBatch(spec: SyntheticBatchSpec): StepInput {
  const r = rng(spec.seed);
  const { batch, size, classes, gtPerImage, boxSide } = spec;
  const side = (): number => boxSide[0] + (boxSide[1] - boxSide[0]) * r();
  const targets = Array.from({ length: batch }, () => {
    const n = gtPerImage[0] + Math.floor(r() * (gtPerImage[1] - gtPerImage[0] + 1));
    const boxes: number[] = [];
    const labels: number[] = [];
    for (let k = 0; k < n; k++) {
      const w = side();
      const h = side();
      const x = r() * (size - w);
      const y = r() * (size - h);
      boxes.push(x, y, x + w, y + h);
      labels.push(Math.floor(r() * classes));
    }
    return { boxes: Float32Array.from(boxes), labels: Int32Array.from(labels) };
  });
  const metas: ImageMeta[] = targets.map((_, i) => ({
    imageId: i,
    file: `synthetic_${i}`,
    oriShape: [size, size],
    imgShape: [size, size],
    padShape: [size, size],
    scaleFactor: [1, 1, 1, 1],
    flip: false,
  }));
  manualSeed(spec.seed);
  return { images: randn([batch, 3, size, size]), targets, metas };
}
