// Fuzz: generated and corrupted COCO annotation files through readCoco, checkCocoFile, checkDataset and readCocoGt (see harness.ts).
import { test } from 'node:test';
import { ciSettings, runIsolated } from './harness.js';
import { cocoTarget } from './targets/coco.js';

test('fuzz coco: a typed error naming the file, or a correct result; the file unchanged; no hang', async () => {
  await runIsolated(cocoTarget.name, ciSettings(cocoTarget));
});
