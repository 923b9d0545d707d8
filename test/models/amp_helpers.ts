// Shared by the mixed-precision tests (bf16.test.ts on the CPU, cuda_amp.test.ts on a GPU): how far a lower-precision
// forward is from fp32, and a seeded training batch.
import assert from 'node:assert/strict';
import { manualSeed, randn, tidy, type Tensor } from '../../src/torch/index.js';
import type { HeadOutputs } from '../../src/models/index.js';
import type { StepInput } from '../../src/distill/strategy.js';
import type { ImageMeta } from '../../src/data/transforms.js';

/**
 * ||bf16 - fp32|| / ||fp32||. The class logits of a fresh head are mostly the prior's bias (-4.6), which bf16 holds
 * to +-0.016 (its spacing there is 2^-5): against their small variation alone that is ~10 %, against the logits 0.2 %.
 */
export function relErr(low: Tensor, ref: Tensor): number {
  return tidy(() => Math.sqrt(low.sub(ref).square().sum().item() / ref.square().sum().item()));
}

/** The worst per-level relative error of each output kind. */
export function compare(fp32: HeadOutputs, bf16: HeadOutputs): Record<'cls' | 'reg' | 'iou', number> {
  const worst = (a: Tensor[], b: Tensor[]): number => Math.max(...a.map((t, l) => relErr(b[l] as Tensor, t)));
  for (const t of [...bf16.cls, ...bf16.reg, ...(bf16.iou ?? [])]) assert.equal(t.dtype, 'float32');
  return { cls: worst(fp32.cls, bf16.cls), reg: worst(fp32.reg, bf16.reg), iou: worst(fp32.iou!, bf16.iou!) };
}

/** A seeded batch: `n` 128x128 noise images (on `device`) with 2-4 boxes each, classes 0..9. */
export function batchOf(n: number, seed: number, device = 'cpu'): StepInput {
  manualSeed(seed);
  const size = 128;
  let s = seed;
  const r = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const targets = Array.from({ length: n }, () => {
    const boxes: number[] = [];
    const labels: number[] = [];
    for (let k = 0; k < 2 + Math.floor(r() * 3); k++) {
      const w = 16 + r() * 64;
      const h = 16 + r() * 64;
      const x0 = r() * (size - w);
      const y0 = r() * (size - h);
      boxes.push(x0, y0, x0 + w, y0 + h);
      labels.push(Math.floor(r() * 10));
    }
    return { boxes: Float32Array.from(boxes), labels: Int32Array.from(labels) };
  });
  const metas: ImageMeta[] = targets.map((_, i) => ({
    imageId: i,
    file: `${i}.png`,
    oriShape: [size, size],
    imgShape: [size, size],
    padShape: [size, size],
    scaleFactor: [1, 1, 1, 1],
    flip: false,
  }));
  return { images: randn([n, 3, size, size], { device }), targets, metas };
}
