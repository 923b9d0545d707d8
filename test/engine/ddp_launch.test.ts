// `ladet train CONFIG nproc=2` (src/cli/launch.ts) as a user runs it: Ctrl-C on the launcher stops both ranks after
// the same step, rank 0 saves, and resume=true on 2 ranks ends bit-exact with the unbroken 2-rank run; a rank killed
// mid-run ends the other with a clear error and leaves no process behind.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareRuns, preparePreset, runCli } from '../../scripts/soak.js';
import { ProcessGroup } from '../../src/torch/index.js';
import { freePort } from '../helpers.js';

const skip = ProcessGroup.available() ? false : 'this libtorch build has no c10d/Gloo';
const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');
let work = '';
before(() => {
  work = mkdtempSync(join(tmpdir(), 'ladet-launch-'));
});
after(() => {
  if (work && !process.env.KEEP) rmSync(work, { recursive: true, force: true });
});

const childrenOf = (pid: number): number[] => {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when there is none
  }
};
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

// PAA; LAD, whose teacher every rank loads and nothing reduces; CoLAD, whose two networks are both reduced
for (const strategy of ['self', 'lad', 'colad'] as const) {
  test(
    `${strategy}: Ctrl-C on the launcher stops both ranks after the same step; resume=true ends bit-exact`,
    { skip },
    async () => {
      const config = await preparePreset(work, strategy, 3);
      const runs = join(work, 'runs');
      const port = async (): Promise<string> => `master_port=${await freePort()}`;
      const straight = await runCli(['train', config, `name=ddp_${strategy}`, 'nproc=2', await port()]);
      assert.equal(straight.code, 0, straight.stderr);
      const runDir = join(runs, `ddp_${strategy}_cut`);
      const cut = await runCli(['train', config, `name=ddp_${strategy}_cut`, 'nproc=2', await port()], {
        signal: 'SIGINT',
        runDir,
        afterIter: 3,
      });
      assert.equal(cut.code, 128 + constants.signals.SIGINT, `${cut.stdout}\n${cut.stderr}`);
      assert.match(cut.stdout, /continue with: ladet train .* nproc=2 .*resume=true/);
      const resumed = await runCli([
        'train',
        config,
        `name=ddp_${strategy}_cut`,
        'nproc=2',
        await port(),
        'resume=true',
      ]);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.deepEqual(compareRuns(join(runs, `ddp_${strategy}`), runDir), []);
    },
  );
}

test('two nodes on loopback (node_rank 0 and 1, one rank each) train as one job', { skip }, async () => {
  const config = await preparePreset(work, 'self', 2);
  const common = ['train', config, 'name=ddp_nodes', 'nproc=1', 'nnodes=2', `master_port=${await freePort()}`];
  const [n0, n1] = await Promise.all([
    runCli([...common, 'node_rank=0', 'master_addr=127.0.0.1']),
    runCli([...common, 'node_rank=1', 'master_addr=127.0.0.1']),
  ]);
  assert.equal(n0.code, 0, n0.stderr);
  assert.equal(n1.code, 0, n1.stderr);
  assert.match(n0.stdout + n0.stderr, /data parallel: 2 ranks/);
  assert.doesNotMatch(n1.stdout + n1.stderr, /data parallel|done:/, 'node 1 (rank 1) says nothing');
});

test(
  'a rank killed mid-run ends the other rank and the launcher with a clear error, no process left',
  { skip },
  async () => {
    const config = await preparePreset(work, 'self', 30);
    const port = await freePort();
    const launcher = spawn(
      process.execPath,
      [CLI, 'train', config, 'name=ddp_kill', 'nproc=2', `master_port=${port}`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    launcher.stdout.on('data', (d: Buffer) => (out += d.toString()));
    launcher.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const closed = new Promise<number | null>((resolve) => launcher.on('close', (code) => resolve(code)));
    // wait for training to run (the progress line), then kill rank 1 (the launcher's second child)
    const t0 = Date.now();
    while (!/data parallel: 2 ranks/.test(out) && Date.now() - t0 < 60_000)
      await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1500));
    const ranks = childrenOf(launcher.pid as number);
    assert.equal(ranks.length, 2, `ranks: ${ranks.join(', ')}\n${out}`);
    const killedAt = Date.now();
    process.kill(ranks[1] as number, 'SIGKILL');
    const code = await closed;
    const took = Date.now() - killedAt;
    assert.equal(code, 128 + constants.signals.SIGKILL, out);
    assert.match(out, /rank 1 exited with code 137/);
    assert.ok(took < 30_000, `the launcher took ${took} ms to end`);
    for (const pid of ranks) assert.equal(alive(pid), false, `rank process ${pid} is still running`);
  },
);
