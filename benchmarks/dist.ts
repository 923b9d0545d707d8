// `dist` suite (issue 23): data-parallel training on this machine, same run.
//   scaling: the mini preset's trainer step (PAA, batch 16 per rank at 160 px, fp32), 1 rank x 1 thread against
//            2 ranks x 1 thread (2 processes, c10d Gloo over TCP on 127.0.0.1, per-rank batch the same):
//            dist_scaling_efficiency = (2-rank throughput / 1-rank throughput) / 2 = t1 / t2.
//   peer:    the engine suite's ResNet-18 stack (batch 8 per rank at 128 px, SGD), 2 ranks x 1 thread, ladet
//            (engine/ddp.ts: gradients all-reduced in 25 MB buckets after the backward) against PyTorch 1.13's
//            DistributedDataParallel with Gloo (Debian python3-torch; ranks forked with torch.multiprocessing, as
//            its torchrun does not run on Python 3.11): ddp_step_ratio = ladet step / PyTorch step.
// Each side runs REPS times, alternating; medians. All-reduce time and bytes per step are recorded.
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENGINE_PEER } from './engine.js';
import { peerPython } from './peer.js';
import { median } from './util.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPS = Number(process.env.LADET_BENCH_REPS ?? 3);

interface ChildOut {
  step_ms: number;
  allreduce_ms: number;
  grad_bytes: number;
  world: number;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${code}\n${err}`)),
    );
  });
}

/** ladet with `world` ranks; rank 0's JSON. */
async function ladet(world: number, mode: string, steps: number): Promise<ChildOut> {
  const port = await freePort();
  const outs = await Promise.all(
    Array.from({ length: world }, (_, r) => {
      const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: '1' };
      if (world > 1) {
        Object.assign(env, {
          RANK: String(r),
          WORLD_SIZE: String(world),
          LOCAL_RANK: String(r),
          LOCAL_WORLD_SIZE: String(world),
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: String(port),
        });
      }
      return run(process.execPath, [join(here, 'dist_child.js'), mode, String(steps), '2'], env);
    }),
  );
  return JSON.parse((outs[0] as string).trim().split('\n').pop() as string) as ChildOut;
}

// The engine peer's network under DistributedDataParallel (Gloo), 2 ranks by torch.multiprocessing.
const DDP_PEER =
  ENGINE_PEER.replace(/^net = Net\(\);[\s\S]*$/m, '') +
  `
import os, torch.distributed as dist, torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP
def work(rank, world, port, steps, warm, q):
    os.environ['MASTER_ADDR'] = '127.0.0.1'; os.environ['MASTER_PORT'] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    torch.manual_seed(0)
    net = DDP(Net()); opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    torch.manual_seed(1 + rank)
    x = torch.randn(8, 3, 128, 128); y = torch.randint(0, 10, (8,))
    times = []
    for i in range(warm + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward(); opt.step()
        if i >= warm: times.append(time.perf_counter() - t0)
    times.sort()
    if rank == 0: q.put({"step_ms": 1000 * times[len(times) // 2], "bucket_cap_mb": 25})
    dist.destroy_process_group()
if __name__ == '__main__':
    ctx = mp.get_context('fork'); q = ctx.Queue()
    ps = [ctx.Process(target=work, args=(r, 2, int(sys.argv[4]), steps, warm, q)) for r in range(2)]
    for p in ps: p.start()
    out = q.get()
    for p in ps: p.join()
    print(json.dumps(out))
`;
import { freePort } from '../test/helpers.js';

async function peer(python: string, steps: number): Promise<number> {
  const port = await freePort();
  const out = await run(python, ['-c', DDP_PEER, '1', String(steps), '2', String(port)], {
    ...process.env,
    OMP_NUM_THREADS: '1',
  });
  return (JSON.parse(out.trim().split('\n').pop() as string) as { step_ms: number }).step_ms;
}

export async function dist(): Promise<Record<string, unknown>> {
  const loads: number[] = [];
  const one: ChildOut[] = [];
  const two: ChildOut[] = [];
  const ladetDdp: ChildOut[] = [];
  const torchDdp: number[] = [];
  const python = peerPython(['torch']);
  for (let rep = 0; rep < REPS; rep++) {
    loads.push(loadavg()[0] as number);
    one.push(await ladet(1, 'mini', 8));
    two.push(await ladet(2, 'mini', 8));
    ladetDdp.push(await ladet(2, 'engine', 10));
    if (python) torchDdp.push(await peer(python, 10));
    const last = (xs: ChildOut[]): number => (xs[xs.length - 1] as ChildOut).step_ms;
    console.log(
      `rep ${rep + 1}/${REPS}: mini 1 rank ${last(one).toFixed(0)} ms, 2 ranks ${last(two).toFixed(0)} ms; ` +
        `engine DDP ladet ${last(ladetDdp).toFixed(0)} ms` +
        (python ? `, PyTorch ${(torchDdp[torchDdp.length - 1] as number).toFixed(0)} ms` : ''),
    );
  }
  const t1 = median(one.map((o) => o.step_ms));
  const t2 = median(two.map((o) => o.step_ms));
  const l = median(ladetDdp.map((o) => o.step_ms));
  const result: Record<string, unknown> = {
    setup: {
      scaling:
        'configs/paa_r18_fashion_mini.yaml trainer step (PAA), batch 16 per rank at 160 px, fp32, 1 thread per rank',
      peer: "engine suite's ResNet-18 stack, batch 8 per rank at 128 px, SGD, 2 ranks x 1 thread",
      transport: 'c10d Gloo, TCP store on 127.0.0.1',
      reps: REPS,
      load_avg_1m: loads,
    },
    mini_1rank_step_ms: Math.round(t1 * 10) / 10,
    mini_2rank_step_ms: Math.round(t2 * 10) / 10,
    dist_scaling_efficiency: t1 / t2,
    mini_allreduce_ms: median(two.map((o) => o.allreduce_ms)),
    mini_grad_bytes: two[0]?.grad_bytes,
    engine_ladet_2rank_step_ms: Math.round(l * 10) / 10,
    engine_allreduce_ms: median(ladetDdp.map((o) => o.allreduce_ms)),
    engine_grad_bytes: ladetDdp[0]?.grad_bytes,
    targets: { dist_scaling_efficiency_min: 0.85, ddp_step_ratio_max: 1.05 },
  };
  if (python) {
    const p = median(torchDdp);
    result.engine_torch_ddp_2rank_step_ms = Math.round(p * 10) / 10;
    result.ddp_step_ratio = l / p;
  } else {
    result.peer_skipped = 'python3-torch not importable from /usr/bin/python3 (LADET_PEERS=1 bash scripts/setup.sh)';
  }
  return result;
}
