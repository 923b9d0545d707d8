// Fuzz: generated and corrupted safetensors files through the readers of src/io and readCheckpoint (see harness.ts).
import { test } from 'node:test';
import { ciSettings, runIsolated } from './harness.js';
import { safetensorsTarget } from './targets/safetensors.js';

test('fuzz safetensors: a typed error naming the file, or a correct result; the file unchanged; no hang', async () => {
  await runIsolated(safetensorsTarget.name, ciSettings(safetensorsTarget));
});
