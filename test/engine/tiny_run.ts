// A run small enough for a test: the built-in shapes dataset at 96 px (validated on its training images), a ResNet-18
// at 1/8 width, 2 epochs. precision.test.ts and models/cuda_amp.test.ts train it (on the CPU and on a GPU).
import { join } from 'node:path';
import type { ConfigInput } from '../../src/config/schema.js';

/** The tiny run `name` under `work` with `trainImages` canvases; `extra` is spread over the top level. */
export function tinyRun(
  work: string,
  name: string,
  trainImages: number,
  extra: Partial<ConfigInput> = {},
): ConfigInput {
  return {
    name,
    seed: 0,
    threads: 2,
    runsDir: join(work, 'runs'),
    data: {
      builtin: 'shapes',
      builtinArgs: { train: trainImages, val: 8, size: 96, maxItems: 3 },
      root: join(work, `shapes${trainImages}`),
      valAnn: 'annotations/instances_train.json',
      valImages: 'train',
      trainScales: [[96, 96]],
      testScale: [96, 96],
      batchSize: 4,
      workers: 0,
    },
    model: {
      backbone: { depth: 18, widthMultiplier: 0.125 },
      neck: { outChannels: 16, startLevel: 1, numOuts: 3 },
      head: { featChannels: 16, stackedConvs: 1, gnGroups: 4 },
      anchors: { strides: [8, 16, 32], octaveBaseScale: 4 },
    },
    schedule: { epochs: 2, warmupIters: 2, steps: [2] },
    eval: { every: 2, scoreVoting: false },
    ...extra,
  };
}
