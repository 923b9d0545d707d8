// `io`: reading a PyTorch checkpoint of detector size (src/io/pth.ts's readPthStateDict) against torch.load in the
// same run. The checkpoint: a PAA-R101-FPN state dict with mmdetection's names and shapes (torchvision's ResNet-101
// without its classifier, FPN 256 with its P6/P7 convs, the PAA head's 4 + 4 GN convs and its outputs), random
// values, saved by torch 1.13 as {meta, state_dict} in the zip format (about 200 MB).
//
// Time: best of REPS first loads, each in a fresh process (ladet: io_child.js; torch: a python that imports torch,
// then times torch.load), the two sides alternating so a slow spell of this shared machine hits both; the file is in
// the page cache (a warm-up read first). A program opens a checkpoint once, into memory it has not touched yet;
// torch.load repeated in one process is much faster (its freed allocations are reused, no page faults), so those
// times are recorded too, as context, not compared. ladet's time is split into reading the file into one buffer
// and parsing it; the parse includes a CRC-32 pass over every record, which torch 1.13 does not make (it loads the
// bad-CRC fixture of test/io/fixtures/pth/ without complaint). ladet reads into memory in transparent huge pages
// (src/torch/bytes.ts hostBuffer): on this virtual machine faulting in fresh 4 KiB pages was most of both sides'
// time (a 200 MB read: ~500 ms of faults, ~20 ms of copying). A third side, ladet with LADET_HUGE_PAGES=0, shows
// what the pages alone are worth.
// First use: right after the load, each side reads one byte of every 4 KiB page of every tensor; the CRC pass has
// already brought ladet's pages in, torch's pay their first touch there (pth_load_and_first_use_ratio).
// Memory: in each one-read process, its peak RSS after the read less its RSS just before it, over the file's size
// (median over the REPS processes); also, as the bench was first specified, the peak RSS of a one-read process
// less that of a bare process with the same imports reading nothing (node / python with torch imported).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { peerPython, runPeer } from './peer.js';
import { median } from './util.js';

const REPS = 6;
const WARM_REPS = 4;

const MAKE = `
import sys, collections, torch, torchvision
torch.manual_seed(0)
sd = collections.OrderedDict()
for k, v in torchvision.models.resnet101().state_dict().items():
    if not k.startswith('fc.'):
        sd['backbone.' + k] = torch.randn(v.shape) if v.is_floating_point() else v
def conv(name, cin, cout, k, bias=True):
    sd[name + '.weight'] = torch.randn(cout, cin, k, k)
    if bias:
        sd[name + '.bias'] = torch.randn(cout)
for i, c in enumerate([512, 1024, 2048]):
    conv(f'neck.lateral_convs.{i}.conv', c, 256, 1)
    conv(f'neck.fpn_convs.{i}.conv', 256, 256, 3)
conv('neck.fpn_convs.3.conv', 2048, 256, 3)
conv('neck.fpn_convs.4.conv', 256, 256, 3)
for branch in ('cls_convs', 'reg_convs'):
    for i in range(4):
        conv(f'bbox_head.{branch}.{i}.conv', 256, 256, 3, bias=False)
        sd[f'bbox_head.{branch}.{i}.gn.weight'] = torch.randn(256)
        sd[f'bbox_head.{branch}.{i}.gn.bias'] = torch.randn(256)
conv('bbox_head.atss_cls', 256, 9 * 80, 3)
conv('bbox_head.atss_reg', 256, 9 * 4, 3)
conv('bbox_head.atss_iou', 256, 9, 3)
torch.save({'meta': {'CLASSES': tuple(f'c{i}' for i in range(80)), 'epoch': 12}, 'state_dict': sd}, sys.argv[1])
print('{"tensors": %d, "bytes": %d}' % (len(sd), sum(v.numel() * v.element_size() for v in sd.values())))
`;

const TORCH_LOAD = `
import json, resource, sys, time, gc, torch
f, reps = sys.argv[1], int(sys.argv[2])
times = []
touch = []
rss_before_kb = int(open('/proc/self/statm').read().split()[1]) * resource.getpagesize() / 1024
for _ in range(reps):
    gc.collect()
    t0 = time.perf_counter()
    d = torch.load(f)
    times.append((time.perf_counter() - t0) * 1000)
    t1 = time.perf_counter()
    total = 0
    for v in d['state_dict'].values():
        b = v.reshape(-1).view(torch.uint8) if v.dtype != torch.bool else v.reshape(-1).to(torch.uint8)
        total += int(b[::4096].sum()) if b.numel() else 0
    touch.append((time.perf_counter() - t1) * 1000)
    del d
print(json.dumps({'times_ms': times, 'touch_ms': touch, 'rss_before_kb': rss_before_kb, 'peak_rss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
`;

const TORCH_BASELINE = `
import json, resource, torch
print(json.dumps({'peak_rss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
`;

const here = dirname(fileURLToPath(import.meta.url));

interface LadetRead {
  read_ms: number;
  parse_ms: number;
  total_ms: number;
  touch_ms: number;
  tensors: number;
  bytes: number;
  rss_before_kb: number;
  peak_rss_kb: number;
}

interface TorchLoad {
  times_ms: number[];
  touch_ms: number[];
  rss_before_kb: number;
  peak_rss_kb: number;
}

function child(args: string[], env: NodeJS.ProcessEnv = process.env): LadetRead {
  const r = spawnSync(process.execPath, [join(here, 'io_child.js'), ...args], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`io_child ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as LadetRead;
}

function torchSide(python: string, file: string, reps: number): TorchLoad {
  return runPeer(python, TORCH_LOAD, [file, String(reps)]) as unknown as TorchLoad;
}

const best = (xs: number[]): number => Math.min(...xs);
const r1 = (x: number): number => Math.round(x * 10) / 10;
const mb = (kb: number): number => Math.round(kb / 102.4) / 10;

export async function io(): Promise<Record<string, unknown>> {
  const python = peerPython(['torch', 'torchvision']);
  if (python === null) {
    return { skipped: 'no Python with torch and torchvision (Debian python3-torch, python3-torchvision)' };
  }
  const dir = mkdtempSync(join(tmpdir(), 'ladet-bench-io-'));
  try {
    const file = join(dir, 'paa_r101_fpn.pth');
    const made = runPeer(python, MAKE, [file]) as { tensors: number; bytes: number };
    const fileBytes = statSync(file).size;
    console.log(`checkpoint: ${(fileBytes / 1e6).toFixed(1)} MB, ${made.tensors} tensors`);
    // warm-up (the page cache), and a check that both sides see the same tensors
    const first = child(['read', file]);
    if (first.tensors !== made.tensors || first.bytes !== made.bytes) {
      throw new Error(
        `ladet read ${first.tensors} tensors / ${first.bytes} bytes, torch saved ${made.tensors} / ${made.bytes}`,
      );
    }
    torchSide(python, file, 1);
    const ladet: LadetRead[] = [];
    const torch: TorchLoad[] = [];
    const smallPages: LadetRead[] = [];
    const smallPagesEnv = { ...process.env, LADET_HUGE_PAGES: '0' };
    for (let rep = 0; rep < REPS; rep++) {
      const sides = [
        () => ladet.push(child(['read', file])),
        () => torch.push(torchSide(python, file, 1)),
        () => smallPages.push(child(['read', file], smallPagesEnv)),
      ];
      if (rep % 2) sides.reverse();
      for (const s of sides) s();
      const l = ladet[ladet.length - 1] as LadetRead;
      console.log(
        `rep ${rep}: ladet ${l.total_ms.toFixed(0)} ms (read ${l.read_ms.toFixed(0)} + parse ${l.parse_ms.toFixed(0)}), ` +
          `torch.load ${(torch[torch.length - 1]?.times_ms[0] as number).toFixed(0)} ms`,
      );
    }
    const warm = torchSide(python, file, WARM_REPS).times_ms;
    const ladetMs = best(ladet.map((l) => l.total_ms));
    const torchMs = best(torch.map((t) => t.times_ms[0] as number));
    const nodeBase = child(['baseline']).peak_rss_kb;
    const pyBase = (runPeer(python, TORCH_BASELINE) as { peak_rss_kb: number }).peak_rss_kb;
    const nodePeak = median(ladet.map((l) => l.peak_rss_kb));
    const pyPeak = median(torch.map((t) => t.peak_rss_kb));
    const nodeGrowth = median(ladet.map((l) => l.peak_rss_kb - l.rss_before_kb));
    const pyGrowth = median(torch.map((t) => t.peak_rss_kb - t.rss_before_kb));
    return {
      python,
      file_mb: r1(fileBytes / 1e6),
      tensors: made.tensors,
      tensor_bytes: made.bytes,
      reps: REPS,
      ladet_ms: r1(ladetMs),
      torch_load_ms: r1(torchMs),
      pth_load_ratio: ladetMs / torchMs,
      pth_load_ratio_median: median(ladet.map((l) => l.total_ms)) / median(torch.map((t) => t.times_ms[0] as number)),
      ladet_4k_pages_ms: r1(best(smallPages.map((l) => l.total_ms))),
      pth_load_ratio_4k_pages: best(smallPages.map((l) => l.total_ms)) / torchMs,
      ladet_read_ms: r1(best(ladet.map((l) => l.read_ms))),
      ladet_parse_ms: r1(best(ladet.map((l) => l.parse_ms))),
      pth_read_only_ratio: best(ladet.map((l) => l.read_ms)) / torchMs,
      pth_load_and_first_use_ratio:
        best(ladet.map((l) => l.total_ms + l.touch_ms)) /
        best(torch.map((t) => (t.times_ms[0] as number) + (t.touch_ms[0] as number))),
      ladet_first_use_ms: r1(best(ladet.map((l) => l.touch_ms))),
      torch_first_use_ms: r1(best(torch.map((t) => t.touch_ms[0] as number))),
      ladet_total_ms_all: ladet.map((l) => r1(l.total_ms)),
      torch_load_ms_all: torch.map((t) => r1(t.times_ms[0] as number)),
      torch_load_repeated_in_one_process_ms: warm.map(r1),
      ladet_peak_rss_mb: mb(nodePeak),
      ladet_baseline_rss_mb: mb(nodeBase),
      torch_peak_rss_mb: mb(pyPeak),
      torch_baseline_rss_mb: mb(pyBase),
      pth_peak_mem_ratio: (nodeGrowth * 1024) / fileBytes,
      torch_peak_mem_ratio: (pyGrowth * 1024) / fileBytes,
      pth_peak_mem_ratio_vs_bare_process: ((nodePeak - nodeBase) * 1024) / fileBytes,
      torch_peak_mem_ratio_vs_bare_process: ((pyPeak - pyBase) * 1024) / fileBytes,
      notes:
        'times: first loads in fresh processes, best of reps; ladet = read + parse (CRC-32 of every record ' +
        'included; torch 1.13 checks none). ladet reads into one buffer in transparent huge pages (hostBuffer); ' +
        '*_4k_pages: the same with LADET_HUGE_PAGES=0 (ordinary 4 KiB pages, as torch.load uses), to show where ' +
        'the difference comes from. first use: right after the load, one byte of every 4 KiB page of ' +
        "every tensor read (ladet's CRC pass has touched them already; torch's freshly read pages fault in " +
        'there). pth_peak_mem_ratio: median over the one-read processes of (peak RSS ' +
        'after the read - RSS just before it) / file size. *_vs_bare_process: (median peak RSS of the one-read ' +
        'processes - peak RSS of a bare process with the same imports reading nothing) / file size, lower because ' +
        "the bare process's peak includes start-up transients",
      targets: { pth_load_ratio_max: 1.0, pth_peak_mem_ratio_max: 1.3 },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
