// The fuzz targets by name (the test files and `npm run fuzz` run them through harness.ts).
import type { FuzzTarget } from './harness.js';
import { cocoTarget } from './targets/coco.js';
import { configTarget } from './targets/config.js';
import { detectionsTarget } from './targets/detections.js';
import { safetensorsTarget } from './targets/safetensors.js';

export const targets: Record<string, FuzzTarget> = Object.fromEntries(
  [cocoTarget, safetensorsTarget, configTarget, detectionsTarget].map((t) => [t.name, t]),
);
