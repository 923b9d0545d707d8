// Fuzz: generated and corrupted config files through loadConfig (see harness.ts).
import { test } from 'node:test';
import { ciSettings, runIsolated } from './harness.js';
import { configTarget } from './targets/config.js';

test('fuzz config: a typed error naming the file, or a correct result; the file unchanged; no hang', async () => {
  await runIsolated(configTarget.name, ciSettings(configTarget));
});
