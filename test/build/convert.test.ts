// PyTorch checkpoints where users put them: `ladet convert` both ways (names, values, class names and the source's
// sha256 survive; with Debian's PyTorch present, torch.load opens what ladet writes and an mmdetection-named PAA-R50
// and a torchvision ResNet-18 classifier load it with strict=True), `weights=FILE.pth` wherever ladet reads weights,
// and `model.backbone.init` (torchvision names into the backbone; errors name the key and the file).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertWeights } from '../../src/build/convert.js';
import { isPthFile } from '../../src/build/pth_checkpoint.js';
import { loadWeights, readCheckpoint, readCheckpointHeader } from '../../src/build/checkpoint.js';
import { buildDetector } from '../../src/build/model.js';
import { parseConfig } from '../../src/config/schema.js';
import {
  loadSafetensorsRaw,
  readPthStateDict,
  saveSafetensors,
  tensorToRaw,
  writePth,
  type RawTensor,
} from '../../src/io/index.js';
import { Detector, ResNet, paaR50FpnConfig } from '../../src/models/index.js';
import { Linear } from '../../src/nn/index.js';
import { dispose, manualSeed, type Tensor } from '../../src/torch/index.js';
import { runConvert } from '../../src/cli/commands/convert.js';

const PYTHON = '/usr/bin/python3';
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'models');
const torchSkip = ((): string | false => {
  const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  return r.status === 0 ? false : `${PYTHON} cannot import torch and torchvision (install python3-torch python3-torchvision)`;
})();

const dir = mkdtempSync(join(tmpdir(), 'ladet-convert-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const tinyModel = {
  backbone: { depth: 18 as const, widthMultiplier: 0.125 },
  neck: { outChannels: 16, numOuts: 3 },
  head: { featChannels: 16, stackedConvs: 1, gnGroups: 4 },
  anchors: { strides: [8, 16, 32] },
};
const config = (model: Record<string, unknown> = tinyModel) =>
  parseConfig({ name: 't', data: { root: join(dir, 'no-data') }, model }, 'convert.yaml');

const sameTensors = (a: ReadonlyMap<string, RawTensor>, b: ReadonlyMap<string, RawTensor>, msg: string) => {
  assert.deepEqual([...a.keys()], [...b.keys()], msg);
  for (const [k, t] of a) {
    const u = b.get(k)!;
    assert.equal(u.dtype, t.dtype, `${msg}: ${k}`);
    assert.deepEqual([...u.shape], [...t.shape], `${msg}: ${k}`);
    assert.ok(Buffer.from(u.data).equals(Buffer.from(t.data)), `${msg}: ${k} bytes`);
  }
};

function savedDetector(path: string, model: Detector, classes: string[]): void {
  const info = { classes: classes.map((name, i) => ({ id: i + 1, name })) };
  saveSafetensors(path, model.stateDict(), {
    ladet: JSON.stringify({ format: 'ladet-checkpoint', version: 1, kind: 'weights', info }),
  });
}

test('convert: safetensors -> .pth -> safetensors keeps names, values and class names, and records the source', async () => {
  manualSeed(1);
  const det = buildDetector(config().model, 3);
  const st = join(dir, 'det.safetensors');
  savedDetector(st, det, ['shirt', 'shoe', 'bag']);
  det.dispose();
  const lines: string[] = [];
  await runConvert([st, join(dir, 'det.pth')], (l) => lines.push(l));
  assert.match(lines[0]!, /det\.pth .*safetensors->pth\): \d+ tensors, detector state dict/);
  const pth = readPthStateDict(join(dir, 'det.pth'));
  assert.equal(pth.container, 'state_dict');
  assert.deepEqual((pth.meta?.meta as { CLASSES: string[] }).CLASSES, ['shirt', 'shoe', 'bag']);
  sameTensors(pth.tensors, loadSafetensorsRaw(st).tensors, 'safetensors -> pth');

  await runConvert([join(dir, 'det.pth'), join(dir, 'back.safetensors')], () => {});
  sameTensors(loadSafetensorsRaw(join(dir, 'back.safetensors')).tensors, pth.tensors, 'pth -> safetensors');
  const { meta } = readCheckpointHeader(join(dir, 'back.safetensors'));
  const source = meta?.info?.source as { sha256: string; file: string; format: string };
  assert.equal(source.sha256, createHash('sha256').update(readFileSync(join(dir, 'det.pth'))).digest('hex'));
  assert.deepEqual([source.file, source.format], ['det.pth', 'pth']);
  assert.deepEqual(meta?.info?.classes, ['shirt', 'shoe', 'bag']);

  // OUT never replaces IN, and the extension must say the format convert writes
  await assert.rejects(runConvert([st, st]), /refus|input/i);
  await assert.rejects(runConvert([st, join(dir, 'x.safetensors')]), /OUT is a \.pth file/);
  await assert.rejects(runConvert([join(dir, 'nope.pth'), join(dir, 'x.safetensors')]), /nope\.pth not found/);
});

test('convert: part=backbone gives torchvision names; a CoLAD checkpoint needs net=; optimizer state is dropped', () => {
  manualSeed(2);
  const det = buildDetector(config().model, 2);
  const tensors = new Map<string, Tensor>();
  for (const [k, t] of det.stateDict()) tensors.set(`net1.${k}`, t);
  for (const [k, t] of det.stateDict()) tensors.set(`net2.${k}`, t);
  const extra = det.stateDict().get('bbox_head.atss_cls.bias')!.clone();
  tensors.set('optimizer.momentum_buffer.0', extra);
  saveSafetensors(join(dir, 'colad.safetensors'), tensors);
  extra.dispose();
  assert.throws(() => convertWeights(join(dir, 'colad.safetensors')), /CoLAD checkpoint .* net=1\|2/);
  const c = convertWeights(join(dir, 'colad.safetensors'), { net: 2, part: 'backbone' });
  writeFileSync(join(dir, 'bb.pth'), c.bytes);
  const bb = readPthStateDict(join(dir, 'bb.pth'));
  assert.equal(bb.container, '', 'a backbone goes out as a bare state dict');
  const want = [...det.backbone.stateDict().keys()];
  assert.deepEqual([...bb.tensors.keys()].sort(), [...want].sort());
  assert.ok(want.includes('layer1.0.conv1.weight') && want.includes('bn1.running_var'));
  const whys = new Set(c.dropped.map((d) => d.why));
  assert.ok(whys.has('optimizer state, not weights') && whys.has('the other CoLAD network'), [...whys].join('; '));
  det.dispose();
});

test('weights=FILE.pth: an mmdetection-style checkpoint loads as ladet weights (module. stripped, F16 widened)', () => {
  manualSeed(3);
  const det = buildDetector(config().model, 3);
  const raw = new Map<string, RawTensor>();
  for (const [k, t] of det.stateDict()) {
    const half = t.dtype === 'float32' && k.startsWith('neck.');
    const src = half ? t.to('float16') : t;
    raw.set(`module.${k}`, tensorToRaw(src));
    if (half) src.dispose();
  }
  raw.set('teacher_model.backbone.conv1.weight', raw.get('module.backbone.conv1.weight')!);
  writePth(join(dir, 'mmdet.pth'), raw, { meta: { CLASSES: ['a', 'b', 'c'], mmdet_version: '2.25.0' } });
  const other = buildDetector(config().model, 3);
  const meta = loadWeights(join(dir, 'mmdet.pth'), other, true);
  assert.deepEqual(meta?.info?.classes, ['a', 'b', 'c']);
  for (const [k, t] of det.stateDict()) {
    const u = other.stateDict().get(k)!;
    const tol = k.startsWith('neck.') && t.dtype === 'float32' ? 1e-3 : 0;
    assert.ok(t.sub(u).abs().max().item() <= tol * Math.max(1, t.abs().max().item()), k);
  }
  const ck = readCheckpoint(join(dir, 'mmdet.pth'));
  assert.equal(ck.model.has('teacher_model.backbone.conv1.weight'), false);
  dispose([...ck.model.values()]);
  // a backbone-only .pth is not a detector: the message points to model.backbone.init
  writePth(join(dir, 'tv.pth'), new Map([['conv1.weight', raw.get('module.backbone.conv1.weight')!], ['fc.weight', raw.get('module.backbone.conv1.weight')!]]));
  assert.throws(() => loadWeights(join(dir, 'tv.pth'), other), /tv\.pth: a torchvision ResNet .* not a detector; initialise a backbone with model\.backbone\.init/);
  det.dispose();
  other.dispose();
});

test('model.backbone.init: torchvision names load into the backbone at a start; errors name the key and the file', () => {
  manualSeed(4);
  const bb = new ResNet({ depth: 18, widthMultiplier: 0.125 });
  const fc = new Linear(64, 10);
  const raw = new Map<string, RawTensor>();
  const put = (k: string, t: Tensor) => raw.set(k, tensorToRaw(t));
  for (const [k, t] of bb.stateDict()) put(k, t.dtype === 'float32' ? t.add(0.5) : t);
  for (const [k, t] of fc.stateDict()) put(`fc.${k}`, t);
  writePth(join(dir, 'imagenet.pth'), raw);
  const c = config({ ...tinyModel, backbone: { ...tinyModel.backbone, init: join(dir, 'imagenet.pth') } });
  let report = '';
  const det = buildDetector(c.model, 3, { init: true, onInit: (r) => (report = `${r.mapped.length} ${r.dropped.map((d) => d.key).join(',')}`) });
  for (const [k, t] of bb.stateDict()) {
    const want = t.dtype === 'float32' ? t.add(0.5) : t;
    assert.ok(det.backbone.stateDict().get(k)!.equal(want), k);
  }
  assert.equal(report, `${bb.stateDict().size} fc.weight,fc.bias`);
  // without init (loading a run's weights next), nothing is read
  const plain = buildDetector({ ...c.model, backbone: { ...c.model.backbone, init: join(dir, 'gone.pth') } }, 3);
  plain.dispose();
  assert.throws(
    () => buildDetector({ ...c.model, backbone: { ...c.model.backbone, init: join(dir, 'gone.pth') } }, 3, { init: true }),
    /^Error: model\.backbone\.init: .*gone\.pth not found/,
  );
  const wide = config({ ...tinyModel, backbone: { depth: 18, widthMultiplier: 0.25, init: join(dir, 'imagenet.pth') } });
  assert.throws(() => buildDetector(wide.model, 3, { init: true }), /model\.backbone\.init: .*imagenet\.pth: conv1\.weight: checkpoint \[8, 3, 7, 7\] vs model \[16, 3, 7, 7\]/);
  assert.ok(!('init' in buildDetector(config().model, 3).config.backbone), 'init is not a ResNet option');
  det.dispose();
  bb.dispose();
  fc.dispose();
});

test('torch.load reads what convert writes: strict load into an mmdetection-named PAA-R50 and a torchvision ResNet-18', { skip: torchSkip }, () => {
  manualSeed(5);
  const det = new Detector(paaR50FpnConfig(20));
  savedDetector(join(dir, 'r50.safetensors'), det, Array.from({ length: 20 }, (_, i) => `c${i}`));
  writeFileSync(join(dir, 'r50.pth'), convertWeights(join(dir, 'r50.safetensors')).bytes);
  const sum = (m: { stateDict(): Map<string, Tensor> }) =>
    [...m.stateDict().values()].filter((t) => t.dtype === 'float32').reduce((s, t) => s + t.double().sum().item(), 0);
  const detSum = sum(det);
  det.dispose();
  const bb = new ResNet({ depth: 18 });
  const fc = new Linear(512, 10);
  const tensors = new Map<string, Tensor>([...bb.stateDict(), ...[...fc.stateDict()].map(([k, t]) => [`fc.${k}`, t] as const)]);
  saveSafetensors(join(dir, 'cls.safetensors'), tensors);
  writeFileSync(join(dir, 'cls.pth'), convertWeights(join(dir, 'cls.safetensors')).bytes);
  const clsSum = [...tensors.values()].filter((t) => t.dtype === 'float32').reduce((s, t) => s + t.double().sum().item(), 0);
  bb.dispose();
  fc.dispose();
  const py = `
import json, sys, torch, torchvision
sys.path.insert(0, ${JSON.stringify(FIXTURES)})
import torch_pretrained as tp
bb = torchvision.models.resnet50(); del bb.fc
m = tp.PAADetector(bb, 20)
ck = torch.load(${JSON.stringify(join(dir, 'r50.pth'))})
m.load_state_dict(ck['state_dict'], strict=True)
r18 = torchvision.models.resnet18(num_classes=10)
sd = torch.load(${JSON.stringify(join(dir, 'cls.pth'))})
r18.load_state_dict(sd, strict=True)
fsum = lambda sd: sum(float(v.double().sum()) for v in sd.values() if v.dtype == torch.float32)
print(json.dumps({'classes': list(ck['meta']['CLASSES']), 'det': fsum(m.state_dict()), 'cls': fsum(r18.state_dict())}))
`;
  const r = spawnSync(PYTHON, ['-c', py], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout.trim().split('\n').pop()!) as { classes: string[]; det: number; cls: number };
  assert.deepEqual(got.classes, Array.from({ length: 20 }, (_, i) => `c${i}`));
  assert.ok(Math.abs(got.det - detSum) <= 1e-6 * Math.max(1, Math.abs(detSum)), `${got.det} vs ${detSum}`);
  assert.ok(Math.abs(got.cls - clsSum) <= 1e-6 * Math.max(1, Math.abs(clsSum)), `${got.cls} vs ${clsSum}`);
  assert.ok(existsSync(join(dir, 'r50.pth')));
});

test('isPthFile: a zip or the legacy magic number; a safetensors file whose header length looks like a pickle is not', () => {
  const f = (name: string, bytes: number[]) => {
    const p = join(dir, name);
    writeFileSync(p, Uint8Array.from(bytes));
    return isPthFile(p);
  };
  // header length 0x0280 = 640: starts 0x80 0x02 like a protocol-2 pickle (found by the safetensors fuzz target)
  assert.equal(f('st.safetensors', [0x80, 0x02, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]), false);
  assert.equal(f('st2.safetensors', [0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0x7b, 0x7d]), false);
  assert.equal(f('zip.pth', [0x50, 0x4b, 0x03, 0x04, 0x0a, 0, 0, 0, 0, 0]), true);
  assert.equal(f('legacy.pth', [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]), true);
  assert.equal(f('short', [0x80]), false);
  assert.equal(isPthFile(join(dir, 'det.pth')), true, 'what writePth wrote');
});
