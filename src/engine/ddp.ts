// Data-parallel training over libtorch's c10d (Gloo), as PyTorch's DistributedDataParallel: every rank holds the
// whole model, rank 0's parameters and buffers are broadcast at start, each step's gradients are all-reduced
// (summed, then divided by the world size) before the optimizer, and the loss normalisers (num_pos) are averaged
// over ranks (src/losses/avg_factor.ts). The environment is torchrun's (RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so any launcher that speaks it can start ladet.
//
// Gradients go in buckets of at most BUCKET_BYTES through one coalesced all-reduce each (c10d's
// allreduce_coalesced flattens a bucket into one buffer), after the backward rather than overlapped with it as
// c10d's Reducer does.
import { BYTES_PER_ELEMENT, ProcessGroup, noGrad, tensor, tidy, zerosLike, type Tensor } from '../torch/index.js';
import type { Module } from '../nn/module.js';
import { setAvgFactorReducer } from '../losses/avg_factor.js';

/** torchrun's variables, read and checked. */
export interface DistEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
}

const BUCKET_BYTES = 25 << 20; // DDP's default bucket_cap_mb

function intVar(env: NodeJS.ProcessEnv, name: string, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') throw new Error(`distributed: ${name} is not set (WORLD_SIZE is)`);
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`distributed: ${name}=${raw} is not an integer >= ${min}`);
  return v;
}

/**
 * The data-parallel job this process belongs to, from torchrun's environment; null when WORLD_SIZE is unset or 1
 * (one process). Missing or inconsistent variables are errors naming the variable.
 */
export function distEnvOf(env: NodeJS.ProcessEnv = process.env): DistEnv | null {
  if (env.WORLD_SIZE === undefined || env.WORLD_SIZE === '' || env.WORLD_SIZE === '1') return null;
  const worldSize = intVar(env, 'WORLD_SIZE', 1);
  const rank = intVar(env, 'RANK', 0);
  if (rank >= worldSize) throw new Error(`distributed: RANK=${rank} is not below WORLD_SIZE=${worldSize}`);
  const localRank = env.LOCAL_RANK === undefined ? 0 : intVar(env, 'LOCAL_RANK', 0);
  const localWorldSize = env.LOCAL_WORLD_SIZE === undefined ? 1 : intVar(env, 'LOCAL_WORLD_SIZE', 1);
  if (localRank >= localWorldSize) {
    throw new Error(`distributed: LOCAL_RANK=${localRank} is not below LOCAL_WORLD_SIZE=${localWorldSize}`);
  }
  const masterAddr = env.MASTER_ADDR;
  if (masterAddr === undefined || masterAddr === '')
    throw new Error('distributed: MASTER_ADDR is not set (WORLD_SIZE is)');
  const masterPort = intVar(env, 'MASTER_PORT', 1);
  if (masterPort > 65535) throw new Error(`distributed: MASTER_PORT=${masterPort} is not a port number`);
  return { rank, worldSize, localRank, localWorldSize, masterAddr, masterPort };
}

/** One rank of a data-parallel job. */
export class DataParallel {
  readonly rank: number;
  readonly worldSize: number;
  private readonly pg: ProcessGroup;
  private installed = false;

  private constructor(pg: ProcessGroup) {
    this.pg = pg;
    this.rank = pg.rank;
    this.worldSize = pg.worldSize;
  }

  /** Joins the job (rank 0 serves the rendezvous store at MASTER_ADDR:MASTER_PORT). */
  static join(env: DistEnv, timeoutMs: number, startTimeoutMs = timeoutMs): DataParallel {
    if (!ProcessGroup.available()) {
      throw new Error(
        `distributed: WORLD_SIZE=${env.worldSize}, but this libtorch build has no c10d/Gloo ` +
          '(install libgloo-dev and rebuild: bash scripts/setup.sh)',
      );
    }
    const pg = ProcessGroup.create({
      rank: env.rank,
      worldSize: env.worldSize,
      timeoutMs,
      initTimeoutMs: startTimeoutMs,
      store: { kind: 'tcp', host: env.masterAddr, port: env.masterPort },
    });
    return new DataParallel(pg);
  }

  /** A job over an existing group (tests, the library API). */
  static over(pg: ProcessGroup): DataParallel {
    return new DataParallel(pg);
  }

  get isMain(): boolean {
    return this.rank === 0;
  }

  /** Rank 0's parameters and buffers (BN running statistics) on every rank, in place. */
  broadcastModule(m: Module): void {
    this.broadcastFromMain([...m.parameters(), ...m.namedBuffers().map(([, t]) => t)]);
  }

  /**
   * Rank 0's buffers (BatchNorm running statistics) on every rank, as DistributedDataParallel's broadcast_buffers
   * before each forward: BN layers that train update them from each rank's own batch, and without this the ranks'
   * statistics drift apart (and a resumed job, which loads rank 0's, would differ from an unbroken one).
   */
  broadcastBuffers(m: Module): void {
    this.broadcastFromMain(m.namedBuffers().map(([, t]) => t));
  }

  private broadcastFromMain(ts: readonly Tensor[]): void {
    noGrad(() => {
      for (const bucket of buckets(ts)) this.pg.broadcast(bucket, 0);
    });
  }

  /**
   * Sums every parameter's gradient over ranks and divides by the world size, in place; a parameter without a
   * gradient on this rank takes zeros, so every rank reduces the same list. `localOk`: whether this rank's losses
   * were finite; returns whether every rank's were (one more 8-byte reduction), so all ranks stop together.
   */
  allReduceGradients(params: readonly Tensor[], localOk = true): boolean {
    const flag = this.sum([localOk ? 0 : 1])[0] as number;
    if (flag > 0) return false;
    tidy(() =>
      noGrad(() => {
        // p.grad is a new handle per call (tidy disposes them; the gradients stay with their parameters)
        const grads = params.map((p) => {
          const g = p.grad;
          if (g !== null) return g;
          const z = zerosLike(p);
          p.grad = z;
          return z;
        });
        for (const bucket of buckets(grads)) {
          this.pg.allReduce(bucket);
          for (const g of bucket) g.div_(this.worldSize);
        }
      }),
    );
    return true;
  }

  /** The sum over ranks of each value (float64). */
  sum(values: readonly number[]): number[] {
    const t = tensor([...values], [values.length], { dtype: 'float64' });
    try {
      this.pg.allReduce([t]);
      return t.toArray() as number[];
    } finally {
      t.dispose();
    }
  }

  /** The mean over ranks of each value (float64). */
  mean(values: readonly number[]): number[] {
    return this.sum(values).map((v) => v / this.worldSize);
  }

  /** Every rank's values, by rank. */
  gather(values: readonly number[]): number[][] {
    const t = tensor([...values], [values.length], { dtype: 'float64' });
    try {
      const all = this.pg.allGather(t);
      try {
        const flat = all.toArray();
        return Array.from({ length: this.worldSize }, (_, r) => flat.slice(r * values.length, (r + 1) * values.length));
      } finally {
        all.dispose();
      }
    } finally {
      t.dispose();
    }
  }

  /** Every rank's array (of any length), by rank: the lengths first, then the arrays padded to the longest. */
  allGatherF64(local: Float64Array): Float64Array[] {
    const lengths = this.gather([local.length]).map((v) => v[0] as number);
    const longest = Math.max(...lengths);
    if (longest === 0) return lengths.map(() => new Float64Array(0));
    const padded = new Array<number>(longest).fill(0);
    local.forEach((v, i) => (padded[i] = v));
    return this.gather(padded).map((row, r) => Float64Array.from(row.slice(0, lengths[r])));
  }

  /** Loss normalisers (num_pos, ...) averaged over ranks until the returned function restores the previous ones. */
  installLossReducer(): () => void {
    const before = setAvgFactorReducer((v) => this.mean(v));
    this.installed = true;
    return () => {
      setAvgFactorReducer(before);
      this.installed = false;
    };
  }

  barrier(): void {
    this.pg.barrier();
  }

  /**
   * Rank 0 runs `work` (e.g. making a built-in dataset) while the others wait up to `timeoutMs` (longer than a
   * collective's timeout may be needed), then run it themselves (finding the work done). A failure on rank 0 leaves
   * the others waiting until their timeout, with an error naming the step.
   */
  async rank0First<T>(what: string, timeoutMs: number, work: () => Promise<T>): Promise<T> {
    if (this.isMain) {
      const r = await work();
      this.pg.signal(`done/${what}`);
      return r;
    }
    try {
      this.pg.waitFor(`done/${what}`, timeoutMs);
    } catch (e) {
      throw new Error(`distributed: rank ${this.rank} waited ${timeoutMs} ms for rank 0 to finish ${what}`, {
        cause: e,
      });
    }
    return work();
  }

  destroy(): void {
    if (this.installed) setAvgFactorReducer(null);
    this.installed = false;
    this.pg.destroy();
  }
}

/** Consecutive runs of same-dtype tensors of at most BUCKET_BYTES (one tensor above it is a bucket of its own). */
function buckets(ts: readonly Tensor[]): Tensor[][] {
  const out: Tensor[][] = [];
  let cur: Tensor[] = [];
  let bytes = 0;
  for (const t of ts) {
    const n = t.numel * BYTES_PER_ELEMENT[t.dtype];
    if (cur.length && (cur[0]?.dtype !== t.dtype || bytes + n > BUCKET_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(t);
    bytes += n;
  }
  if (cur.length) out.push(cur);
  return out;
}
