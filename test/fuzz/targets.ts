// The fuzz targets by name (the test files and `npm run fuzz` run them through harness.ts).
import type { FuzzTarget } from './harness.js';
import { cocoTarget } from './targets/coco.js';
import { configTarget } from './targets/config.js';
import { detectionsTarget } from './targets/detections.js';
import { pthTarget } from './targets/pth.js';
import { safetensorsTarget } from './targets/safetensors.js';

export const targets: Record<string, FuzzTarget> = Object.fromEntries(
  [cocoTarget, safetensorsTarget, configTarget, detectionsTarget, pthTarget].map((t) => [t.name, t]),
);
