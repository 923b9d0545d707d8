// The pure-TypeScript post-processing (src/runtime/postprocess.ts) against ladet's libtorch path: the anchors of
// AnchorGenerator, DeltaXYWHCoder.decode and predictBatch on the same seeded head outputs; and that its import graph
// stays free of node:* and the native addon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dispose, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import { DeltaXYWHCoder } from '../../src/det/box_coder.js';
import { decodeDeltasArray } from '../../src/det/box_coder_arrays.js';
import { anchorConfig, buildAnchorGenerator } from '../../src/build/model.js';
import { parseConfig, type Config } from '../../src/config/schema.js';
import { predictBatch, PAA_TEST_CFG, type InferenceConfig } from '../../src/models/heads/paa_inference.js';
import type { HeadOutputs } from '../../src/models/heads/outputs.js';
import type { ImageMeta } from '../../src/data/transforms.js';
import { Rng } from '../../src/data/rng.js';
import { detectFromOutputs, levelAnchors, type LevelOutputs } from '../../src/runtime/postprocess.js';

function modelOf(anchors: Record<string, unknown>): Config['model'] {
  return parseConfig({ name: 't', data: { root: 'unused' }, model: { backbone: { depth: 18 }, anchors } }).model;
}

type Sizes = [number, number][];

test('anchors: the pure grid of anchorConfig(model) equals buildAnchorGenerator(model).gridAnchors, level by level', () => {
  const cases: [Record<string, unknown>, Sizes][] = [
    [
      {},
      [
        [100, 167],
        [50, 84],
        [25, 42],
        [13, 21],
        [7, 11],
      ],
    ],
    [
      {},
      [
        [1, 1],
        [1, 1],
        [1, 1],
        [1, 1],
        [1, 1],
      ],
    ],
    [
      { strides: [8, 16, 32, 64], octaveBaseScale: 4 },
      [
        [20, 20],
        [10, 10],
        [5, 5],
        [3, 3],
      ],
    ],
    [
      { strides: [8, 16, 32, 64], ratios: [0.5, 1, 2], scalesPerOctave: 3 },
      [
        [20, 17],
        [10, 9],
        [5, 5],
        [3, 3],
      ],
    ],
  ];
  for (const [anchors, sizes] of cases) {
    const model = modelOf(anchors);
    const gen = buildAnchorGenerator(model);
    const want = tidy(() => gen.gridAnchors(sizes).toTypedArray<'float32'>());
    const got = levelAnchors(anchorConfig(model), sizes);
    const starts = gen.levelStarts(sizes);
    got.forEach((g, l) => {
      assert.ok(g instanceof Float32Array);
      assert.deepEqual(
        g,
        want.subarray(4 * starts[l]!, 4 * starts[l + 1]!),
        `level ${l} of ${JSON.stringify(anchors)}`,
      );
    });
  }
  // independently: PAA's default anchor at cell (x, y) of stride s is the square of side 8s centred on (x·s, y·s)
  const paa = levelAnchors(anchorConfig(modelOf({})), [
    [3, 4],
    [2, 2],
    [1, 1],
    [1, 1],
    [1, 1],
  ]);
  const s = 16;
  const [x, y] = [1, 1];
  assert.deepEqual(
    [...paa[1]!.subarray(4 * (y * 2 + x), 4 * (y * 2 + x) + 4)],
    [x * s - 4 * s, y * s - 4 * s, x * s + 4 * s, y * s + 4 * s],
  );
});

test('decode: decodeDeltasArray equals DeltaXYWHCoder.decode on float32 (clamped ratios, clipping)', (t) => {
  const rng = new Rng(11);
  const n = 4000;
  const anchors = new Float32Array(4 * n);
  const deltas = new Float32Array(4 * n);
  for (let i = 0; i < n; i++) {
    const cx = rng.uniform(-50, 700);
    const cy = rng.uniform(-50, 500);
    const w = rng.logUniform(1, 900);
    const h = rng.logUniform(1, 900);
    anchors.set([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 4 * i);
    // every 10th row far outside the wh-ratio clamp
    const big = i % 10 === 0 ? 40 : 1;
    deltas.set([rng.normal(), rng.normal(), big * rng.normal(), big * rng.normal()], 4 * i);
  }
  const coder = new DeltaXYWHCoder();
  for (const maxShape of [undefined, [480, 640] as [number, number]]) {
    const want = tidy(() =>
      coder.decode(tensor(anchors, [n, 4]), tensor(deltas, [n, 4]), maxShape).toTypedArray<'float32'>(),
    );
    const got = decodeDeltasArray(anchors, deltas, maxShape);
    let worst = 0;
    let equal = 0;
    for (let i = 0; i < got.length; i++) {
      // relative to the row's largest coordinate: x1 = cx - w/2 may cancel to near 0, keeping the ulps of cx and w
      const row = want.subarray(i - (i % 4), i - (i % 4) + 4);
      const e = Math.abs(got[i]! - want[i]!);
      worst = Math.max(worst, e / Math.max(1, ...Array.from(row, Math.abs)));
      if (got[i] === want[i]) equal++;
    }
    assert.ok(worst <= 1e-6, `decode relative error ${worst}`);
    t.diagnostic(
      `decode ${maxShape ? 'clipped' : 'unclipped'}: ${equal}/${got.length} bitwise equal, worst relative diff ${worst}`,
    );
  }
});

interface Case {
  name: string;
  anchors: Record<string, unknown>;
  numClasses: number;
  iou: boolean;
  clsKind: 'logits' | 'probs';
  cfg: InferenceConfig;
}

const SIZES: Sizes = [
  [20, 20],
  [10, 10],
  [5, 5],
  [3, 3],
];
const STRIDES = [8, 16, 32, 64];

// A 160x160 padded batch of two images: a downscale (different x / y factors) padded right and bottom, and a
// flipped 2x upscale.
const METAS: ImageMeta[] = [
  {
    imageId: 1,
    file: 'a',
    oriShape: [203, 251],
    imgShape: [121, 150],
    padShape: [128, 160],
    scaleFactor: [150 / 251, 121 / 203, 150 / 251, 121 / 203],
    flip: false,
  },
  {
    imageId: 2,
    file: 'b',
    oriShape: [64, 75],
    imgShape: [128, 150],
    padShape: [128, 160],
    scaleFactor: [2, 2, 2, 2],
    flip: true,
  },
];

/** Seeded head outputs of the batch: per image, per level, the CHW arrays of LevelOutputs. */
function randomOutputs(seed: number, numAnchors: number, c: Case): LevelOutputs[][] {
  const rng = new Rng(seed);
  const fill = (n: number, f: () => number): Float32Array => Float32Array.from({ length: n }, f);
  return METAS.map(() =>
    SIZES.map(([h, w]) => ({
      h,
      w,
      // logits mostly below the threshold, a few confident; probabilities skewed towards 0
      cls: fill(numAnchors * c.numClasses * h * w, () =>
        c.clsKind === 'logits' ? -3 + 1.5 * rng.normal() : rng.next() ** 3,
      ),
      // now and then a delta beyond the wh-ratio clamp
      reg: fill(numAnchors * 4 * h * w, () => (rng.chance(0.01) ? 30 : 0.7) * rng.normal()),
      iou: c.iou ? fill(numAnchors * h * w, () => rng.normal()) : null,
    })),
  );
}

/** The same numbers as (B, K, H, W) tensors, per level. */
function batchTensors(outs: LevelOutputs[][], pick: (lv: LevelOutputs) => Float32Array): Tensor[] {
  return SIZES.map(([h, w], l) => {
    const per = outs.map((img) => pick(img[l]!));
    const flat = new Float32Array(per.reduce((n, a) => n + a.length, 0));
    per.forEach((a, i) => flat.set(a, i * a.length));
    return tensor(flat, [outs.length, per[0]!.length / (h * w), h, w]);
  });
}

const CASES: Case[] = [
  {
    name: 'IoU branch, logits, test cfg (voting)',
    anchors: {},
    numClasses: 10,
    iou: true,
    clsKind: 'logits',
    cfg: PAA_TEST_CFG,
  },
  {
    name: 'no IoU branch, logits, test cfg (voting)',
    anchors: {},
    numClasses: 10,
    iou: false,
    clsKind: 'logits',
    cfg: PAA_TEST_CFG,
  },
  {
    name: 'IoU branch, logits, nmsPre 40 (top-k), no voting',
    anchors: {},
    numClasses: 10,
    iou: true,
    clsKind: 'logits',
    cfg: { nmsPre: 40, scoreThr: 0.05, nmsIou: 0.6, maxPerImg: 30, scoreVoting: false },
  },
  {
    name: 'no IoU branch, logits, nmsPre 60, voting, count set by threshold and NMS (not maxPerImg)',
    anchors: {},
    numClasses: 10,
    iou: false,
    clsKind: 'logits',
    cfg: { nmsPre: 60, scoreThr: 0.3, nmsIou: 0.5, maxPerImg: 1000, scoreVoting: true },
  },
  {
    name: '3 anchors per location (ratios 0.5, 1, 2), IoU branch, nmsPre 100, voting',
    anchors: { ratios: [0.5, 1, 2] },
    numClasses: 4,
    iou: true,
    clsKind: 'logits',
    cfg: { nmsPre: 100, scoreThr: 0.05, nmsIou: 0.6, maxPerImg: 100, scoreVoting: true },
  },
  {
    name: 'probabilities (COP / IOP heads), IoU branch, voting',
    anchors: {},
    numClasses: 6,
    iou: true,
    clsKind: 'probs',
    cfg: PAA_TEST_CFG,
  },
];

CASES.forEach((c, ci) => {
  test(`detectFromOutputs equals predictBatch: ${c.name}`, (t) => {
    const model = modelOf({ strides: STRIDES, ...c.anchors });
    const spec = anchorConfig(model);
    const gen = buildAnchorGenerator(model);
    const outs = randomOutputs(100 + ci, gen.numBaseAnchors, c);
    const heads: HeadOutputs = {
      cls: batchTensors(outs, (lv) => lv.cls),
      reg: batchTensors(outs, (lv) => lv.reg),
      iou: c.iou ? batchTensors(outs, (lv) => lv.iou!) : null,
      clsKind: c.clsKind,
    };
    const all = gen.gridAnchors(SIZES);
    const starts = gen.levelStarts(SIZES);
    const anchors = SIZES.map((_, l) => all.narrow(0, starts[l]!, starts[l + 1]! - starts[l]!));
    const want = predictBatch(heads, anchors, METAS, c.cfg);
    dispose([heads.cls, heads.reg, heads.iou, anchors, all]);
    METAS.forEach((meta, i) => {
      const got = detectFromOutputs(outs[i]!, spec, meta, c.numClasses, c.cfg, c.clsKind);
      const w = want[i]!;
      assert.ok(w.scores.length > 5, `image ${i}: only ${w.scores.length} detections, the case tests little`);
      assert.equal(got.scores.length, w.scores.length, `image ${i}: detection count`);
      assert.deepEqual([...got.labels], [...w.labels], `image ${i}: labels`);
      let boxErr = 0;
      let scoreErr = 0;
      for (let k = 0; k < got.boxes.length; k++) boxErr = Math.max(boxErr, Math.abs(got.boxes[k]! - w.boxes[k]!));
      for (let k = 0; k < got.scores.length; k++)
        scoreErr = Math.max(scoreErr, Math.abs(got.scores[k]! - w.scores[k]!));
      assert.ok(boxErr <= 1e-3, `image ${i}: box error ${boxErr} px`);
      assert.ok(scoreErr <= 1e-5, `image ${i}: score error ${scoreErr}`);
      t.diagnostic(
        `image ${i}: ${got.scores.length} detections, max box diff ${boxErr} px, max score diff ${scoreErr}`,
      );
    });
  });
});

test('detectFromOutputs: wrong output sizes or level count are errors', () => {
  const spec = anchorConfig(modelOf({ strides: STRIDES }));
  // logits of -10: no score above the threshold
  const lv = (h: number, w: number, c = 3): LevelOutputs => ({
    cls: new Float32Array(c * h * w).fill(-10),
    reg: new Float32Array(4 * h * w),
    iou: null,
    h,
    w,
  });
  const levels = SIZES.map(([h, w]) => lv(h, w));
  const meta = METAS[0]!;
  assert.equal(detectFromOutputs(levels, spec, meta, 3, PAA_TEST_CFG, 'logits').scores.length, 0);
  assert.throws(() => detectFromOutputs(levels.slice(1), spec, meta, 3, PAA_TEST_CFG, 'logits'), /4 anchor strides/);
  assert.throws(() => detectFromOutputs(levels, spec, meta, 4, PAA_TEST_CFG, 'logits'), /level 0/);
});

// ---- the import graph -------------------------------------------------------------------------------------------

const here = dirname(fileURLToPath(import.meta.url));
const distRoot = resolve(here, '..', '..');

/** Module specifiers of a compiled ES module: static import / export ... from, bare import, dynamic import(), require(). */
function specifiers(js: string): string[] {
  const code = js.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  const patterns = [
    /(?:^|[;\s])(?:import|export)\s*(?:[\w*${}\s,]*?\bfrom\s*)?(['"])([^'"]+)\1/g,
    /\bimport\s*\(\s*(['"])([^'"]+)\1\s*\)/g,
    /\brequire\s*\(\s*(['"])([^'"]+)\1\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[2]!);
  // a dynamic import or require of a computed name could reach anything
  if (/\bimport\s*\(\s*[^'"\s]/.test(code) || /\brequire\s*\(\s*[^'"\s]/.test(code)) out.push('<computed>');
  return out;
}

/** Every compiled file reachable from `entry` through relative imports, and every non-relative specifier met. */
function importGraph(entry: string): { files: string[]; external: { from: string; spec: string }[] } {
  const files: string[] = [];
  const external: { from: string; spec: string }[] = [];
  const todo = [entry];
  const seen = new Set<string>();
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    files.push(f);
    for (const spec of specifiers(readFileSync(f, 'utf8'))) {
      if (spec.startsWith('./') || spec.startsWith('../')) {
        const target = resolve(dirname(f), spec);
        assert.ok(existsSync(target), `${relative(distRoot, f)} imports ${spec}, which is not in dist`);
        todo.push(target);
      } else {
        external.push({ from: relative(distRoot, f), spec });
      }
    }
  }
  return { files: files.map((f) => relative(distRoot, f)), external };
}

const isNative = (file: string): boolean =>
  file.startsWith(join('src', 'torch') + '/') || file.endsWith('.node') || /native/.test(file);

test('import graph: dist/src/runtime/postprocess.js reaches no node:* module, no package, no torch / native module', (t) => {
  const { files, external } = importGraph(join(distRoot, 'src', 'runtime', 'postprocess.js'));
  for (const need of [
    'src/det/nms_arrays.js',
    'src/det/score_voting_arrays.js',
    'src/det/anchor_grid.js',
    'src/models/heads/paa_select.js',
  ]) {
    assert.ok(files.includes(need), `expected the graph to reach ${need}; reached ${files.join(', ')}`);
  }
  assert.deepEqual(external, [], `non-relative imports reached: ${JSON.stringify(external)}`);
  assert.deepEqual(files.filter(isNative), []);
  t.diagnostic(`postprocess.js reaches ${files.length} files: ${files.sort().join(', ')}`);
});

test('import graph: the walker does see torch and node: imports (control)', () => {
  const nms = importGraph(join(distRoot, 'src', 'det', 'nms.js'));
  assert.ok(nms.files.some(isNative), 'nms.js reaches src/torch');
  assert.ok(
    nms.external.some((e) => e.spec.startsWith('node:')),
    'src/torch reaches node:*',
  );
  assert.deepEqual(
    specifiers(
      "import a, { b as c } from './x.js';\nexport * from \"../y.js\";\nimport './z.js';\nexport { d } from './w.js';\nconst m = await import('node:fs');",
    ),
    ['./x.js', '../y.js', './z.js', './w.js', 'node:fs'],
  );
});
