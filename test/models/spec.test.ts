// The model description (src/models/spec.ts) and the backbone seam: the detector is built from a plain-data spec it
// exposes, ResNet is built from its resolved spec (the block table defined once, torch-free), the registry maps a
// backbone type to its constructor, and the config's optional `model.backbone.type` changes nothing when absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  BACKBONES,
  BACKBONE_SCHEMAS,
  COPHead,
  FPN,
  HEADS,
  HEAD_TYPES,
  IOPHead,
  NECKS,
  PAAHead,
  createHead,
  createNeck,
  Detector,
  RESNET_ARCH,
  ResNet,
  createBackbone,
  paaR50FpnConfig,
  pyramidStrides,
  resnetStageBlocks,
  resolveResNetSpec,
  type DetectorConfig,
  type ResNetDepth,
} from '../../src/models/index.js';
import { configHash, parseConfig } from '../../src/config/schema.js';
import { buildDetector, detectorConfig } from '../../src/build/model.js';
import { manualSeed } from '../../src/torch/index.js';

test('detector.spec: the resolved PAA-R50-FPN as plain data (JSON round trip), the pyramid strides from it', () => {
  const det = new Detector(paaR50FpnConfig());
  const spec = det.spec;
  assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec);
  assert.deepEqual(spec, {
    backbone: {
      type: 'resnet',
      depth: 50,
      inChannels: 3,
      baseChannels: 64,
      bottleneck: true,
      blocks: [3, 4, 6, 3],
      outIndices: [0, 1, 2, 3],
      stageChannels: [256, 512, 1024, 2048],
      outChannels: [256, 512, 1024, 2048],
      outStrides: [4, 8, 16, 32],
    },
    neck: {
      type: 'fpn',
      outChannels: 256,
      startLevel: 1,
      numOuts: 5,
      addExtraConvs: 'on_output',
      reluBeforeExtraConvs: false,
    },
    head: { type: 'paa', numClasses: 80, featChannels: 256, stackedConvs: 4, gnGroups: 32, iouBranch: true },
  });
  assert.equal(det.backbone.spec, spec.backbone);
  assert.deepEqual(det.backbone.outChannels, spec.backbone.outChannels);
  assert.deepEqual(det.strides, pyramidStrides(spec));
  assert.deepEqual(det.strides, [8, 16, 32, 64, 128]);
  det.dispose();
});

test('head spec: defaults filled, coeffKernelSize recorded for COP heads only', () => {
  const base = { backbone: { depth: 18 as const, widthMultiplier: 0.125 }, neck: { outChannels: 8, numOuts: 4 } };
  const head = (h: DetectorConfig['head']) => {
    const det = new Detector({ ...base, head: h });
    const s = det.spec.head;
    det.dispose();
    return s;
  };
  assert.deepEqual(head({ numClasses: 2, featChannels: 8, gnGroups: 4 }), {
    type: 'paa',
    numClasses: 2,
    featChannels: 8,
    stackedConvs: 4,
    gnGroups: 4,
    iouBranch: true,
  });
  assert.deepEqual(head({ numClasses: 2, featChannels: 8, gnGroups: 4, type: 'cop', iouBranch: false }), {
    type: 'cop',
    numClasses: 2,
    featChannels: 8,
    stackedConvs: 4,
    gnGroups: 4,
    iouBranch: false,
    coeffKernelSize: 3,
  });
  assert.deepEqual(
    head({ numClasses: 2, featChannels: 8, gnGroups: 4, type: 'iop', coeffKernelSize: 5 }).coeffKernelSize,
    undefined,
  );
});

test('ResNet is built from its resolved spec: the block table, widths and blocks of resnet_spec.ts, every depth', () => {
  for (const depth of [18, 34, 50, 101] as ResNetDepth[]) {
    const net = new ResNet({ depth, widthMultiplier: 0.125 });
    const spec = net.spec;
    assert.deepEqual(spec, resolveResNetSpec({ depth, widthMultiplier: 0.125 }));
    // a recorded spec resolves to itself (what ladet/runtime does with it)
    assert.deepEqual(resolveResNetSpec(spec), spec);
    assert.deepEqual(spec.blocks, RESNET_ARCH[depth].blocks);
    const sd = net.stateDict();
    spec.blocks.forEach((count, i) => {
      const blocks = resnetStageBlocks(spec, i);
      assert.equal(blocks.length, count);
      assert.ok(!sd.has(`layer${i + 1}.${count}.conv1.weight`), `layer${i + 1} has ${count} blocks`);
      blocks.forEach((b, j) => {
        const p = `layer${i + 1}.${j}`;
        assert.deepEqual(sd.get(`${p}.conv2.weight`)!.shape, [b.planes, b.planes, 3, 3], p);
        assert.deepEqual(sd.get(`${p}.conv1.weight`)!.shape[1], b.inChannels, p);
        assert.equal(sd.has(`${p}.downsample.0.weight`), b.downsample, p);
        if (b.downsample)
          assert.deepEqual(sd.get(`${p}.downsample.0.weight`)!.shape, [b.outChannels, b.inChannels, 1, 1], p);
      });
    });
    assert.deepEqual(net.stageChannels, spec.stageChannels);
    net.dispose();
  }
  assert.throws(() => resolveResNetSpec({ depth: 42 as 18 }), {
    message: 'ResNet: depth must be one of 18, 34, 50, 101 (got 42)',
  });
});

test('backbone registry: type -> constructor, absent type = resnet (the same seeded weights), unknown types named', () => {
  assert.deepEqual(Object.keys(BACKBONES), ['resnet']);
  const weights = (cfg: DetectorConfig['backbone']) => {
    manualSeed(3);
    const b = createBackbone(cfg);
    assert.ok(b instanceof ResNet);
    const out = [...b.stateDict()].map(([k, t]) => [k, [...t.toTypedArray()]]);
    b.dispose();
    return out;
  };
  assert.deepEqual(
    weights({ type: 'resnet', depth: 18, widthMultiplier: 0.125 }),
    weights({ depth: 18, widthMultiplier: 0.125 }),
  );
  assert.throws(() => createBackbone({ type: 'vgg' as 'resnet', depth: 18 }), {
    message: "unknown backbone type 'vgg' (registered: resnet)",
  });
});

test("config: model.backbone.type is optional ('resnet'), absent stays absent (config hashes unchanged)", () => {
  const raw = (backbone: Record<string, unknown>) => ({ name: 'x', data: { root: 'd' }, model: { backbone } });
  const plain = parseConfig(raw({ depth: 18, widthMultiplier: 0.125 }), 'a.yaml');
  assert.ok(!('type' in plain.model.backbone));
  const typed = parseConfig(raw({ type: 'resnet', depth: 18, widthMultiplier: 0.125 }), 'a.yaml');
  assert.equal(typed.model.backbone.type, 'resnet');
  assert.notEqual(configHash(typed), configHash(plain));
  assert.deepEqual(detectorConfig(typed.model, 3).backbone, {
    ...detectorConfig(plain.model, 3).backbone,
    type: 'resnet',
  });
  assert.throws(() => parseConfig(raw({ type: 'vgg', depth: 18 }), 'a.yaml'), /a\.yaml: model\.backbone\.type/);
  manualSeed(5);
  const a = buildDetector(typed.model, 3);
  manualSeed(5);
  const b = buildDetector(plain.model, 3);
  assert.deepEqual(a.spec, b.spec);
  for (const [k, t] of a.stateDict()) assert.ok(t.equal(b.stateDict().get(k)!), k);
  a.dispose();
  b.dispose();
});

test('head and neck registries: the config enum is the registry, the detector builds what they list', () => {
  assert.deepEqual(HEAD_TYPES, ['paa', 'cop', 'iop']);
  assert.equal(HEADS.cop, COPHead);
  assert.equal(NECKS.fpn, FPN);
  const o = { numClasses: 3, inChannels: 16, featChannels: 16, stackedConvs: 1, gnGroups: 4, numLevels: 2 };
  const kinds = (['paa', 'cop', 'iop'] as const).map((type) => {
    const h = createHead(type, o);
    const kind = [h.constructor, h.clsKind];
    h.dispose();
    return kind;
  });
  assert.deepEqual(kinds, [
    [PAAHead, 'logits'],
    [COPHead, 'probs'],
    [IOPHead, 'probs'],
  ]);
  assert.throws(() => createHead('rpn' as 'paa', o), {
    message: "unknown head type 'rpn' (registered: paa, cop, iop)",
  });
  const neck = createNeck(
    { type: 'fpn', outChannels: 8, startLevel: 1, numOuts: 3, addExtraConvs: 'on_output', reluBeforeExtraConvs: false },
    [4, 8, 16],
  );
  assert.ok(neck instanceof FPN);
  neck.dispose();
  // the config's head.type and model.backbone sections are made from the registries
  const raw = (model: Record<string, unknown>) => ({ name: 'x', data: { root: 'd' }, model });
  assert.throws(
    () => parseConfig(raw({ backbone: { depth: 18 }, head: { type: 'rpn' } }), 'a.yaml'),
    /a\.yaml: model\.head\.type.*'paa' \| 'cop' \| 'iop'|a\.yaml: model\.head\.type.*paa.*cop.*iop/,
  );
  assert.equal(BACKBONE_SCHEMAS.length, Object.keys(BACKBONES).length);
  assert.deepEqual(BACKBONE_SCHEMAS[0].parse({ depth: 18 }), {
    depth: 18,
    widthMultiplier: 1,
    frozenStages: -1,
    normEval: false,
    zeroInitResidual: true,
  });
});

test('the model description and the ResNet table are torch-free: their compiled files import nothing', () => {
  for (const f of ['../../src/models/spec.js', '../../src/models/backbones/resnet_spec.js']) {
    const js = readFileSync(fileURLToPath(new URL(f, import.meta.url)), 'utf8');
    assert.ok(
      !/^\s*(import|export)\s[^;]*?from\s/m.test(js) && !/\bimport\s*\(|\brequire\s*\(/.test(js),
      `${f} imports something`,
    );
  }
});
