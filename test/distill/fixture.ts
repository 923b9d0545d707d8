// The tiny detector and two-image batch shared by the distillation tests.
import assert from 'node:assert/strict';
import { manualSeed, randn } from '../../src/torch/index.js';
import type { ImageMeta } from '../../src/data/transforms.js';
import type { StepInput } from '../../src/distill/strategy.js';
import type { Assignment } from '../../src/assign/assignment.js';

// normEval: BatchNorm uses its running statistics in train mode too, so a teacher (eval mode) and a student
// (train mode) with equal weights compute identical outputs.
export const modelSection = {
  backbone: { depth: 18 as const, widthMultiplier: 0.25, normEval: true },
  neck: { outChannels: 16, numOuts: 3 },
  head: { featChannels: 16, stackedConvs: 1, gnGroups: 4 },
  anchors: { strides: [8, 16, 32], octaveBaseScale: 4 },
};

/** Feature-map sizes of a 64x64 input at strides 8, 16, 32. */
export const SIZES: [number, number][] = [
  [8, 8],
  [4, 4],
  [2, 2],
];

export function meta(id: number): ImageMeta {
  return {
    imageId: id,
    file: `${id}.png`,
    oriShape: [64, 64],
    imgShape: [64, 64],
    padShape: [64, 64],
    scaleFactor: [1, 1, 1, 1],
    flip: false,
  };
}

/** Two seeded 64x64 images with three GTs of classes 0..2. */
export function batch(): StepInput {
  manualSeed(5);
  return {
    images: randn([2, 3, 64, 64]),
    targets: [
      { boxes: Float32Array.from([4, 4, 30, 28, 30, 20, 60, 62]), labels: Int32Array.from([0, 2]) },
      { boxes: Float32Array.from([10, 12, 40, 50]), labels: Int32Array.from([1]) },
    ],
    metas: [meta(1), meta(2)],
  };
}

export function sameAssignment(a: Assignment, b: Assignment): void {
  assert.equal(a.numPos, b.numPos);
  assert.ok(a.numPos > 0, 'the fixture should have positives');
  for (const k of ['labels', 'labelWeights', 'bboxTargets', 'posInds', 'posGtInds'] as const)
    assert.ok(a[k].equal(b[k]), `${k} differs`);
}
