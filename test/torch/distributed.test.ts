// ProcessGroup (c10d / Gloo): two ranks in child processes (test/torch/distributed_worker.ts) over a file store and a
// TCP store on 127.0.0.1; a rank that exits or hangs fails the other's collective with a JS Error in bounded time;
// a port taken by another listener and bad arguments are clear errors; a one-rank group works in this process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessGroup, tensor } from '../../src/torch/index.js';
import type { WorkerReport, WorkerSpec } from './distributed_worker.js';
import { freePort } from '../helpers.js';

const skip = ProcessGroup.available() ? false : 'the addon was built without c10d/Gloo (install libgloo-dev, rebuild)';
const worker = fileURLToPath(new URL('./distributed_worker.js', import.meta.url));

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  report: WorkerReport | null;
  stderr: string;
}

function runRank(spec: WorkerSpec, killAfterMs = 20_000): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [worker, JSON.stringify(spec)], {
      env: { ...process.env, LADET_THREADS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop();
      resolve({ code, signal, report: line ? (JSON.parse(line) as WorkerReport) : null, stderr: err });
    });
  });
}

function runRanks(base: Omit<WorkerSpec, 'rank'>): Promise<Exit[]> {
  return Promise.all([0, 1].map((rank) => runRank({ ...base, rank })));
}

/** Asserts the rank exited 0 without a crash, and returns its report. */
function clean(e: Exit, rank: number): WorkerReport {
  exited(e, rank);
  assert.ok(e.report, `rank ${rank} printed no report: ${e.stderr}`);
  return e.report;
}

function exited(e: Exit, rank: number): void {
  assert.equal(e.signal, null, `rank ${rank} died of ${e.signal}: ${e.stderr}`);
  assert.equal(e.code, 0, `rank ${rank} exited ${e.code}: ${e.stderr}`);
  assert.doesNotMatch(e.stderr, /terminate called|Aborted|Segmentation/);
}

function checkCollectives(exits: Exit[]): WorkerReport[] {
  const reports = exits.map(clean);
  for (const [rank, r] of reports.entries()) {
    assert.ok(r.ok, `rank ${rank}: ${r.error}`);
    // sums over ranks 0 and 1, by hand
    assert.deepEqual(r.allReduce, [[3, 6, 9, 12, 15, 18], [1, -1, 1], [21, 20], [1.5]]);
    assert.deepEqual(r.dtypes, ['float32', 'float64', 'int64', 'float32']);
    // rank 1's values everywhere
    assert.deepEqual(r.broadcast, [
      [1, 2, 3],
      [100, 7],
    ]);
    assert.deepEqual(r.allGather, { shape: [2, 2], values: [0, 0.5, 1, 1.5] });
    assert.match(r.afterDestroy ?? '', /ProcessGroup\.barrier: the process group was destroyed/);
  }
  return reports;
}

test(
  'two ranks over a file store: allReduce (mixed dtypes), broadcast from rank 1, allGather, barrier',
  { skip },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ladet-pg-'));
    try {
      const reports = checkCollectives(
        await runRanks({
          scenario: 'collectives',
          worldSize: 2,
          timeoutMs: 10_000,
          store: { kind: 'file', path: join(dir, 'store') },
          benchMB: 10,
        }),
      );
      const ms = Math.max(...reports.map((r) => r.benchMs ?? 0));
      t.diagnostic(`all-reduce of 10 MB float32 between 2 ranks: ${ms.toFixed(1)} ms`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('two ranks over a TCP store on 127.0.0.1', { skip }, async (t) => {
  const port = await freePort();
  const reports = checkCollectives(
    await runRanks({
      scenario: 'collectives',
      worldSize: 2,
      timeoutMs: 10_000,
      store: { kind: 'tcp', host: '127.0.0.1', port },
    }),
  );
  t.diagnostic(`group created in ${Math.max(...reports.map((r) => r.createMs ?? 0)).toFixed(0)} ms`);
});

test(
  'a rank that exits before a collective: the other gets a JS Error at once and exits cleanly',
  { skip },
  async () => {
    const port = await freePort();
    const timeoutMs = 3000;
    const [r0, r1] = await runRanks({
      scenario: 'peer-exits',
      worldSize: 2,
      timeoutMs,
      store: { kind: 'tcp', host: '127.0.0.1', port },
    });
    exited(r1 as Exit, 1);
    const rep = clean(r0 as Exit, 0);
    assert.equal(rep.ok, false, 'the all-reduce with a dead peer succeeded');
    assert.match(rep.error ?? '', /^c10d allReduce failed on rank 0 of 2: /);
    assert.match(rep.error ?? '', /Connection closed by peer|Connection reset|Timed out/);
    assert.ok((rep.elapsedMs ?? Infinity) < timeoutMs + 2000, `took ${rep.elapsedMs} ms`);
  },
);

test('a rank that hangs: the other times out with a JS Error after timeoutMs and exits cleanly', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-pg-'));
  const timeoutMs = 2000;
  try {
    const base = { scenario: 'peer-hangs', worldSize: 2, timeoutMs, store: { kind: 'file', path: join(dir, 's') } };
    const hung = runRank({ ...base, rank: 1 } as WorkerSpec);
    const r0 = await runRank({ ...base, rank: 0 } as WorkerSpec);
    const rep = clean(r0, 0);
    assert.equal(rep.ok, false, 'the all-reduce with a hung peer succeeded');
    assert.match(rep.error ?? '', /^c10d allReduce failed on rank 0 of 2: .*Timed out waiting 2000ms/);
    const ms = rep.elapsedMs ?? Infinity;
    assert.ok(ms >= timeoutMs - 100 && ms < timeoutMs + 2000, `took ${ms} ms`);
    exited(await hung, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  "waitFor(key, timeoutMs) outlasts the collectives' timeout; an unset key times out with a clear Error",
  { skip },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ladet-pg-'));
    const timeoutMs = 1000;
    try {
      const base = { scenario: 'long-wait', worldSize: 2, timeoutMs, store: { kind: 'file', path: join(dir, 's') } };
      const [r0, r1] = await Promise.all([0, 1].map((rank) => runRank({ ...base, rank } as WorkerSpec)));
      const rep0 = clean(r0 as Exit, 0);
      assert.equal(rep0.ok, true, rep0.error);
      assert.ok((rep0.elapsedMs ?? 0) > timeoutMs, `rank 0 waited ${rep0.elapsedMs} ms, not past the group timeout`);
      assert.match(rep0.neverError ?? '', /^c10d: rank 0 waited 300 ms for ladet\/user\/never in the store/);
      assert.equal(clean(r1 as Exit, 1).ok, true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('rank 0 on a port another listener holds: a clear Error, quickly', { skip }, async () => {
  const server: Server = createServer();
  await new Promise<void>((res) => server.listen(0, res)); // all interfaces, as a stray service would
  const port = (server.address() as { port: number }).port;
  try {
    const t0 = performance.now();
    assert.throws(
      () =>
        ProcessGroup.create({
          rank: 0,
          worldSize: 2,
          timeoutMs: 3000,
          store: { kind: 'tcp', host: '127.0.0.1', port },
        }),
      (e: Error) => {
        assert.match(e.message, new RegExp(`^c10d: rank 0 cannot serve the store on port ${port} `));
        assert.match(e.message, /Address already in use/);
        return true;
      },
    );
    assert.ok(performance.now() - t0 < 2500);
  } finally {
    await new Promise<void>((res) => server.close(() => res()));
  }
});

test(
  'a rank that cannot reach the store, or waits for a missing rank, fails within initTimeoutMs',
  { skip },
  async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'ladet-pg-'));
    try {
      let t0 = performance.now();
      assert.throws(
        () =>
          ProcessGroup.create({
            rank: 1,
            worldSize: 2,
            initTimeoutMs: 1000,
            store: { kind: 'tcp', host: '127.0.0.1', port },
          }),
        new RegExp(`^Error: c10d: cannot reach the store at 127\\.0\\.0\\.1:${port} within 1000 ms \\(rank 1\\)`),
      );
      assert.ok(performance.now() - t0 < 3000);
      t0 = performance.now();
      assert.throws(
        () =>
          ProcessGroup.create({
            rank: 0,
            worldSize: 2,
            initTimeoutMs: 1000,
            store: { kind: 'file', path: join(dir, 's') },
          }),
        /^Error: c10d: only 1 of 2 ranks joined the store at .* within 1000 ms \(rank 0\)/,
      );
      assert.ok(performance.now() - t0 < 3000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'one rank in this process: collectives are the identity; destroy is idempotent, use after it an Error',
  { skip },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'ladet-pg-'));
    try {
      const pg = ProcessGroup.create({
        rank: 0,
        worldSize: 1,
        timeoutMs: 5000,
        store: { kind: 'file', path: join(dir, 's') },
      });
      assert.equal(pg.rank, 0);
      assert.equal(pg.worldSize, 1);
      const a = tensor([1, 2, 3], [3]);
      const b = tensor([4, 5], [2], { dtype: 'float64' });
      pg.allReduce([a, b]);
      pg.allReduce([]);
      assert.deepEqual(a.toArray(), [1, 2, 3]);
      assert.deepEqual(b.toArray(), [4, 5]);
      // a leaf that requires grad is updated in place like its data (as DDP's broadcast of parameters needs)
      const w = tensor([7, 8], [2]).requiresGrad_(true);
      pg.broadcast([w, b], 0);
      assert.deepEqual(w.toArray(), [7, 8]);
      const g = pg.allGather(tensor([1, 2, 3, 4], [2, 2], { dtype: 'int32' }));
      assert.deepEqual(g.shape, [1, 2, 2]);
      assert.equal(g.dtype, 'int32');
      assert.deepEqual(g.toArray(), [1, 2, 3, 4]);
      pg.barrier();
      assert.throws(
        () => pg.allReduce([tensor([1, 2, 3, 4], [2, 2]).transpose(0, 1)]),
        /pgAllReduce: tensor 0 is not contiguous/,
      );
      assert.throws(() => pg.broadcast([a], 1), /broadcast root must be an integer in \[0, 0\]/);
      assert.throws(() => pg.allReduce([{} as never]), /ProcessGroup\.allReduce: element 0 is not a Tensor/);
      pg.destroy();
      pg.destroy();
      assert.ok(pg.isDestroyed);
      assert.throws(() => pg.allReduce([a]), /ProcessGroup\.allReduce: the process group was destroyed/);
      assert.throws(() => pg.allGather(a), /the process group was destroyed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('ProcessGroup.create validates its options', () => {
  const file = { kind: 'file', path: '/nonexistent/x' } as const;
  assert.throws(() => ProcessGroup.create({ rank: 0, worldSize: 0, store: file }), /worldSize must be an integer >= 1/);
  assert.throws(() => ProcessGroup.create({ rank: 2, worldSize: 2, store: file }), /rank 2 is not below worldSize 2/);
  assert.throws(() => ProcessGroup.create({ rank: -1, worldSize: 2, store: file }), /rank must be an integer >= 0/);
  assert.throws(() => ProcessGroup.create({ rank: 0.5, worldSize: 2, store: file }), /rank must be an integer/);
  assert.throws(
    () => ProcessGroup.create({ rank: 0, worldSize: 2, timeoutMs: 0, store: file }),
    /timeoutMs must be an integer in \[1, /,
  );
  assert.throws(
    () => ProcessGroup.create({ rank: 0, worldSize: 2, store: { kind: 'tcp', host: '127.0.0.1', port: 0 } }),
    /store\.port must be an integer in \[1, 65535\]/,
  );
  assert.throws(
    () => ProcessGroup.create({ rank: 0, worldSize: 2, store: { kind: 'tcp', host: '', port: 1234 } }),
    /store\.host must be a host name/,
  );
  assert.throws(() => ProcessGroup.create({ rank: 0, worldSize: 2, store: { kind: 'udp' } as never }), /store must be/);
});
