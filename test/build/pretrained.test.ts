import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkpointClassNames,
  formatPretrainedReport,
  guessResNet,
  loadPretrained,
  mapCheckpoint,
  targetEntries,
  toF32,
  type TargetEntry,
} from '../../src/build/pretrained.js';
import { saveSafetensorsRaw, tensorToRaw, writePth, type RawTensor } from '../../src/io/index.js';
import { Detector, ResNet, type DetectorConfig } from '../../src/models/index.js';

// ---- hand-made name sets ----------------------------------------------------------------------------------------

const ARCH: Record<number, [number[], boolean]> = {
  18: [[2, 2, 2, 2], false],
  50: [[3, 4, 6, 3], true],
  101: [[3, 4, 23, 3], true],
};

/** torchvision's resnet{depth}() state dict names and shapes, in its order (fc included). */
function torchvisionResNet(depth: 18 | 50 | 101): Map<string, TargetEntry> {
  const [blocks, bottleneck] = ARCH[depth] as [number[], boolean];
  const sd = new Map<string, TargetEntry>();
  const f32 = (shape: number[]): TargetEntry => ({ shape, dtype: 'F32' });
  const bn = (p: string, c: number): void => {
    for (const k of ['weight', 'bias', 'running_mean', 'running_var']) sd.set(`${p}.${k}`, f32([c]));
    sd.set(`${p}.num_batches_tracked`, { shape: [], dtype: 'I64' });
  };
  sd.set('conv1.weight', f32([64, 3, 7, 7]));
  bn('bn1', 64);
  const exp = bottleneck ? 4 : 1;
  let inCh = 64;
  blocks.forEach((n, s) => {
    const planes = 64 * 2 ** s;
    for (let b = 0; b < n; b++) {
      const p = `layer${s + 1}.${b}`;
      if (bottleneck) {
        sd.set(`${p}.conv1.weight`, f32([planes, inCh, 1, 1]));
        bn(`${p}.bn1`, planes);
        sd.set(`${p}.conv2.weight`, f32([planes, planes, 3, 3]));
        bn(`${p}.bn2`, planes);
        sd.set(`${p}.conv3.weight`, f32([planes * 4, planes, 1, 1]));
        bn(`${p}.bn3`, planes * 4);
      } else {
        sd.set(`${p}.conv1.weight`, f32([planes, inCh, 3, 3]));
        bn(`${p}.bn1`, planes);
        sd.set(`${p}.conv2.weight`, f32([planes, planes, 3, 3]));
        bn(`${p}.bn2`, planes);
      }
      if (b === 0 && (s > 0 || inCh !== planes * exp)) {
        sd.set(`${p}.downsample.0.weight`, f32([planes * exp, inCh, 1, 1]));
        bn(`${p}.downsample.1`, planes * exp);
      }
      inCh = planes * exp;
    }
  });
  sd.set('fc.weight', f32([1000, inCh]));
  sd.set('fc.bias', f32([1000]));
  return sd;
}

const BYTES: Record<string, number> = { F32: 4, I64: 8, F16: 2, BF16: 2, F64: 8, I32: 4 };

/** Zero-filled raw tensors for names -> entries (`rename` maps each name; null drops it). */
function checkpointOf(
  entries: ReadonlyMap<string, TargetEntry>,
  rename: (k: string) => string | null = (k) => k,
): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  for (const [k, e] of entries) {
    const to = rename(k);
    if (to === null) continue;
    const n = e.shape.reduce((a, b) => a * b, 1);
    out.set(to, { dtype: e.dtype, shape: e.shape, data: new Uint8Array(n * (BYTES[e.dtype] as number)) });
  }
  return out;
}

function withoutFc(m: ReadonlyMap<string, TargetEntry>): Map<string, TargetEntry> {
  return new Map([...m].filter(([k]) => !k.startsWith('fc.')));
}

/** A small detector's names: ResNet-18, FPN 32, a 2-conv head of width 32 (GN 8), `numClasses` classes. */
function tinyConfig(numClasses = 3): DetectorConfig {
  return {
    backbone: { depth: 18, frozenStages: 1, normEval: true },
    neck: { outChannels: 32 },
    head: { numClasses, featChannels: 32, stackedConvs: 2, gnGroups: 8 },
  };
}

let tinyCache: Map<string, TargetEntry> | null = null;
function tinyDetectorEntries(): Map<string, TargetEntry> {
  if (tinyCache === null) {
    const det = new Detector(tinyConfig());
    tinyCache = targetEntries(det);
    det.dispose();
  }
  return tinyCache;
}

function backboneOf(detectorEntries: ReadonlyMap<string, TargetEntry>): Map<string, TargetEntry> {
  return new Map(
    [...detectorEntries].filter(([k]) => k.startsWith('backbone.')).map(([k, v]) => [k.slice('backbone.'.length), v]),
  );
}

// ---- the layouts ------------------------------------------------------------------------------------------------

test("the hand-made torchvision ResNet-18 names are ladet ResNet-18's, fc aside", () => {
  const r = new ResNet({ depth: 18 });
  const own = targetEntries(r);
  r.dispose();
  assert.deepEqual([...own], [...withoutFc(torchvisionResNet(18))]);
  assert.equal(guessResNet(own.keys()), 'ResNet-18');
  assert.equal(guessResNet(torchvisionResNet(50).keys()), 'ResNet-50');
  assert.equal(guessResNet(torchvisionResNet(101).keys()), 'ResNet-101');
  assert.equal(guessResNet(['neck.x.weight']), null);
});

test('torchvision ResNet -> a bare backbone: fc dropped, old files without num_batches_tracked filled', () => {
  const target = withoutFc(torchvisionResNet(50));
  const ck = checkpointOf(torchvisionResNet(50), (k) => (k.endsWith('num_batches_tracked') ? null : k));
  const { tensors, report } = mapCheckpoint(ck, target, 'backbone');
  assert.match(report.source, /torchvision ResNet/);
  assert.deepEqual([...tensors.keys()], [...target.keys()]);
  assert.deepEqual(report.dropped, [
    { key: 'fc.weight', why: 'classifier, not part of a detector backbone' },
    { key: 'fc.bias', why: 'classifier, not part of a detector backbone' },
  ]);
  const nbt = [...target.keys()].filter((k) => k.endsWith('num_batches_tracked'));
  assert.equal(nbt.length, 53);
  assert.deepEqual(report.missing, nbt);
  const filled = tensors.get('bn1.num_batches_tracked') as RawTensor;
  assert.deepEqual([filled.dtype, filled.shape, [...filled.data]], ['I64', [], [0, 0, 0, 0, 0, 0, 0, 0]]);
  assert.ok(report.mapped.every((m) => m.from === m.to));
  assert.equal(report.strippedModulePrefix, false);
  const text = formatPretrainedReport(report);
  assert.match(text, /source: torchvision ResNet/);
  assert.match(text, /mapped 265 tensors\n/);
  assert.match(text, /dropped 2 \(classifier, not part of a detector backbone\): fc\.weight, fc\.bias/);
  assert.match(text, /filled 53 absent from the file with 0: bn1\.num_batches_tracked, .*\(50 more\)/);
});

test('torchvision ResNet with a DataParallel module. prefix -> the backbone of a detector', () => {
  const det = tinyDetectorEntries();
  const target = backboneOf(det);
  const ck = checkpointOf(torchvisionResNet(18), (k) => `module.${k}`);
  const { tensors, report } = mapCheckpoint(ck, target, 'backbone');
  assert.equal(report.strippedModulePrefix, true);
  assert.equal(tensors.size, target.size);
  assert.deepEqual(report.mapped[0], { from: 'module.conv1.weight', to: 'conv1.weight' });
  assert.deepEqual(report.missing, []);
  assert.match(formatPretrainedReport(report), /module\. prefix stripped/);
});

test('mmdetection detector state dict -> a detector: names as they are (atss_*, scales.i.scale)', () => {
  const target = tinyDetectorEntries();
  for (const k of ['bbox_head.atss_cls.weight', 'bbox_head.atss_centerness.bias', 'bbox_head.scales.4.scale']) {
    assert.ok(target.has(k), k);
  }
  // an mmdetection LAD checkpoint also holds its teacher under teacher_model.
  const ck = checkpointOf(target);
  ck.set('teacher_model.backbone.conv1.weight', ck.get('backbone.conv1.weight') as RawTensor);
  const { tensors, report } = mapCheckpoint(ck, target, 'detector');
  assert.match(report.source, /detector state dict/);
  assert.equal(tensors.size, target.size);
  assert.ok(report.mapped.every((m) => m.from === m.to));
  assert.deepEqual(report.dropped, [
    { key: 'teacher_model.backbone.conv1.weight', why: "an mmdetection LAD teacher's weights, not the student's" },
  ]);
  assert.deepEqual([report.missing, report.converted], [[], []]);
  assert.deepEqual(tensors.get('bbox_head.scales.0.scale')?.shape, []);
});

test('mmdetection detector -> the backbone only: the neck and head are dropped, backbone. stripped', () => {
  const det = tinyDetectorEntries();
  const target = backboneOf(det);
  const { tensors, report } = mapCheckpoint(checkpointOf(det), target, 'backbone');
  assert.equal(tensors.size, target.size);
  assert.deepEqual(report.mapped[0], { from: 'backbone.conv1.weight', to: 'conv1.weight' });
  const headAndNeck = [...det.keys()].filter((k) => !k.startsWith('backbone.'));
  assert.deepEqual(
    report.dropped,
    headAndNeck.map((key) => ({ key, why: 'not part of the backbone' })),
  );
  const text = formatPretrainedReport(report);
  assert.match(text, /renamed: backbone\.conv1\.weight -> conv1\.weight/);
  assert.match(text, /dropped \d+ \(not part of the backbone\): neck\.lateral_convs\.0\.conv\.weight/);
});

test('backbone-only checkpoints: backbone.-prefixed (mmdetection / mmcv) and bare names (open-mmlab://, ladet)', () => {
  const target = withoutFc(torchvisionResNet(18));
  const prefixed = mapCheckpoint(
    checkpointOf(target, (k) => `backbone.${k}`),
    target,
    'backbone',
  );
  assert.match(prefixed.report.source, /backbone-only checkpoint \(backbone\.\* names/);
  assert.equal(prefixed.tensors.size, target.size);
  const bare = mapCheckpoint(checkpointOf(target), target, 'backbone');
  assert.match(bare.report.source, /bare ResNet names/);
  assert.equal(bare.report.mapped.length, target.size);
  // ladet's own checkpoint: the optimizer's tensors are not weights
  const own = checkpointOf(target);
  own.set('optimizer.0.momentum_buffer', { dtype: 'F32', shape: [1], data: new Uint8Array(4) });
  const r = mapCheckpoint(own, target, 'backbone').report;
  assert.deepEqual(r.dropped, [{ key: 'optimizer.0.momentum_buffer', why: 'optimizer state, not weights' }]);
});

// ---- what does not fit ------------------------------------------------------------------------------------------

test('ResNet-50 weights into a ResNet-18 backbone: the first key and both shapes', () => {
  assert.throws(
    () => mapCheckpoint(checkpointOf(torchvisionResNet(50)), withoutFc(torchvisionResNet(18)), 'backbone'),
    {
      message:
        'layer1.0.conv1.weight: checkpoint [64, 64, 1, 1] vs model [64, 64, 3, 3] — the checkpoint is another ' +
        'architecture (ResNet-50?; the model is ResNet-18)',
    },
  );
});

test('ResNet-101 into ResNet-50 (an extra block) and ResNet-50 into ResNet-101 (blocks missing)', () => {
  assert.throws(
    () => mapCheckpoint(checkpointOf(torchvisionResNet(101)), withoutFc(torchvisionResNet(50)), 'backbone'),
    /^Error: layer3\.6\.conv1\.weight: in the checkpoint, not in the model \(no 'layer3\.6\.conv1\.weight'\) — the checkpoint is another architecture \(ResNet-101\?; the model is ResNet-50\)$/,
  );
  assert.throws(
    () => mapCheckpoint(checkpointOf(torchvisionResNet(50)), withoutFc(torchvisionResNet(101)), 'backbone'),
    /^Error: the model's 'layer3\.6\.conv1\.weight' is missing from the checkpoint \(and \d+ more\) — the checkpoint is another architecture \(ResNet-50\?; the model is ResNet-101\)$/,
  );
});

test('a head with another class count, a backbone-only file for a detector, a dtype that does not convert', () => {
  const target = tinyDetectorEntries();
  const other = new Map(target);
  other.set('bbox_head.atss_cls.weight', { shape: [80, 32, 3, 3], dtype: 'F32' });
  assert.throws(() => mapCheckpoint(checkpointOf(other), target, 'detector'), {
    message:
      "bbox_head.atss_cls.weight: checkpoint [80, 32, 3, 3] vs model [3, 32, 3, 3] — the checkpoint's head has 80 " +
      "class outputs, the model's 3",
  });
  assert.throws(
    () => mapCheckpoint(checkpointOf(torchvisionResNet(18)), target, 'detector'),
    /^Error: the model's 'neck\.lateral_convs\.0\.conv\.weight' is missing from the checkpoint \(and \d+ more\) — the checkpoint holds a backbone only \(torchvision ResNet.*\); initialise the backbone with part 'backbone'$/,
  );
  const bad = checkpointOf(withoutFc(torchvisionResNet(18)));
  const w = bad.get('conv1.weight') as RawTensor;
  bad.set('conv1.weight', { ...w, dtype: 'I32' });
  assert.throws(
    () => mapCheckpoint(bad, withoutFc(torchvisionResNet(18)), 'backbone'),
    /conv1\.weight: dtype I32 in the checkpoint, the model expects F32/,
  );
  assert.throws(
    () => mapCheckpoint(new Map([['encoder.weight', w]]), withoutFc(torchvisionResNet(18)), 'backbone'),
    /unrecognised checkpoint layout \(first key 'encoder\.weight'\)/,
  );
  assert.throws(() => mapCheckpoint(new Map(), target, 'detector'), /holds no tensors/);
});

// ---- dtypes -----------------------------------------------------------------------------------------------------

test('F16, BF16 and F64 tensors become F32 (values exact where representable), reported', () => {
  const values = [0, 1, -2.5, 0.099975586, 65504, -Infinity, 2 ** -24];
  const f16 = new Uint8Array([
    0x00, 0x00, 0x00, 0x3c, 0x00, 0xc1, 0x66, 0x2e, 0xff, 0x7b, 0x00, 0xfc, 0x01, 0x00,
  ]);
  const a = toF32({ dtype: 'F16', shape: [7], data: f16 });
  assert.deepEqual([...new Float32Array(a.data.buffer)], values.map(Math.fround));
  const f32 = new Float32Array([1.5, -3.25, 1e-3]);
  const bf = new Uint8Array(6);
  const u32 = new Uint32Array(f32.buffer);
  u32.forEach((u, i) => new DataView(bf.buffer).setUint16(i * 2, u >>> 16, true));
  const b = toF32({ dtype: 'BF16', shape: [3], data: bf });
  const got = new Float32Array(b.data.buffer);
  assert.deepEqual([got[0], got[1]], [1.5, -3.25]);
  assert.ok(Math.abs((got[2] as number) - 1e-3) < 1e-5);
  const f64 = new Float64Array([0.1, -7, 1e30]);
  const c = toF32({ dtype: 'F64', shape: [3], data: new Uint8Array(f64.buffer) });
  assert.deepEqual([...new Float32Array(c.data.buffer)], [...f64].map(Math.fround));
  assert.throws(() => toF32({ dtype: 'I64', shape: [1], data: new Uint8Array(8) }), /I64 is not a float dtype/);

  const target = withoutFc(torchvisionResNet(18));
  const half = new Map(
    [...target].map(([k, e]) => [k, e.dtype === 'F32' ? { ...e, dtype: k.startsWith('layer') ? 'F16' : 'F64' } : e]),
  ) as Map<string, TargetEntry>;
  const { tensors, report } = mapCheckpoint(checkpointOf(half), target, 'backbone');
  assert.ok([...tensors].every(([k, t]) => t.dtype === (target.get(k) as TargetEntry).dtype));
  assert.equal(report.converted.length, 100);
  assert.deepEqual(report.converted[0], { key: 'conv1.weight', from: 'F64' });
  assert.match(formatPretrainedReport(report), /converted 100 F64\/F16 tensors to F32: conv1\.weight/);
});

// ---- class names --------------------------------------------------------------------------------------------------

test('class names from mmdetection 2.x meta.CLASSES and 3.x meta.dataset_meta.classes', () => {
  assert.deepEqual(checkpointClassNames({ CLASSES: ['cat', 'dog'], mmdet_version: '2.25.0' }), ['cat', 'dog']);
  assert.deepEqual(checkpointClassNames({ dataset_meta: { classes: ['person'], palette: [[1, 2, 3]] } }), ['person']);
  // the top-level entries beside the state dict, as readPthStateDict returns them
  assert.deepEqual(checkpointClassNames({ meta: { CLASSES: ['a', 'b'] }, optimizer: {} }), ['a', 'b']);
  assert.deepEqual(checkpointClassNames({ meta: { dataset_meta: { classes: ['c'] } } }), ['c']);
  assert.equal(checkpointClassNames(null), null);
  assert.equal(checkpointClassNames({}), null);
  assert.equal(checkpointClassNames({ CLASSES: [1, 2] }), null);
  assert.equal(checkpointClassNames({ CLASSES: [] }), null);
  assert.equal(checkpointClassNames({ dataset_meta: null }), null);
});

// ---- loading ------------------------------------------------------------------------------------------------------

test('loadPretrained: a torchvision-named safetensors file into a detector backbone, values and report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-pretrained-'));
  try {
    const src = new ResNet({ depth: 18 });
    const raws = new Map<string, RawTensor>();
    for (const [k, t] of src.stateDict()) {
      if (k.endsWith('num_batches_tracked')) continue;
      const data = new Float32Array(t.numel).map((_, i) => Math.sin(i + k.length));
      raws.set(k, { dtype: 'F32', shape: t.shape, data: new Uint8Array(data.buffer) });
    }
    src.dispose();
    raws.set('fc.weight', { dtype: 'F32', shape: [2, 512], data: new Uint8Array(4096) });
    raws.set('fc.bias', { dtype: 'F32', shape: [2], data: new Uint8Array(8) });
    const path = join(dir, 'r18.safetensors');
    saveSafetensorsRaw(path, raws);

    const det = new Detector(tinyConfig());
    const before = det.stateDict().get('neck.lateral_convs.0.conv.weight')?.toArray();
    const report = loadPretrained(path, det, { part: 'backbone' });
    assert.equal(report.part, 'backbone');
    assert.equal(report.classes, null);
    assert.equal(report.mapped.length, 100);
    assert.equal(report.missing.length, 20);
    const sd = det.stateDict();
    const got = sd.get('backbone.layer2.0.downsample.0.weight')?.toArray() as ArrayLike<number>;
    const want = new Float32Array(raws.get('layer2.0.downsample.0.weight')!.data.buffer);
    assert.deepEqual(Array.from(got), Array.from(want));
    assert.deepEqual(sd.get('neck.lateral_convs.0.conv.weight')?.toArray(), before, 'the neck is untouched');
    assert.throws(() => loadPretrained(path, det, { part: 'detector' }), /r18\.safetensors: .*part 'backbone'/);
    det.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadPretrained: an mmdetection 3.x-style .pth (F64 neck, dataset_meta.classes) into a whole detector', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-pretrained-'));
  try {
    const src = new Detector(tinyConfig(2));
    const raws = new Map<string, RawTensor>();
    for (const [k, t] of src.stateDict()) {
      const raw = tensorToRaw(t);
      if (!k.startsWith('neck.')) raws.set(k, raw);
      else {
        const f64 = Float64Array.from(new Float32Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength / 4));
        raws.set(k, { dtype: 'F64', shape: raw.shape, data: new Uint8Array(f64.buffer) });
      }
    }
    const path = join(dir, 'det.pth');
    writePth(path, raws, { meta: { dataset_meta: { classes: ['cat', 'dog'] }, mmdet_version: '3.3.0' } });

    const det = new Detector(tinyConfig(2));
    const report = loadPretrained(path, det, { part: 'detector' });
    assert.deepEqual(report.classes, ['cat', 'dog']);
    assert.equal(report.mapped.length, det.stateDict().size);
    assert.ok(report.converted.length > 0 && report.converted.every((c) => c.key.startsWith('neck.') && c.from === 'F64'));
    const a = src.stateDict();
    const b = det.stateDict();
    for (const k of ['neck.fpn_convs.4.conv.weight', 'bbox_head.atss_cls.bias', 'bbox_head.scales.2.scale']) {
      assert.deepEqual(b.get(k)?.toArray(), a.get(k)?.toArray(), k);
    }
    // the wrong class count: the message names the file, the key and both shapes
    const three = new Detector(tinyConfig(3));
    assert.throws(
      () => loadPretrained(path, three, { part: 'detector' }),
      /det\.pth: bbox_head\.atss_cls\.weight: checkpoint \[2, 32, 3, 3\] vs model \[3, 32, 3, 3\] — the checkpoint's head has 2 class outputs, the model's 3/,
    );
    for (const m of [src, det, three]) m.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
