// Fuzz: generated and corrupted results (detections) files through readDetections (see harness.ts).
import { test } from 'node:test';
import { ciSettings, runIsolated } from './harness.js';
import { detectionsTarget } from './targets/detections.js';

test('fuzz detections: a typed error naming the file, or a correct result; the file unchanged; no hang', async () => {
  await runIsolated(detectionsTarget.name, ciSettings(detectionsTarget));
});
