// `npm run bench -- eval`: COCO bbox evaluation of 5000 images x 10 objects x 100 detections over 80 classes,
// ladet against pycocotools' COCOeval in the same run when pycocotools is importable from /usr/bin/python3
// (LADET_PYCOCOTOOLS_PATH is added to its PYTHONPATH, for a copy built outside ladet).
// The data set is synthetic, written to a temp folder on the fly. Both sides are timed from the JSON files to the
// printed summary ("total") and for the evaluation alone ("eval": after both files are loaded).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateCoco, formatSummary, readCocoGt, readDetections } from '../src/eval/index.js';
import { rng, median } from './util.js';

const IMAGES = 5000;
const OBJECTS = 10;
const DETECTIONS = 100;
const CLASSES = 80;
const PYTHON = '/usr/bin/python3';

const r2 = (x: number): number => Math.round(x * 100) / 100;

/** Writes gt.json and dets.json: sizes spread over small/medium/large, 1% crowd; 30 detections near objects. */
function writeData(dir: string): { gtPath: string; detPath: string; annotations: number; detections: number } {
  const rand = rng(2024);
  const images: { id: number; width: number; height: number }[] = [];
  const annotations: Record<string, unknown>[] = [];
  const dets: Record<string, unknown>[] = [];
  const box = (): number[] => {
    const w = r2(Math.exp(Math.log(4) + rand() * Math.log(100)));
    const h = r2(Math.exp(Math.log(4) + rand() * Math.log(100)));
    return [r2(rand() * Math.max(1, 640 - w)), r2(rand() * Math.max(1, 480 - h)), w, h];
  };
  for (let i = 0; i < IMAGES; i++) {
    const imageId = i + 1;
    images.push({ id: imageId, width: 640, height: 480 });
    for (let j = 0; j < OBJECTS; j++) {
      const cat = 1 + Math.floor(rand() * CLASSES);
      const b = box();
      annotations.push({
        id: annotations.length + 1,
        image_id: imageId,
        category_id: cat,
        bbox: b,
        area: r2(b[2]! * b[3]! * (0.5 + 0.5 * rand())),
        iscrowd: rand() < 0.01 ? 1 : 0,
      });
      for (let k = 0; k < 3; k++) {
        const s = 0.02 + 0.15 * rand();
        const jb = [
          r2(b[0]! + (rand() - 0.5) * s * b[2]!),
          r2(b[1]! + (rand() - 0.5) * s * b[3]!),
          r2(b[2]! * (1 + (rand() - 0.5) * s)),
          r2(b[3]! * (1 + (rand() - 0.5) * s)),
        ];
        dets.push({
          image_id: imageId,
          category_id: cat,
          bbox: jb,
          score: Math.round((0.3 + 0.7 * rand()) * 1e4) / 1e4,
        });
      }
    }
    for (let k = 3 * OBJECTS; k < DETECTIONS; k++) {
      dets.push({
        image_id: imageId,
        category_id: 1 + Math.floor(rand() * CLASSES),
        bbox: box(),
        score: Math.round(0.7 * rand() * 1e4) / 1e4,
      });
    }
  }
  const categories = Array.from({ length: CLASSES }, (_, k) => ({ id: k + 1, name: `class${k + 1}` }));
  const gtPath = join(dir, 'gt.json');
  const detPath = join(dir, 'dets.json');
  writeFileSync(gtPath, JSON.stringify({ images, annotations, categories }));
  writeFileSync(detPath, JSON.stringify(dets));
  return { gtPath, detPath, annotations: annotations.length, detections: dets.length };
}

const PEER = `
import json, sys, time, contextlib, io
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
gt_path, det_path = sys.argv[1], sys.argv[2]
out = io.StringIO()
with contextlib.redirect_stdout(out):
    t0 = time.perf_counter()
    gt = COCO(gt_path)
    dt = gt.loadRes(det_path)
    t1 = time.perf_counter()
    ev = COCOeval(gt, dt, 'bbox')
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    t2 = time.perf_counter()
print(json.dumps({'total_s': t2 - t0, 'eval_s': t2 - t1, 'stats': [float(s) for s in ev.stats]}))
`;

interface PeerResult {
  total_s: number;
  eval_s: number;
  stats: number[];
}

function pythonEnv(): NodeJS.ProcessEnv {
  const extra = process.env.LADET_PYCOCOTOOLS_PATH;
  if (!extra) return process.env;
  return { ...process.env, PYTHONPATH: [extra, process.env.PYTHONPATH].filter(Boolean).join(':') };
}

function pycocotools(gtPath: string, detPath: string): PeerResult | string {
  const env = pythonEnv();
  const probe = spawnSync(PYTHON, ['-c', 'import pycocotools.cocoeval'], { env, encoding: 'utf8' });
  if (probe.status !== 0) return `pycocotools not importable from ${PYTHON} (set LADET_PYCOCOTOOLS_PATH)`;
  const r = spawnSync(PYTHON, ['-c', PEER, gtPath, detPath], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`pycocotools run failed (${r.status}): ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as PeerResult;
}

/** Named evalSuite: `eval` cannot name a function in a module. */
export async function evalSuite(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-bench-eval-'));
  try {
    const data = writeData(dir);
    const totals: number[] = [];
    const evals: number[] = [];
    let stats: number[] = [];
    for (let rep = 0; rep < 3; rep++) {
      const t0 = performance.now();
      const gt = readCocoGt(data.gtPath);
      const dets = readDetections(data.detPath, gt);
      const t1 = performance.now();
      const res = evaluateCoco(gt, dets);
      formatSummary(res.stats, res.iouThresholds, res.maxDets);
      const t2 = performance.now();
      totals.push((t2 - t0) / 1000);
      evals.push((t2 - t1) / 1000);
      stats = res.stats;
    }
    const record: Record<string, unknown> = {
      images: IMAGES,
      classes: CLASSES,
      annotations: data.annotations,
      detections: data.detections,
      ladet_total_s: median(totals),
      ladet_eval_s: median(evals),
      ladet_total_runs_s: totals,
      ladet_eval_runs_s: evals,
      stats,
    };
    const peer = pycocotools(data.gtPath, data.detPath);
    if (typeof peer === 'string') {
      record.pycocotools = peer;
    } else {
      record.pycocotools_total_s = peer.total_s;
      record.pycocotools_eval_s = peer.eval_s;
      record.speedup_total = peer.total_s / median(totals);
      record.speedup_eval = peer.eval_s / median(evals);
      record.stats_max_abs_diff = Math.max(...stats.map((s, i) => Math.abs(s - peer.stats[i]!)));
    }
    return record;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
