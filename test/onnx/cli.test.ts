// `ladet export format=onnx`, and `ladet test` / `ladet predict` with weights=MODEL.onnx, on real (tiny) runs made in
// before(): a PAA run, and a CoLAD run whose two networks differ in width. The ONNX model evaluates to the 12 COCO
// numbers of its safetensors weights and predicts their detections; either CoLAD network exports as itself; and
// every way an .onnx can be wrong, or onnxruntime-node missing, fails with a message that says so.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { TrainedDetector, trainDetector } from '../../src/index.js';
import { noGrad, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import { openDetector, resolveModelFiles } from '../../src/engine/open_detector.js';
import { ONNXRUNTIME_ENV, loadOnnxRuntime } from '../../src/engine/onnx_detector.js';
import { OnnxGraph, writeOnnxModel } from '../../src/io/onnx.js';
import { onnxRuntimeSpec } from '../../src/runtime/onnx_spec.js';
import { STAT_NAMES } from '../../src/eval/index.js';
import { runExport } from '../../src/cli/commands/export.js';
import { runPredict } from '../../src/cli/commands/predict.js';
import { runTest } from '../../src/cli/commands/test.js';
import { predictSources, tinyConfig } from '../cli/fixture.js';
import { checkModels, maxAbs, onnxCheckerSkip } from './helpers.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ladet = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
const readJson = <T>(p: string): T => JSON.parse(readFileSync(p, 'utf8')) as T;

let dir = '';
let run = '';
let colad = '';
let model = '';

const NET2 = `
distill:
  strategy: colad
  colad:
    net2:
      backbone: { depth: 18, widthMultiplier: 0.125 }
      neck: { outChannels: 16, numOuts: 4 }
      head: { featChannels: 8, stackedConvs: 2, gnGroups: 4, priorProb: 0.1 }
      anchors: { strides: [8, 16, 32, 64], octaveBaseScale: 4 }
`;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ladet-onnx-cli-'));
  const root = join(dir, 'shapes');
  writeFileSync(join(dir, 'tiny.yaml'), tinyConfig('tiny', root, join(dir, 'runs')));
  writeFileSync(join(dir, 'colad.yaml'), tinyConfig('tiny_colad', root, join(dir, 'runs'), `threads: 1${NET2}`));
  run = (await trainDetector(join(dir, 'tiny.yaml'), { onMessage: () => undefined })).runDir;
  colad = (await trainDetector(join(dir, 'colad.yaml'), { onMessage: () => undefined })).runDir;
  await predictSources(root, join(dir, 'source'));
  model = join(dir, 'tiny.onnx');
  const r = ladet(['export', `weights=${run}`, `out=${model}`]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    r.stdout,
    `wrote ${model} (${(readFileSync(model).length / 2 ** 20).toFixed(1)} MiB, ONNX opset 17): ${join(run, 'weights', 'best.safetensors')}, 8 classes, test scale 96x96\n`,
  );
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Summary {
  stats: Record<string, number>;
  weights: string;
}

test('ladet test weights=M.onnx: the 12 COCO numbers of the safetensors weights, and their detections', () => {
  const a = ladet(['test', run, `out=${join(dir, 'test-st')}`]);
  assert.equal(a.status, 0, a.stderr);
  const b = ladet(['test', run, `weights=${model}`, `out=${join(dir, 'test-onnx')}`]);
  assert.equal(b.status, 0, b.stderr);
  assert.equal(b.stdout.split('\n').filter((l) => l.startsWith(' Average')).length, 12);
  const sa = readJson<Summary>(join(dir, 'test-st', 'test_instances_val_summary.json'));
  const sb = readJson<Summary>(join(dir, 'test-onnx', 'test_instances_val_summary.json'));
  assert.equal(sb.weights, model);
  let worst = 0;
  for (const k of STAT_NAMES) {
    const d = Math.abs((sa.stats[k] as number) - (sb.stats[k] as number));
    worst = Math.max(worst, d);
    assert.ok(d < 1e-4, `${k}: ${sa.stats[k]} vs ${sb.stats[k]}`);
  }
  type Result = { image_id: number; category_id: number; bbox: number[]; score: number };
  const ra = readJson<Result[]>(join(dir, 'test-st', 'test_instances_val_results.json'));
  const rb = readJson<Result[]>(join(dir, 'test-onnx', 'test_instances_val_results.json'));
  assert.equal(rb.length, ra.length);
  assert.ok(ra.length > 100, `${ra.length} results`);
  let box = 0;
  let score = 0;
  ra.forEach((r, i) => {
    const s = rb[i]!;
    assert.deepEqual([s.image_id, s.category_id], [r.image_id, r.category_id], `result ${i}`);
    box = Math.max(box, maxAbs(s.bbox, r.bbox));
    score = Math.max(score, Math.abs(s.score - r.score));
  });
  assert.ok(box < 1e-3 && score < 1e-5, `results: boxes within ${box} px, scores within ${score}`);
  console.log(
    `ladet test: 12 stats within ${worst}; ${ra.length} results, boxes within ${box}, scores within ${score}`,
  );
});

test('ladet predict weights=M.onnx (no config: the settings the file records) draws the safetensors detections', async () => {
  const source = join(dir, 'source');
  const a = ladet(['predict', `weights=${run}`, `source=${source}`, `out=${join(dir, 'pred-st')}`, 'scoreThr=0.05']);
  assert.equal(a.status, 0, a.stderr);
  const b = ladet([
    'predict',
    `weights=${model}`,
    `source=${source}`,
    `out=${join(dir, 'pred-onnx')}`,
    'scoreThr=0.05',
  ]);
  assert.equal(b.status, 0, b.stderr);
  type Pred = { images: { file: string; detections: { category_id: number; score: number; box: number[] }[] }[] };
  const pa = readJson<Pred>(join(dir, 'pred-st', 'predictions.json'));
  const pb = readJson<Pred & { config: unknown }>(join(dir, 'pred-onnx', 'predictions.json'));
  assert.equal(pb.config, null);
  assert.equal(pb.images.length, 3);
  let n = 0;
  pa.images.forEach((im, i) => {
    const other = pb.images[i]!;
    assert.equal(other.file, im.file);
    assert.equal(other.detections.length, im.detections.length, im.file);
    im.detections.forEach((d, k) => {
      const e = other.detections[k]!;
      assert.equal(e.category_id, d.category_id);
      // the files round boxes to 0.01 px and scores to 1e-4
      assert.ok(Math.abs(e.score - d.score) <= 1e-4 && maxAbs(e.box, d.box) <= 0.01, `${im.file} #${k}`);
      n++;
    });
  });
  assert.ok(n > 50, `${n} detections`);
  // eval.* overrides apply to the recorded settings; other keys are refused
  const c = await runPredict(
    [`weights=${model}`, `source=${source}`, `out=${join(dir, 'p2')}`, 'eval.maxPerImg=3', 'scoreThr=0'],
    () => undefined,
  );
  assert.deepEqual(
    c.images.map((im) => im.detections.length),
    [3, 3, 3],
  );
});

test("TrainedDetector.exportOnnx writes the CLI's file byte for byte", () => {
  const td = TrainedDetector.open({ run });
  try {
    const file = join(dir, 'api.onnx');
    assert.equal(td.exportOnnx(file), readFileSync(model).length);
    assert.deepEqual(readFileSync(file), readFileSync(model));
    td.exportOnnx(join(dir, 'api_nms.onnx'), { nms: true });
    assert.ok(readFileSync(join(dir, 'api_nms.onnx')).length > readFileSync(model).length);
  } finally {
    td.dispose();
  }
});

test("either CoLAD network exports as itself: net=1 and net=2 give that network's outputs", async () => {
  const files: string[] = [];
  const x = Float32Array.from({ length: 3 * 96 * 96 }, (_, i) => Math.sin(i * 0.37));
  for (const net of [1, 2] as const) {
    const file = join(dir, `colad_net${net}.onnx`);
    files.push(file);
    const r = ladet(['export', `weights=${colad}`, `net=${net}`, `out=${file}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`: network ${net} `));
    const spec = onnxRuntimeSpec(readFileSync(file), file);
    assert.equal(spec.source?.net, net);
    assert.equal(spec.network.head.featChannels, net === 1 ? 16 : 8);
    const opened = openDetector(resolveModelFiles({ run: colad }), {}, { net });
    const session = await ort.InferenceSession.create(file, { logSeverityLevel: 3 });
    try {
      const got = await session.run({ images: new ort.Tensor('float32', x, [1, 3, 96, 96]) });
      const want = tidy(() =>
        noGrad(() => {
          const o = opened.model.forward(tensor(x, [1, 3, 96, 96]));
          return o.cls.map((c, l) =>
            [c, o.reg[l] as Tensor, (o.iou as Tensor[])[l] as Tensor].map((t) => t.toTypedArray<'float32'>()),
          );
        }),
      );
      want.forEach(([cls, reg, iou], l) => {
        for (const [name, ref] of [
          [`cls_${l}`, cls],
          [`reg_${l}`, reg],
          [`iou_${l}`, iou],
        ] as const) {
          const d = maxAbs(got[name]!.data as Float32Array, ref!);
          assert.ok(d < 1e-4, `net ${net} ${name}: max abs difference ${d}`);
        }
      });
    } finally {
      opened.model.dispose();
      await session.release();
    }
  }
  if (onnxCheckerSkip() === false) assert.deepEqual(checkModels(files), [17, 17]);
  // ladet test of a CoLAD run's exported network writes that network's files
  const t = ladet(['test', colad, `weights=${files[0]}`, `out=${join(dir, 'test-colad')}`]);
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /test_instances_val_net1_summary\.json/);
});

test('errors: a missing, truncated or foreign .onnx, no onnxruntime-node, a wrong format= or option, by name', async () => {
  // the commands in process (as the CLI runs them, without a process start each)
  const quiet = () => undefined;
  const fails = (command: 'test' | 'predict' | 'export', args: string[], message: RegExp) =>
    assert.rejects(
      command === 'test'
        ? runTest(args, quiet)
        : command === 'predict'
          ? runPredict(args, quiet)
          : runExport(args, quiet),
      message,
      `ladet ${command} ${args.join(' ')}`,
    );
  const source = join(dir, 'source');
  const missing = join(dir, 'missing.onnx');
  await fails('test', [run, `weights=${missing}`], new RegExp(`weights not found: ${missing}`));
  const bytes = readFileSync(model);
  const cut = join(dir, 'cut.onnx');
  writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
  await fails('test', [run, `weights=${cut}`], new RegExp(`${cut}: not an ONNX model \\(field 7 runs past the end`));
  const foreign = join(dir, 'weights.onnx');
  writeFileSync(foreign, readFileSync(join(run, 'weights', 'best.safetensors')));
  await fails('predict', [`weights=${foreign}`, `source=${source}`], new RegExp(`${foreign}: not an ONNX model`));
  // an ONNX model ladet did not write
  const g = new OnnxGraph();
  g.node('Relu', [g.input({ name: 'x', type: 'float32', shape: [1] })], {}, ['y']);
  g.output({ name: 'y', type: 'float32', shape: [1] });
  const plain = join(dir, 'plain.onnx');
  writeOnnxModel(
    plain,
    g.model({ opset: 17, producerName: 'x', producerVersion: '1', doc: '', graphName: 'g', metadata: [] }),
  );
  await fails(
    'test',
    [run, `weights=${plain}`],
    /plain\.onnx: no ladet\.runtime_spec in its metadata_props: not written by ladet/,
  );
  // onnxruntime-node absent: the module the environment names (through the CLI), and the message for the package
  const r = ladet(['test', run, `weights=${model}`], { [ONNXRUNTIME_ENV]: 'ladet-no-such-module' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`${ONNXRUNTIME_ENV}=ladet-no-such-module names a module that is not installed`));
  const notFound = Object.assign(new Error("Cannot find package 'onnxruntime-node'"), { code: 'ERR_MODULE_NOT_FOUND' });
  await assert.rejects(
    loadOnnxRuntime(`weights=${model}`, () => Promise.reject(notFound)),
    {
      message: `weights=${model} runs on onnxruntime-node, which is not installed (an optional peer dependency of ladet): ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node`,
    },
  );
  // export options
  const out = (ext: string): string => `out=${join(dir, `x.${ext}`)}`;
  await fails(
    'export',
    [`weights=${run}`, out('onnx'), 'format=tflite'],
    /format= must be runtime or onnx \(got "tflite"\)/,
  );
  await fails('export', [`weights=${run}`, out('safetensors'), 'nms=true'], /nms=true appends NMS to an ONNX graph/);
  await fails('export', [`weights=${run}`, out('safetensors'), 'format=onnx'], /format=onnx writes an \.onnx file/);
  // what does not apply to an ONNX model
  await fails('test', [run, `weights=${model}`, 'net=1'], /net= picks a network of a CoLAD run's weights/);
  await fails('test', [run, `weights=${model}`, 'precision=bf16'], /precision=bf16 is for libtorch weights/);
  await fails(
    'predict',
    [`weights=${model}`, `source=${source}`, 'model.head.type=cop'],
    /model\.head\.type=: an ONNX model's network is fixed/,
  );
  await fails(
    'predict',
    [`weights=${model}`, `source=${source}`, 'schedule.epochs=2'],
    /without config= only data\.\*, eval\.\* and threads= apply/,
  );
});
