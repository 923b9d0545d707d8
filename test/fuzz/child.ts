// Child-process entry of the fuzz runner (see harness.ts runIsolated): runs one target, writes each case's
// description to a file before running it (so a crash is reported with its input) and reports to the parent.
import { writeFileSync } from 'node:fs';
import { runTarget } from './harness.js';
import { targets } from './targets.js';

const [name = '', seed = '', runs = '', lastCase = ''] = process.argv.slice(2);
const send = (m: unknown): Promise<void> => new Promise((resolve) => process.send?.(m, undefined, {}, () => resolve()));
const target = targets[name];
if (target === undefined) {
  await send({ type: 'fail', message: `unknown fuzz target '${name}' (have: ${Object.keys(targets).join(', ')})` });
} else {
  try {
    await runTarget(target, {
      seed: Number(seed),
      runs: Number(runs),
      onCase: (n, summary) => {
        writeFileSync(lastCase, summary);
        process.send?.({ type: 'case', n });
      },
    });
    await send({ type: 'done' });
  } catch (e) {
    await send({ type: 'fail', message: e instanceof Error ? e.message : String(e) });
  }
}
process.disconnect?.();
