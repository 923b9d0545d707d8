// Fuzz: truncated, bit-flipped and overwritten PyTorch .pth files through readPth and readPthStateDict (see harness.ts).
import { test } from 'node:test';
import { ciSettings, runIsolated } from './harness.js';
import { pthTarget } from './targets/pth.js';

test('fuzz pth: a PthError naming the file, or a sane result; the file unchanged; no hang', async () => {
  await runIsolated(pthTarget.name, ciSettings(pthTarget));
});
