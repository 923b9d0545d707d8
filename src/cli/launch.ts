// `ladet train CONFIG nproc=N [nnodes=M node_rank=K master_addr=HOST master_port=P]`: starts N ranks of a
// data-parallel job on this machine (node K of M), each a `ladet train` process with torchrun's environment (RANK,
// WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), since Debian's torchrun 1.13 does not run on
// its Python 3.11. Rank 0 keeps the terminal (progress, messages); the other ranks' errors still reach stderr.
// Ctrl-C / SIGTERM / SIGHUP go to every rank (they agree to stop after the same step, and rank 0 saves `last`).
// When a rank fails, the others are stopped; the launcher exits with the first failure's code.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { UsageError } from '../config/usage_error.js';

export interface LaunchOptions {
  nproc: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
}

const LAUNCH_KEYS = ['nproc', 'nnodes', 'node_rank', 'master_addr', 'master_port'] as const;

function intOpt(kv: Record<string, unknown>, key: string, dflt: number, min: number): number {
  const v = kv[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new UsageError(`ladet train: ${key} must be an integer >= ${min} (got ${JSON.stringify(kv[key])})`);
  }
  return v;
}

/** A command line's arguments without the launcher's key=value options (what each rank is started with). */
export function withoutLaunchArgs(args: readonly string[]): string[] {
  return args.filter((a) => !LAUNCH_KEYS.some((k) => a.startsWith(`${k}=`)));
}

/** The launcher's options out of `kv` (removed from it); null when nproc and nnodes ask for one process. */
export function launchOptionsOf(kv: Record<string, unknown>): LaunchOptions | null {
  if (!LAUNCH_KEYS.some((k) => k in kv)) return null;
  const o: LaunchOptions = {
    nproc: intOpt(kv, 'nproc', 1, 1),
    nnodes: intOpt(kv, 'nnodes', 1, 1),
    nodeRank: intOpt(kv, 'node_rank', 0, 0),
    masterAddr: String(kv.master_addr ?? '127.0.0.1'),
    masterPort: intOpt(kv, 'master_port', 29500, 1),
  };
  for (const k of LAUNCH_KEYS) delete kv[k];
  if (o.nodeRank >= o.nnodes)
    throw new UsageError(`ladet train: node_rank=${o.nodeRank} must be below nnodes=${o.nnodes}`);
  if (o.masterPort > 65535) throw new UsageError(`ladet train: master_port=${o.masterPort} is not a port number`);
  return o.nproc * o.nnodes > 1 ? o : null;
}

/**
 * Runs this node's ranks: `argv` is the `ladet train ...` command line without the launcher's options. Resolves to
 * the exit code (0 when every rank succeeded).
 */
export async function launch(o: LaunchOptions, argv: readonly string[]): Promise<number> {
  const world = o.nproc * o.nnodes;
  const children: ChildProcess[] = [];
  let firstFailure: { rank: number; code: number } | null = null;
  const exits: Promise<void>[] = [];
  for (let local = 0; local < o.nproc; local++) {
    const rank = o.nodeRank * o.nproc + local;
    const env = {
      ...process.env,
      RANK: String(rank),
      WORLD_SIZE: String(world),
      LOCAL_RANK: String(local),
      LOCAL_WORLD_SIZE: String(o.nproc),
      MASTER_ADDR: o.masterAddr,
      MASTER_PORT: String(o.masterPort),
    };
    // rank 0 owns the terminal; the others keep stderr (their errors) and drop stdout (rank 0 says it all)
    // detached: a terminal's Ctrl-C reaches the launcher alone, which forwards it once (a second signal would make
    // a rank exit at once instead of saving)
    const child = spawn(process.execPath, [...process.execArgv, ...argv], {
      env,
      stdio: rank === 0 ? 'inherit' : ['ignore', 'ignore', 'inherit'],
      detached: true,
    });
    children.push(child);
    exits.push(
      new Promise((resolve) => {
        child.on('exit', (code, signal) => {
          const c = code ?? 128 + constants.signals[signal ?? 'SIGTERM'];
          if (c !== 0 && firstFailure === null) {
            firstFailure = { rank, code: c };
            // a failed rank leaves the others waiting on a collective until their timeout: stop them now
            for (const other of children) if (other !== child && other.exitCode === null) other.kill('SIGTERM');
          }
          resolve();
        });
      }),
    );
  }
  let forwarded: NodeJS.Signals | null = null;
  const forward = (sig: NodeJS.Signals) => (): void => {
    forwarded ??= sig;
    for (const c of children) if (c.exitCode === null) c.kill(sig);
  };
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
  // the ranks are detached: if the launcher itself goes (an error, process.exit), they go with it
  const killAll = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  for (const [s, h] of handlers) process.on(s, h);
  process.on('exit', killAll);
  try {
    await Promise.all(exits);
  } finally {
    for (const [s, h] of handlers) process.off(s, h);
    process.off('exit', killAll);
  }
  const failed = firstFailure as { rank: number; code: number } | null;
  const stoppedBy = forwarded as NodeJS.Signals | null;
  if (stoppedBy !== null) {
    // every rank was asked to stop; rank 0 has said where it saved
    if (failed !== null && failed.code !== 128 + constants.signals[stoppedBy]) {
      console.error(`ladet train: rank ${failed.rank} exited with code ${failed.code} while stopping`);
    }
    return 128 + constants.signals[stoppedBy];
  }
  if (failed !== null) {
    console.error(
      `ladet train: rank ${failed.rank} exited with code ${failed.code}; every rank of this node has stopped`,
    );
    return failed.code;
  }
  return 0;
}
