// Class-aware NMS speed: ladet's greedy loop over typed arrays (src/det/nms.ts) against torchvision's batched_nms
// (CPU, Debian python3-torchvision) in the same run on the same boxes, and against a tensor formulation (sort once,
// one vectorised IoU row per kept box) that was the alternative design. Sizes span PAA inference: up to 1000
// anchors per level x 5 levels, times the classes above the 0.05 score threshold.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nmsArrays } from '../src/det/index.js';
import { boxIou } from '../src/det/iou.js';
import { Tensor, noGrad, tensor, tidy } from '../src/torch/index.js';
import { peerPython, runPeer } from './peer.js';
import { rng, timeIt } from './util.js';

/** The rejected design: sort once, then per kept box one IoU row against all boxes as tensor ops. */
function nmsTensorRows(boxes: Tensor, scores: Tensor, classes: Tensor, thr: number): number[] {
  return noGrad(() =>
    tidy(() => {
      const offset = classes
        .to('float32')
        .mul(boxes.max().item() + 1)
        .unsqueeze(1);
      const b = boxes.add(offset);
      const order = scores.argsort(0, true, true);
      const sorted = b.indexSelect(0, order);
      const orderArr = order.toArray();
      const removed = new Uint8Array(orderArr.length);
      const keep: number[] = [];
      for (let p = 0; p < orderArr.length; p++) {
        if (removed[p]) continue;
        keep.push(orderArr[p]!);
        tidy(() => {
          const row = boxIou(sorted.narrow(0, p, 1), sorted)
            .select(0, 0)
            .gt(thr)
            .to('uint8')
            .toTypedArray<'uint8'>();
          for (let q = p + 1; q < row.length; q++) if (row[q]) removed[q] = 1;
        });
      }
      return keep;
    }),
  );
}

const PY_PEER = `
import os
os.environ["OMP_NUM_THREADS"] = "1"
import json, sys, time
import numpy as np, torch, torchvision
torch.set_num_threads(1)
data = json.load(open(sys.argv[1]))
out = {}
for name, d in data.items():
    b = torch.tensor(d["boxes"], dtype=torch.float32).view(-1, 4)
    s = torch.tensor(d["scores"], dtype=torch.float32)
    c = torch.tensor(d["classes"], dtype=torch.int64)
    for _ in range(2):
        keep = torchvision.ops.batched_nms(b, s, c, 0.6)
    ts = []
    for _ in range(d["reps"]):
        t0 = time.perf_counter()
        keep = torchvision.ops.batched_nms(b, s, c, 0.6)
        ts.append((time.perf_counter() - t0) * 1e3)
    out[name] = {"median_ms": float(np.median(ts)), "keep": keep.tolist()}
print(json.dumps(out))
`;

export async function nms(): Promise<Record<string, unknown>> {
  const record: Record<string, unknown> = { iou_thr: 0.6, torch_threads: 1 };
  const cases: Record<string, { boxes: number[]; scores: number[]; classes: number[]; reps: number }> = {};
  for (const [n, numClasses] of [
    [1000, 1],
    [5000, 80],
    [20000, 80],
  ] as const) {
    const r = rng(n);
    const boxes: number[] = [];
    for (let i = 0; i < n; i++) {
      // Clustered boxes, as detections around objects: 40 objects, jittered.
      const o = Math.floor(r() * 40);
      const cx = ((o * 97) % 1200) + 60 + 20 * (r() - 0.5);
      const cy = ((o * 61) % 700) + 50 + 20 * (r() - 0.5);
      const w = 40 + ((o * 13) % 200) * (0.8 + 0.4 * r());
      const h = 40 + ((o * 29) % 160) * (0.8 + 0.4 * r());
      boxes.push(Math.fround(cx - w / 2), Math.fround(cy - h / 2), Math.fround(cx + w / 2), Math.fround(cy + h / 2));
    }
    const scores = Array.from({ length: n }, (_, i) => Math.fround((i + 1) / (n + 1))).sort(() => r() - 0.5);
    const classes = Array.from({ length: n }, () => Math.floor(r() * numClasses));
    cases[`n${n}_c${numClasses}`] = { boxes, scores, classes, reps: n >= 20000 ? 10 : 30 };
  }
  const mine: Record<string, number[]> = {};
  for (const [name, c] of Object.entries(cases)) {
    const b = Float32Array.from(c.boxes);
    const s = Float32Array.from(c.scores);
    const cl = Int32Array.from(c.classes);
    record[`ladet_${name}_ms`] = timeIt(() => nmsArrays(b, s, cl, 0.6), c.reps, 2);
    mine[name] = Array.from(nmsArrays(b, s, cl, 0.6));
    record[`${name}_kept`] = mine[name]!.length;
    if (c.scores.length <= 5000) {
      const t = tidy(() => {
        const bt = tensor(b, [s.length, 4]);
        const st = tensor(s);
        const ct = tensor(cl);
        const ms = timeIt(() => nmsTensorRows(bt, st, ct, 0.6), 3, 1);
        record[`tensor_rows_${name}_same_keep`] = nmsTensorRows(bt, st, ct, 0.6).join() === mine[name]!.join();
        return ms;
      });
      record[`tensor_rows_${name}_ms`] = t;
      record[`tensor_rows_${name}_over_ladet_ratio`] = t / (record[`ladet_${name}_ms`] as number);
    }
  }
  const python = peerPython(['torch', 'torchvision']);
  record.python = python;
  if (python !== null) {
    const dir = mkdtempSync(join(tmpdir(), 'ladet-bench-nms-'));
    try {
      const file = join(dir, 'boxes.json');
      writeFileSync(file, JSON.stringify(cases));
      const peer = runPeer(python, PY_PEER, [file]) as Record<string, { median_ms: number; keep: number[] }>;
      for (const name of Object.keys(cases)) {
        record[`torchvision_${name}_ms`] = peer[name]!.median_ms;
        record[`${name}_ratio`] = (record[`ladet_${name}_ms`] as number) / peer[name]!.median_ms;
        record[`${name}_same_keep_as_torchvision`] = peer[name]!.keep.join() === mine[name]!.join();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return record;
}
