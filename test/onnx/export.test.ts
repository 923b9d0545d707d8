// The ONNX export (src/engine/export_onnx.ts) against libtorch, on small randomly initialised networks of each head
// type (PAA, COP, IOP without the IoU branch), weights perturbed so that BatchNorm
// folding and the GroupNorm affine matter: Debian's checker (full_check) accepts every model; onnxruntime-node's
// raw outputs are libtorch's eval forward within 1e-4 at every level, on a square batch of one and a non-square
// batch of two (dynamic axes); the outputs through ladet's post-processing (OnnxDetector, what `ladet test` runs)
// are libtorch's detections; the in-graph NMS (nms=true) gives the non-score-voting path's detections.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { manualSeed, noGrad, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import { parseConfig } from '../../src/config/schema.js';
import { buildDetector } from '../../src/build/model.js';
import { AnchorCache } from '../../src/assign/targets.js';
import { AnchorGenerator } from '../../src/det/anchors.js';
import type { ImageMeta } from '../../src/data/transforms.js';
import type { InferenceConfig } from '../../src/models/heads/paa_inference.js';
import type { OpenedDetector } from '../../src/engine/open_detector.js';
import { detectBatch } from '../../src/engine/predict.js';
import { ONNX_OPSET, onnxModelOf } from '../../src/engine/export_onnx.js';
import { OnnxDetector } from '../../src/engine/onnx_detector.js';
import { encodeOnnxModel } from '../../src/io/onnx.js';
import { onnxRuntimeSpec } from '../../src/runtime/onnx_spec.js';
import { checkModels, maxAbs, onnxCheckerSkip } from './helpers.js';

const CLASSES = 5;
// nmsPre below the finest level's anchor count, so the per-level top-k is exercised
const EVAL = { nmsPre: 100, scoreThr: 0.02, nmsIou: 0.6, maxPerImg: 60, scoreVoting: true };

interface Case {
  name: string;
  head: Record<string, unknown>;
  anchors?: Record<string, unknown>;
  /** seeds the initialisation and the perturbation */
  seed: number;
}
const CASES: Case[] = [
  { name: 'paa', head: { type: 'paa' }, seed: 11 },
  // three anchors per location: the channel layout (A*C, A*4, A) through export, post-processing and in-graph NMS
  { name: 'paa3', head: { type: 'paa' }, anchors: { ratios: [0.5, 1, 2] }, seed: 14 },
  { name: 'cop', head: { type: 'cop' }, seed: 12 },
  { name: 'iop', head: { type: 'iop', iouBranch: false }, seed: 13 },
];

let dir = '';
const built = new Map<string, { opened: OpenedDetector; file: string; session: ort.InferenceSession }>();

/** A seeded generator in [-0.5, 0.5). */
function rng(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647 - 0.5;
}

/** A small detector of the case's head, weights perturbed (BN statistics too), as `ladet export` opens one. */
function randomDetector(c: Case, seed: number): OpenedDetector {
  const config = parseConfig({
    name: `onnx_${c.name}`,
    data: { root: join(dir, 'none'), testScale: [96, 96] },
    model: {
      backbone: { depth: 18, widthMultiplier: 0.125 },
      neck: { outChannels: 16, numOuts: 4 },
      head: { featChannels: 16, stackedConvs: 2, gnGroups: 4, ...c.head },
      anchors: { strides: [8, 16, 32, 64], octaveBaseScale: 4, ...c.anchors },
    },
    eval: EVAL,
  });
  // libtorch's generator seeded too: the initialisation under the perturbation decides how spread the scores are,
  // and an unseeded one once left every PAA score of an image below the threshold (0 detections compared, in CI)
  manualSeed(seed);
  const model = buildDetector(config.model, CLASSES);
  const r = rng(seed);
  noGrad(() => {
    for (const [k, v] of model.stateDict()) {
      if (v.dtype !== 'float32') continue;
      const a = v.toTypedArray<'float32'>();
      // the head's output convs more, so that scores spread rather than sit at the prior
      const spread = /atss_|coeff_conv|objectness|obj_bias/.test(k) ? 2 : 0.2;
      const b = a.map((x) => (k.endsWith('running_var') ? 0.5 + Math.abs(x + r()) : x + spread * r()));
      v.copy_(tensor(b, v.shape));
    }
  });
  model.eval();
  const classes = Array.from({ length: CLASSES }, (_, i) => ({ id: 10 + i, name: `class ${i}` }));
  return {
    config,
    configPath: '(test)',
    runDir: dir,
    weightsPath: `(random ${c.name})`,
    meta: null,
    classes,
    net: null,
    model,
  };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ladet-onnx-export-'));
  for (const c of CASES) {
    const opened = randomDetector(c, c.seed);
    const file = join(dir, `${c.name}.onnx`);
    writeFileSync(file, encodeOnnxModel(onnxModelOf(opened, { nms: true }).model));
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, logSeverityLevel: 3 });
    built.set(c.name, { opened, file, session });
  }
});

after(async () => {
  for (const b of built.values()) {
    b.opened.model.dispose();
    await b.session.release();
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Inputs: a square batch of one, and a non-square batch of two whose second image fills only part of it. */
const INPUTS: { shape: [number, number, number, number]; imgShapes: [number, number][] }[] = [
  { shape: [1, 3, 96, 96], imgShapes: [[96, 96]] },
  {
    shape: [2, 3, 64, 128],
    imgShapes: [
      [64, 128],
      [50, 100],
    ],
  },
];

function inputData(shape: readonly number[], seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 4 * r());
}

/** Metas of images that were not resized (scale 1): boxes in input pixels are boxes in image pixels. */
function metasOf(imgShapes: readonly [number, number][], padShape: [number, number]): ImageMeta[] {
  return imgShapes.map((s, i) => ({
    imageId: i + 1,
    file: `(image ${i})`,
    oriShape: [...s],
    imgShape: [...s],
    padShape,
    scaleFactor: [1, 1, 1, 1],
    flip: false,
  }));
}

async function runOnnx(session: ort.InferenceSession, x: Float32Array, shape: readonly number[], metas: ImageMeta[]) {
  return session.run({
    images: new ort.Tensor('float32', x, shape),
    image_sizes: new ort.Tensor('float32', Float32Array.from(metas.flatMap((m) => m.imgShape)), [metas.length, 2]),
  });
}

/** libtorch's eval forward: per level the typed arrays of cls, reg, iou (or null). */
function torchForward(o: OpenedDetector, x: Float32Array, shape: readonly number[]) {
  return tidy(() =>
    noGrad(() => {
      const out = o.model.forward(tensor(x, shape));
      const arr = (t: Tensor): Float32Array => t.toTypedArray<'float32'>();
      return out.cls.map((c, l) => ({
        cls: arr(c),
        reg: arr(out.reg[l] as Tensor),
        iou: out.iou === null ? null : arr(out.iou[l] as Tensor),
      }));
    }),
  );
}

interface Dets {
  boxes: ArrayLike<number>;
  scores: ArrayLike<number>;
  labels: ArrayLike<number | bigint>;
}

/**
 * The same detections, in order: labels equal, scores within 1e-5, boxes within 1e-3 px, for each detection clear
 * of the max-per-image cut (a near-tie there may fall either way). Returns how many were compared.
 */
function assertSameDetections(mine: Dets, theirs: Dets, what: string): number {
  const n = theirs.scores.length;
  const full = n >= EVAL.maxPerImg;
  const cut = full ? Math.min(...Array.from(theirs.scores)) + 1e-4 : -Infinity;
  let k = 0;
  for (; k < n && (theirs.scores[k] as number) > cut; k++) {
    assert.equal(Number(mine.labels[k]), Number(theirs.labels[k]), `${what} #${k}: label`);
    const ds = Math.abs((mine.scores[k] as number) - (theirs.scores[k] as number));
    assert.ok(ds < 1e-5, `${what} #${k}: score ${mine.scores[k]} vs ${theirs.scores[k]}`);
    for (let c = 0; c < 4; c++) {
      const db = Math.abs((mine.boxes[4 * k + c] as number) - (theirs.boxes[4 * k + c] as number));
      assert.ok(db < 1e-3, `${what} #${k}: box coordinate ${c} differs by ${db}`);
    }
  }
  if (!full) assert.equal(mine.scores.length, n, `${what}: detection count`);
  return k;
}

test(
  'every head type passes onnx.checker.check_model(full_check=True) at opset 17',
  { skip: onnxCheckerSkip() },
  () => {
    assert.deepEqual(
      checkModels(CASES.map((c) => built.get(c.name)!.file)),
      CASES.map(() => ONNX_OPSET),
    );
  },
);

test("onnxruntime-node's raw outputs are libtorch's within 1e-4 at every level, batch 1 square and batch 2 non-square", async () => {
  const worst: Record<string, number> = {};
  for (const c of CASES) {
    const { opened, session } = built.get(c.name)!;
    const iouBranch = c.head.iouBranch !== false;
    assert.deepEqual(
      session.outputNames.filter((n) => /_\d$/.test(n)),
      [0, 1, 2, 3].flatMap((l) => [`cls_${l}`, `reg_${l}`, ...(iouBranch ? [`iou_${l}`] : [])]),
    );
    for (const [i, input] of INPUTS.entries()) {
      const x = inputData(input.shape, 100 + i);
      const [n, , h, w] = input.shape;
      const got = await runOnnx(session, x, input.shape, metasOf(input.imgShapes, [h, w]));
      const want = torchForward(opened, x, input.shape);
      assert.equal(want.length, 4);
      want.forEach((lv, l) => {
        const stride = 8 * 2 ** l;
        const dims = (ch: number) => [n, ch, Math.ceil(h / stride), Math.ceil(w / stride)];
        const a = ((c.anchors?.ratios as number[] | undefined) ?? [1]).length; // anchors per location
        assert.deepEqual(got[`cls_${l}`]!.dims, dims(a * CLASSES), `${c.name} cls_${l} dims`);
        assert.deepEqual(got[`reg_${l}`]!.dims, dims(a * 4), `${c.name} reg_${l} dims`);
        const pairs: [string, Float32Array | null][] = [
          [`cls_${l}`, lv.cls],
          [`reg_${l}`, lv.reg],
          [`iou_${l}`, lv.iou],
        ];
        for (const [name, ref] of pairs) {
          if (ref === null) {
            assert.equal(got[name], undefined, `${c.name}: no ${name} without the IoU branch`);
            continue;
          }
          const d = maxAbs(got[name]!.data as Float32Array, ref);
          worst[c.name] = Math.max(worst[c.name] ?? 0, d);
          assert.ok(d < 1e-4, `${c.name} ${input.shape.join('x')} ${name}: max abs difference ${d}`);
        }
      });
    }
  }
  console.log(`raw outputs, max abs difference vs libtorch: ${JSON.stringify(worst)}`);
});

test("ladet's post-processing on onnxruntime's outputs (OnnxDetector) gives libtorch's detections, score voting on and off", async () => {
  let total = 0;
  for (const c of CASES) {
    const { opened, file } = built.get(c.name)!;
    const onnx = await OnnxDetector.open(file, { threads: 1 });
    const anchors = new AnchorCache(new AnchorGenerator(onnx.spec.anchors));
    try {
      assert.equal(onnx.clsKind, c.head.type === 'paa' ? 'logits' : 'probs');
      for (const [i, input] of INPUTS.entries()) {
        const x = inputData(input.shape, 200 + i);
        const metas = metasOf(input.imgShapes, [input.shape[2], input.shape[3]]);
        for (const scoreVoting of [true, false]) {
          const inference: InferenceConfig = { ...EVAL, scoreVoting };
          const images = tensor(x, input.shape);
          const mine = await onnx.detect(images, metas, inference);
          const theirs = detectBatch(opened.model, images, metas, anchors, inference);
          images.dispose();
          theirs.forEach((t, k) => {
            const what = `${c.name} ${input.shape.join('x')} image ${k} voting ${scoreVoting}`;
            assert.equal(mine[k]!.imageId, t.imageId);
            const compared = assertSameDetections(mine[k]!, t, what);
            assert.ok(compared >= 5, `${what}: only ${compared} detections compared`);
            total += compared;
          });
        }
      }
    } finally {
      onnx.dispose();
      anchors.dispose();
    }
  }
  console.log(`OnnxDetector vs libtorch: ${total} detections the same`);
});

test('nms=true: the in-graph detections are the non-score-voting path’s, each image’s by decreasing score', async () => {
  let total = 0;
  for (const c of CASES) {
    const { opened, session } = built.get(c.name)!;
    const anchors = new AnchorCache(
      new AnchorGenerator(onnxRuntimeSpec(encodeOnnxModel(onnxModelOf(opened).model)).anchors),
    );
    try {
      for (const [i, input] of INPUTS.entries()) {
        const x = inputData(input.shape, 300 + i);
        const metas = metasOf(input.imgShapes, [input.shape[2], input.shape[3]]);
        const got = await runOnnx(session, x, input.shape, metas);
        const images = tensor(x, input.shape);
        const theirs = detectBatch(opened.model, images, metas, anchors, { ...EVAL, scoreVoting: false });
        images.dispose();
        const batch = got.batch_index!.data as BigInt64Array;
        const boxes = got.boxes!.data as Float32Array;
        const scores = got.scores!.data as Float32Array;
        const labels = got.labels!.data as BigInt64Array;
        assert.deepEqual(got.boxes!.dims, [scores.length, 4]);
        theirs.forEach((t, k) => {
          const rows = [...batch.keys()].filter((r) => batch[r] === BigInt(k));
          // each image's rows are contiguous, images in order
          assert.deepEqual(rows, rows.length ? Array.from({ length: rows.length }, (_, j) => rows[0]! + j) : []);
          const mine = {
            boxes: rows.flatMap((r) => Array.from(boxes.subarray(4 * r, 4 * r + 4))),
            scores: rows.map((r) => scores[r]!),
            labels: rows.map((r) => labels[r]!),
          };
          for (let j = 1; j < mine.scores.length; j++) assert.ok(mine.scores[j - 1]! >= mine.scores[j]!);
          const [ih, iw] = metas[k]!.imgShape;
          mine.boxes.forEach((v, j) => assert.ok(v >= 0 && v <= (j % 2 ? ih : iw), `box inside the image: ${v}`));
          const what = `${c.name} ${input.shape.join('x')} image ${k}`;
          const compared = assertSameDetections(mine, t, what);
          assert.ok(compared >= 5, `${what}: only ${compared} detections compared`);
          total += compared;
        });
      }
    } finally {
      anchors.dispose();
    }
  }
  console.log(`in-graph NMS vs the non-score-voting path: ${total} detections the same`);
});

test('metadata: the runtime spec (network, anchors, classes, input, inference) and the plain keys; doc strings', () => {
  const { opened } = built.get('paa')!;
  const { model, spec } = onnxModelOf(opened, { nms: true });
  const meta = new Map(model.metadata);
  assert.deepEqual(
    [...meta.keys()],
    [
      'ladet.runtime_spec',
      'ladet.version',
      'ladet.classes',
      'ladet.cls_kind',
      'ladet.mean',
      'ladet.std',
      'ladet.test_scale',
      'ladet.size_divisor',
      'ladet.nms',
    ],
  );
  assert.deepEqual(JSON.parse(meta.get('ladet.runtime_spec')!), JSON.parse(JSON.stringify(spec)));
  assert.deepEqual(spec.network, JSON.parse(JSON.stringify(opened.model.spec)));
  assert.deepEqual(JSON.parse(meta.get('ladet.classes')!), opened.classes);
  assert.equal(meta.get('ladet.cls_kind'), 'logits');
  assert.deepEqual(JSON.parse(meta.get('ladet.mean')!), [123.675, 116.28, 103.53]);
  assert.deepEqual(JSON.parse(meta.get('ladet.std')!), [58.395, 57.12, 57.375]);
  assert.deepEqual(JSON.parse(meta.get('ladet.test_scale')!), [96, 96]);
  assert.equal(meta.get('ladet.size_divisor'), '32');
  assert.deepEqual(JSON.parse(meta.get('ladet.nms')!), { ...EVAL, scoreVoting: false });
  assert.match(meta.get('ladet.version')!, /^\d+\.\d+\.\d+/);
  assert.deepEqual(
    model.inputs.map((i) => [i.name, i.shape]),
    [
      ['images', ['N', 3, 'H', 'W']],
      ['image_sizes', ['N', 2]],
    ],
  );
  assert.deepEqual(
    model.outputs.filter((o) => o.name.endsWith('_1')).map((o) => [o.name, o.shape]),
    [
      ['cls_1', ['N', 5, 'H/16', 'W/16']],
      ['reg_1', ['N', 4, 'H/16', 'W/16']],
      ['iou_1', ['N', 1, 'H/16', 'W/16']],
    ],
  );
  for (const o of model.outputs) assert.ok((o.doc ?? '').length > 20, `${o.name} has a doc string`);
  // the file alone gives ladet/runtime's reader the spec
  assert.deepEqual(onnxRuntimeSpec(encodeOnnxModel(model), 'm.onnx'), JSON.parse(JSON.stringify(spec)));
});
