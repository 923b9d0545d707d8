// One rank of test/torch/distributed.test.ts: joins a process group as the JSON spec in argv[2] says, runs a
// scenario and prints one JSON line with what it saw. Without a spec (e.g. picked up by a test runner) it does nothing.
import { ProcessGroup, tensor, type Tensor } from '../../src/torch/index.js';

export interface WorkerSpec {
  scenario: 'collectives' | 'peer-exits' | 'peer-hangs' | 'long-wait';
  rank: number;
  worldSize: number;
  timeoutMs: number;
  store: { kind: 'tcp'; host: string; port: number } | { kind: 'file'; path: string };
  /** Megabytes of float32 to all-reduce, timed (collectives only; 0 skips). */
  benchMB?: number;
}

export interface WorkerReport {
  ok: boolean;
  rank: number;
  createMs?: number;
  allReduce?: number[][];
  dtypes?: string[];
  broadcast?: number[][];
  allGather?: { shape: number[]; values: number[] };
  afterDestroy?: string;
  benchMs?: number;
  error?: string;
  elapsedMs?: number;
  neverError?: string;
}

function report(r: WorkerReport): void {
  process.stdout.write(JSON.stringify(r) + '\n');
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function run(spec: WorkerSpec): void {
  const { rank } = spec;
  const t0 = performance.now();
  const pg = ProcessGroup.create({
    rank,
    worldSize: spec.worldSize,
    timeoutMs: spec.timeoutMs,
    store: spec.store,
  });
  const createMs = performance.now() - t0;

  if (spec.scenario === 'collectives') {
    // several tensors of mixed dtypes: allReduce groups them (float32 twice, coalesced; float64 and int64 alone)
    const reduced: Tensor[] = [
      tensor(
        [1, 2, 3, 4, 5, 6].map((v) => v * (rank + 1)),
        [2, 3],
      ),
      tensor([rank, -rank, 0.5], [3], { dtype: 'float64' }),
      tensor([10 + rank, 20 * rank], [2], { dtype: 'int64' }),
      tensor([rank + 0.25], [1]),
    ];
    pg.allReduce(reduced);
    const broadcast: Tensor[] = [
      tensor([rank, rank + 1, rank + 2], [3]),
      tensor([100 * rank, 7], [2], { dtype: 'int32' }),
    ];
    pg.broadcast(broadcast, 1);
    const gathered = pg.allGather(tensor([rank, rank + 0.5], [2], { dtype: 'float64' }));
    pg.barrier();
    let benchMs: number | undefined;
    if (spec.benchMB) {
      const big = tensor(new Float32Array((spec.benchMB * 1e6) / 4).fill(1), [(spec.benchMB * 1e6) / 4]);
      pg.allReduce([big]); // warm-up: Gloo builds its algorithm for this size once
      const reps = 5;
      pg.barrier();
      const tb = performance.now();
      for (let i = 0; i < reps; i++) pg.allReduce([big]);
      benchMs = (performance.now() - tb) / reps;
    }
    pg.destroy();
    pg.destroy(); // idempotent
    let afterDestroy = '';
    try {
      pg.barrier();
    } catch (e) {
      afterDestroy = (e as Error).message;
    }
    report({
      ok: true,
      rank,
      createMs,
      allReduce: reduced.map((t) => t.toArray() as number[]),
      dtypes: reduced.map((t) => t.dtype),
      broadcast: broadcast.map((t) => t.toArray() as number[]),
      allGather: { shape: gathered.shape, values: gathered.toArray() as number[] },
      afterDestroy,
      ...(benchMs === undefined ? {} : { benchMs }),
    });
    return;
  }

  if (spec.scenario === 'long-wait') {
    // a wait past the collectives' timeout: rank 1 signals late, rank 0 waits with its own limit
    pg.barrier();
    if (rank === 1) {
      sleepMs(spec.timeoutMs + 800);
      pg.signal('ready');
      report({ ok: true, rank });
    } else {
      const tw = performance.now(); // from the barrier rank 1 also left: its signal comes after timeoutMs + 800
      let neverError = '';
      try {
        pg.waitFor('never', 300);
      } catch (e) {
        neverError = (e as Error).message;
      }
      try {
        pg.waitFor('ready', spec.timeoutMs * 5);
        report({ ok: true, rank, elapsedMs: performance.now() - tw, neverError });
      } catch (e) {
        report({ ok: false, rank, error: (e as Error).message, neverError });
      }
    }
    pg.barrier();
    pg.destroy();
    return;
  }

  // the fault scenarios: rank 1 leaves (or stops answering) after the group is up; rank 0 all-reduces
  pg.barrier();
  if (rank === 1) {
    if (spec.scenario === 'peer-hangs') sleepMs(spec.timeoutMs + 1000); // silent past the other's timeout
    process.exit(0);
  }
  const x = tensor([1, 2, 3], [3]);
  const tc = performance.now();
  try {
    pg.allReduce([x]);
    report({ ok: true, rank, elapsedMs: performance.now() - tc });
  } catch (e) {
    report({ ok: false, rank, error: (e as Error).message, elapsedMs: performance.now() - tc });
  } finally {
    pg.destroy();
  }
}

if (process.argv[2] !== undefined) {
  try {
    run(JSON.parse(process.argv[2]) as WorkerSpec);
  } catch (e) {
    report({ ok: false, rank: -1, error: (e as Error).message });
    process.exitCode = 1;
  }
}
