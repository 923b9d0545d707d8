// Issue 19: every way a user stops a run saves it, and resume is bit-exact for every strategy. Each strategy's
// tiny preset is trained once without a break, then stopped by `ladet train`'s signal handling (SIGINT, SIGTERM)
// or killed (SIGKILL) in the middle, resumed with resume=true, and compared with the unbroken run: weights and
// optimizer state bit for bit, the trainer's position, metrics.csv and the evaluation files. Last, a short crash
// soak (scripts/soak.ts; `npm run soak` runs the long one).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareRuns, preparePreset, runCli, soak, type Strategy } from '../../scripts/soak.js';
import { readCheckpointHeader } from '../../src/build/checkpoint.js';

let work = '';
before(() => {
  work = mkdtempSync(join(tmpdir(), 'ladet-signals-'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const STRATEGIES: Strategy[] = ['self', 'lad', 'solad', 'colad'];
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGKILL'] as const;

for (const strategy of STRATEGIES) {
  test(`${strategy}: stopped by SIGINT, SIGTERM or SIGKILL mid-run, resume=true ends bit-exact with the unbroken run`, async () => {
    const config = await preparePreset(work, strategy, 3);
    const runs = join(work, 'runs');
    const straight = await runCli(['train', config]);
    assert.equal(straight.code, 0, straight.stderr);
    for (const signal of SIGNALS) {
      const name = `cut_${strategy}_${signal}`;
      const runDir = join(runs, name);
      const cut = await runCli(['train', config, `name=${name}`], { signal, runDir, afterIter: 5 });
      if (signal === 'SIGKILL') {
        assert.equal(cut.signal, 'SIGKILL');
      } else {
        // saved, and the exit code tells the shell which signal stopped it
        assert.equal(cut.code, 128 + constants.signals[signal], `${signal}: ${cut.stdout}\n${cut.stderr}`);
        assert.match(cut.stdout, /continue with: ladet train .* resume=true/);
        const st = readCheckpointHeader(join(runDir, 'weights', 'last.safetensors')).meta?.trainer;
        assert.ok(st && st.iter >= 5 && st.iter < 12, `${signal}: stopped at iteration ${st?.iter}`);
      }
      const resumed = await runCli(['train', config, `name=${name}`, 'resume=true']);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.deepEqual(compareRuns(join(runs, `tiny_${strategy}`), runDir), [], `${strategy} after ${signal}`);
    }
  });
}

test('crash soak (short): SIGKILL at random moments, resumed each time, ends equal to the unbroken run', async () => {
  const r = await soak({ kills: 6, seed: 7, epochs: 6, strategy: 'self', work: join(work, 'soak'), say: () => {} });
  assert.ok(r.kills >= 3, `only ${r.kills} kills landed before the run finished`);
  assert.deepEqual(r.diffs, []);
});
