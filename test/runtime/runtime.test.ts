// ladet/runtime end to end on a real (tiny) run: `ladet export` writes the runtime model, and RuntimeDetector
// (plain TypeScript) gives what ladet on libtorch gives, layer outputs and detections, on the same image.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { TrainedDetector, trainDetector, type Detection, type TrainSummary } from '../../src/index.js';
import { decodeImage } from '../../src/data/image.js';
import { loadTestImage } from '../../src/engine/predict.js';
import { testPipelineOf } from '../../src/build/model.js';
import { openDetector, resolveModelFiles } from '../../src/engine/open_detector.js';
import { noGrad, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import {
  parseRuntimeModel,
  runtimeSpecProblem,
  RuntimeDetector,
  resizeBilinear,
  Network,
} from '../../src/runtime/index.js';
import { tinyConfig } from '../cli/fixture.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ladet = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });

let dir = '';
let dataRoot = '';
let model = '';
let summary: TrainSummary;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ladet-runtime-test-'));
  dataRoot = join(dir, 'shapes');
  const configFile = join(dir, 'tiny.yaml');
  writeFileSync(configFile, tinyConfig('tiny', dataRoot, join(dir, 'runs')));
  summary = await trainDetector(configFile, { onMessage: () => undefined });
  model = join(dir, 'model.safetensors');
  const r = ladet('export', `weights=${summary.runDir}`, `out=${model}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(
      `^wrote ${model} \\(\\d+\\.\\d MiB\\): ${join(summary.runDir, 'weights', 'best.safetensors')}, 8 classes, test scale 96x96\\n$`,
    ),
  );
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
};

/**
 * The runtime's detections are libtorch's: the same classes in the same order, scores within 1e-5, boxes within
 * 1e-3 px, for every detection clear of the 100-per-image cut (near-ties there may fall either way).
 */
function assertSameDetections(
  mine: readonly Detection[],
  theirs: readonly Detection[],
  atLeast: number,
  what: string,
): void {
  const cut = Math.min(...theirs.map((d) => d.score)) + 1e-4;
  const kept = mine.filter((d) => d.score > cut);
  assert.ok(kept.length > atLeast, `${what}: ${kept.length} detections to compare`);
  kept.forEach((d, k) => {
    const t = theirs[k]!;
    assert.equal(d.category_id, t.category_id, `${what} #${k}`);
    assert.ok(Math.abs(d.score - t.score) < 1e-5, `${what} #${k}: score ${d.score} vs ${t.score}`);
    assert.ok(maxAbs(d.box, t.box) < 1e-3, `${what} #${k}: box ${d.box} vs ${t.box}`);
  });
}

/** A runtime spec as parsed JSON, for tests that edit (damage, age) it freely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any field, any edit
type EditableSpec = Record<string, any>;

/** `bytes` with its runtime spec edited (the tensors as they are). */
function withSpec(bytes: Buffer, edit: (spec: EditableSpec) => void): Buffer {
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8')) as {
    __metadata__: { ladet_runtime: string };
  };
  const spec = JSON.parse(header.__metadata__.ladet_runtime) as EditableSpec;
  edit(spec);
  header.__metadata__.ladet_runtime = JSON.stringify(spec);
  const text = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  return Buffer.concat([len, text, bytes.subarray(8 + headerLen)]);
}

test("the runtime network gives libtorch's head outputs on the same input, at every level", async () => {
  const opened = openDetector(resolveModelFiles({ run: summary.runDir }));
  const { spec, weights } = parseRuntimeModel(readFileSync(model));
  const net = new Network(spec.network, weights);
  try {
    const file = join(dataRoot, 'val', '000003.png');
    const raw = await loadTestImage(file, testPipelineOf(opened.config));
    assert.deepEqual(raw.shape, [1, 3, 96, 96]);
    const [, , h, w] = raw.shape;
    const mine = net.forward({ data: raw.data, c: 3, h, w });
    const theirs = tidy(() =>
      noGrad(() => {
        const out = opened.model.forward(tensor(raw.data, raw.shape));
        const arr = (t: Tensor): Float32Array => t.toTypedArray<'float32'>();
        return out.cls.map((c, l) => ({
          cls: arr(c),
          reg: arr(out.reg[l] as Tensor),
          iou: arr((out.iou as Tensor[])[l] as Tensor),
          h: c.dim(2),
          w: c.dim(3),
        }));
      }),
    );
    assert.equal(mine.length, theirs.length);
    assert.equal(mine.length, 4);
    mine.forEach((m, l) => {
      const t = theirs[l]!;
      assert.deepEqual([m.cls.h, m.cls.w, m.cls.c], [t.h, t.w, 8], `level ${l}`);
      assert.ok(maxAbs(m.cls.data, t.cls) < 1e-4, `level ${l} cls: ${maxAbs(m.cls.data, t.cls)}`);
      assert.ok(maxAbs(m.reg.data, t.reg) < 1e-4, `level ${l} reg: ${maxAbs(m.reg.data, t.reg)}`);
      assert.ok(maxAbs((m.iou as { data: Float32Array }).data, t.iou) < 1e-4, `level ${l} iou`);
    });
  } finally {
    opened.model.dispose();
  }
});

test("RuntimeDetector.detect gives TrainedDetector.detect's detections, from RGB and from RGBA pixels", async () => {
  const rt = RuntimeDetector.fromBytes(readFileSync(model));
  const td = TrainedDetector.open({ run: summary.runDir });
  try {
    assert.deepEqual(rt.classes, td.classes);
    // the API's export is the CLI's, byte for byte
    const apiFile = join(dir, 'api.safetensors');
    assert.equal(td.exportRuntime(apiFile), readFileSync(model).length);
    assert.deepEqual(readFileSync(apiFile), readFileSync(model));
    for (const name of ['000001.png', '000002.png']) {
      const file = join(dataRoot, 'val', name);
      const img = await decodeImage(file);
      const mine = rt.detect({ data: img.data, width: img.width, height: img.height }, { scoreThr: 0.05 });
      assertSameDetections(mine, await td.detect(file, { scoreThr: 0.05 }), 10, name);
      const rgba = new Uint8ClampedArray(img.width * img.height * 4);
      for (let i = 0; i < img.width * img.height; i++) {
        rgba.set(img.data.subarray(3 * i, 3 * i + 3), 4 * i);
        rgba[4 * i + 3] = 255;
      }
      assert.deepEqual(rt.detect({ data: rgba, width: img.width, height: img.height }, { scoreThr: 0.05 }), mine);
      assert.deepEqual(
        rt.detect({ data: img.data, width: img.width, height: img.height }),
        mine.filter((d) => d.score >= 0.3),
      );
    }
  } finally {
    td.dispose();
  }
});

test("COP and IOP heads (class probabilities from extra reg-tower convs) export and run with libtorch's detections", async () => {
  for (const type of ['cop', 'iop'] as const) {
    const run = await trainDetector(join(dir, 'tiny.yaml'), {
      overrides: { 'model.head.type': type, name: `tiny_${type}` },
      onMessage: () => undefined,
    });
    const td = TrainedDetector.open({ run: run.runDir });
    try {
      const file = join(dir, `${type}.safetensors`);
      td.exportRuntime(file);
      const rt = RuntimeDetector.fromBytes(readFileSync(file));
      assert.equal(rt.spec.network.head.type, type);
      const image = join(dataRoot, 'val', '000002.png');
      const img = await decodeImage(image);
      const mine = rt.detect({ data: img.data, width: img.width, height: img.height }, { scoreThr: 0.01 });
      assertSameDetections(mine, await td.detect(image, { scoreThr: 0.01 }), 5, type);
    } finally {
      td.dispose();
    }
  }
});

test("the file records the detector's model description as it is; files in the first (legacy) shape read the same", async () => {
  const opened = openDetector(resolveModelFiles({ run: summary.runDir }));
  const bytes = readFileSync(model);
  try {
    const headerLen = Number(bytes.readBigUInt64LE(0));
    const recorded = JSON.parse(
      JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8')).__metadata__.ladet_runtime,
    );
    assert.deepEqual(recorded.network, JSON.parse(JSON.stringify(opened.model.spec)));
    assert.equal(recorded.network.backbone.type, 'resnet');
    assert.deepEqual(parseRuntimeModel(bytes).spec.network, recorded.network);
  } finally {
    opened.model.dispose();
  }
  // what `ladet export` wrote before the model description: the same tensors, this network record
  const legacy = withSpec(bytes, (s) => {
    const { backbone: b, neck: n, head: h } = s.network;
    s.network = {
      backbone: { depth: b.depth, baseChannels: b.baseChannels },
      neck: {
        outChannels: n.outChannels,
        startLevel: n.startLevel,
        numOuts: n.numOuts,
        addExtraConvs: n.addExtraConvs,
        reluBeforeExtraConvs: n.reluBeforeExtraConvs,
      },
      head: {
        numClasses: h.numClasses,
        stackedConvs: h.stackedConvs,
        gnGroups: h.gnGroups,
        iouBranch: h.iouBranch,
        type: h.type,
      },
    };
  });
  assert.deepEqual(parseRuntimeModel(legacy).spec.network, parseRuntimeModel(bytes).spec.network);
  const x = { data: Float32Array.from({ length: 3 * 96 * 96 }, (_, i) => Math.sin(i * 0.37)), c: 3, h: 96, w: 96 };
  const run = (b: Uint8Array) => {
    const { spec, weights } = parseRuntimeModel(b);
    return new Network(spec.network, weights).forward(x);
  };
  assert.deepEqual(run(legacy), run(bytes));
  // the legacy record straight into Network (resolved there too)
  const { spec, weights } = parseRuntimeModel(bytes);
  const old = {
    backbone: { depth: 18 as const, baseChannels: spec.network.backbone.outChannels[0] as number },
    neck: { ...spec.network.neck, type: undefined },
    head: { ...spec.network.head, featChannels: undefined },
  };
  assert.deepEqual(new Network(old, weights).spec, spec.network);
  const img = await decodeImage(join(dataRoot, 'val', '000001.png'));
  const image = { data: img.data, width: img.width, height: img.height };
  assert.deepEqual(
    RuntimeDetector.fromBytes(legacy).detect(image, { scoreThr: 0.05 }),
    RuntimeDetector.fromBytes(bytes).detect(image, { scoreThr: 0.05 }),
  );
});

test('a backbone type without a runtime kernel is refused by name (reading and exporting)', () => {
  const bytes = readFileSync(model);
  const other = withSpec(
    bytes,
    (s) => (s.network.backbone = { type: 'mobilenet_v2', outChannels: [24, 32, 96, 320], outStrides: [4, 8, 16, 32] }),
  );
  assert.throws(() => RuntimeDetector.fromBytes(other, 'm.safetensors'), {
    message:
      'm.safetensors: __metadata__.ladet_runtime: network.backbone type "mobilenet_v2" has no ladet/runtime kernel (it runs: resnet)',
  });
  const { spec } = parseRuntimeModel(bytes);
  assert.equal(runtimeSpecProblem(spec), null);
  assert.match(
    runtimeSpecProblem({
      ...spec,
      network: { ...spec.network, backbone: { ...spec.network.backbone, type: 'mobilenet_v2' } },
    })!,
    /backbone type "mobilenet_v2" has no ladet\/runtime kernel/,
  );
  assert.throws(
    () => RuntimeDetector.fromBytes(withSpec(bytes, (s) => (s.network.neck.type = 'bifpn'))),
    /network\.neck\.type must be 'fpn' \(got "bifpn"\)/,
  );
  assert.throws(
    () => RuntimeDetector.fromBytes(withSpec(bytes, (s) => (s.network.backbone.blocks = [1, 1, 1, 1]))),
    /network\.backbone\.blocks must be ResNet-18's \[2, 2, 2, 2\] \(got \[1,1,1,1\]\)/,
  );
});

test('an image of another size is resized as ladet resizes it: enlargements to the byte, reductions close', async () => {
  const src = await decodeImage(join(dataRoot, 'val', '000004.png'));
  // enlarging 96 -> 150 x 131: ladet's decoder (OpenCV convention)
  const up = await decodeImage(join(dataRoot, 'val', '000004.png'), () => ({ width: 150, height: 131 }));
  const mineUp = resizeBilinear(src.data, 96, 96, 150, 131);
  assert.ok(maxAbs(mineUp, up.data) <= 1, `enlarged: max byte difference ${maxAbs(mineUp, up.data)}`);
  // reducing 96 -> 41 x 37: libvips' antialiased linear reduce; a triangle filter of the same width comes close
  const down = await decodeImage(join(dataRoot, 'val', '000004.png'), () => ({ width: 41, height: 37 }));
  const mineDown = resizeBilinear(src.data, 96, 96, 41, 37);
  let sum = 0;
  for (let i = 0; i < mineDown.length; i++) sum += Math.abs((mineDown[i] as number) - (down.data[i] as number));
  assert.ok(sum / mineDown.length < 2, `reduced: mean byte difference ${sum / mineDown.length}`);
  // and an image that needs resizing runs end to end: boxes inside the original image
  const big = await sharp(join(dataRoot, 'val', '000004.png'))
    .resize(200, 150, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const rt = RuntimeDetector.fromBytes(readFileSync(model));
  const dets = rt.detect({ data: big.data, width: 200, height: 150, channels: 3 }, { scoreThr: 0.05 });
  assert.ok(dets.length > 0);
  for (const d of dets) assert.ok(d.box[0] >= 0 && d.box[1] >= 0 && d.box[2] <= 200 && d.box[3] <= 150, `box ${d.box}`);
});

test('bad model files and images: errors say what is wrong', () => {
  const bytes = readFileSync(model);
  assert.throws(
    () => RuntimeDetector.fromBytes(bytes.subarray(0, bytes.length - 100), 'cut.safetensors'),
    /^Error: cut\.safetensors: tensor '.*': data_offsets \[\d+, \d+\] do not fit its shape .* \(truncated\?\)$/,
  );
  assert.throws(
    () => RuntimeDetector.fromBytes(bytes.subarray(0, 4)),
    /runtime model: too short for a safetensors file \(4 bytes\)/,
  );
  // NaN and Infinity in a weight: refused by tensor (else every score would quietly come out NaN)
  const poisoned = Buffer.from(bytes);
  const headerLen = Number(poisoned.readBigUInt64LE(0));
  const header = JSON.parse(poisoned.subarray(8, 8 + headerLen).toString('utf8')) as Record<
    string,
    { shape: number[]; data_offsets: [number, number] }
  >;
  const [key, entry] = Object.entries(header).find(([k]) => k !== '__metadata__')!;
  const at = 8 + headerLen + entry.data_offsets[0];
  poisoned.writeFloatLE(NaN, at + 4 * 3);
  poisoned.writeFloatLE(-Infinity, at + 4 * 5);
  const count = entry.shape.reduce((a, b) => a * b, 1);
  assert.throws(() => RuntimeDetector.fromBytes(poisoned, 'm.safetensors'), {
    message: `m.safetensors: tensor '${key}' holds 2 non-finite values of ${count} (element 3 is NaN): a corrupt file or a diverged run`,
  });
  const checkpoint = readFileSync(join(summary.runDir, 'weights', 'best.safetensors'));
  assert.throws(
    () => RuntimeDetector.fromBytes(checkpoint, 'best.safetensors'),
    /best\.safetensors: not a ladet runtime model \(no __metadata__\.ladet_runtime\): make one with `ladet export/,
  );
  // a damaged spec: the field is named
  const damaged = (edit: (spec: EditableSpec) => void): Uint8Array => withSpec(bytes, edit);
  assert.throws(
    () =>
      RuntimeDetector.fromBytes(
        damaged((s) => delete s.input.testScale),
        'm.safetensors',
      ),
    {
      message: 'm.safetensors: __metadata__.ladet_runtime: input.testScale must be two numbers (got undefined)',
    },
  );
  assert.throws(
    () => RuntimeDetector.fromBytes(damaged((s) => (s.network.backbone.depth = 20))),
    /network\.backbone\.depth must be 18, 34, 50 or 101 \(got 20\)/,
  );
  assert.throws(
    () => RuntimeDetector.fromBytes(damaged((s) => s.classes.pop())),
    /classes lists 7 classes, network\.head\.numClasses is 8/,
  );
  assert.throws(
    () => RuntimeDetector.fromBytes(damaged((s) => (s.version = 2))),
    /format ladet-runtime version 2; this ladet reads ladet-runtime version 1/,
  );
  // a model whose spec and weights disagree
  const { spec, weights } = parseRuntimeModel(bytes);
  assert.throws(
    () => new Network({ ...spec.network, head: { ...spec.network.head, stackedConvs: 2 } }, weights),
    /tensor 'bbox_head\.cls_convs\.1\.conv\.weight' is missing/,
  );
  const fewer = new Map(weights);
  fewer.set('extra.weight', { data: new Float32Array(1), shape: [1] });
  assert.throws(() => new Network(spec.network, fewer), /tensor 'extra\.weight' is not part of the network/);
  const rt = RuntimeDetector.fromBytes(bytes);
  assert.throws(
    () => rt.detect({ data: new Uint8Array(10), width: 2, height: 2 }),
    /image data must hold 3 \(RGB\) or 4 \(RGBA\) bytes per pixel \(got 10 bytes for 2x2\)/,
  );
  assert.throws(
    () => rt.detect({ data: new Uint8Array(12), width: 2, height: 2 }, { scoreThr: -1 }),
    /scoreThr must be a number in \[0, 1\]/,
  );
  const r = ladet('export', `weights=${summary.runDir}`, `out=${join(dir, 'model.bin')}`);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /ladet export: out=.*model\.bin: the runtime model is a \.safetensors file/);
});

test('ladet/runtime loads no libtorch and no Node built-in: its compiled import graph', () => {
  const entry = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/runtime/index.js');
  const seen = new Set<string>();
  const walk = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const js = readFileSync(file, 'utf8');
    for (const m of js.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]/gm)) {
      const spec = m[1] as string;
      assert.ok(spec.startsWith('.'), `${file} imports '${spec}'`);
      walk(resolve(dirname(file), spec));
    }
    assert.ok(!/\bimport\s*\(/.test(js) && !/\brequire\s*\(/.test(js), `${file}: dynamic import or require`);
  };
  walk(entry);
  assert.ok(seen.size >= 6, [...seen].join(', '));
  for (const f of seen) assert.ok(!/[/\\](torch|io|engine|cli)[/\\]/.test(f), `the runtime reaches ${f}`);
});
