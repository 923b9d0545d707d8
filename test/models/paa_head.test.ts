import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PAAHead, flattenHeadOutputs, levelSizes, type HeadOutputs } from '../../src/models/index.js';
import { arange, dispose, manualSeed, noGrad, randn } from '../../src/torch/index.js';

test('PAA head: mmcv ConvModule names, output shapes per level, learnable 0-d scales', () => {
  const head = new PAAHead({
    numClasses: 5,
    inChannels: 16,
    featChannels: 32,
    stackedConvs: 2,
    gnGroups: 8,
    numLevels: 3,
  });
  const sd = head.stateDict();
  assert.deepEqual(
    [...sd.keys()],
    [
      'cls_convs.0.conv.weight',
      'cls_convs.0.gn.weight',
      'cls_convs.0.gn.bias',
      'cls_convs.1.conv.weight',
      'cls_convs.1.gn.weight',
      'cls_convs.1.gn.bias',
      'reg_convs.0.conv.weight',
      'reg_convs.0.gn.weight',
      'reg_convs.0.gn.bias',
      'reg_convs.1.conv.weight',
      'reg_convs.1.gn.weight',
      'reg_convs.1.gn.bias',
      'atss_cls.weight',
      'atss_cls.bias',
      'atss_reg.weight',
      'atss_reg.bias',
      'atss_centerness.weight',
      'atss_centerness.bias',
      'scales.0.scale',
      'scales.1.scale',
      'scales.2.scale',
    ],
  );
  assert.deepEqual(sd.get('cls_convs.0.conv.weight')!.shape, [32, 16, 3, 3]);
  assert.deepEqual(sd.get('atss_cls.weight')!.shape, [5, 32, 3, 3]);
  assert.deepEqual(sd.get('scales.1.scale')!.shape, []);
  const feats = [randn([2, 16, 8, 10]), randn([2, 16, 4, 5]), randn([2, 16, 2, 3])];
  const out = noGrad(() => head.forward(feats));
  assert.equal(out.clsKind, 'logits');
  assert.deepEqual(
    out.cls.map((t) => t.shape),
    [
      [2, 5, 8, 10],
      [2, 5, 4, 5],
      [2, 5, 2, 3],
    ],
  );
  assert.deepEqual(
    out.reg.map((t) => t.shape),
    [
      [2, 4, 8, 10],
      [2, 4, 4, 5],
      [2, 4, 2, 3],
    ],
  );
  assert.deepEqual(
    out.iou!.map((t) => t.shape),
    [
      [2, 1, 8, 10],
      [2, 1, 4, 5],
      [2, 1, 2, 3],
    ],
  );
  assert.deepEqual(levelSizes(out), [
    [8, 10],
    [4, 5],
    [2, 3],
  ]);
  // the per-level scale multiplies the box deltas of its level only
  noGrad(() => sd.get('scales.1.scale')!.fill_(3));
  const out3 = noGrad(() => head.forward(feats));
  assert.ok(out3.reg[1]!.allclose(out.reg[1]!.mul(3), 1e-5, 1e-6));
  assert.ok(out3.reg[0]!.equal(out.reg[0]!));
  assert.ok(out3.cls[1]!.equal(out.cls[1]!) && out3.iou![1]!.equal(out.iou![1]!));
  dispose([out, out3, feats]);
  head.dispose();
});

test('PAA head init: convs N(0, 0.01) with zero bias, cls bias -log((1-p)/p), GroupNorm ones/zeros', () => {
  manualSeed(5);
  const head = new PAAHead({ numClasses: 80, inChannels: 256 });
  const sd = head.stateDict();
  for (const k of ['cls_convs.3.conv.weight', 'reg_convs.0.conv.weight', 'atss_cls.weight']) {
    const w = sd.get(k)!;
    assert.ok(Math.abs(w.std().item() / 0.01 - 1) < 0.02, `${k} std ${w.std().item()}`);
    assert.ok(Math.abs(w.mean().item()) < 2e-4, k);
  }
  assert.ok(sd.get('atss_cls.bias')!.allclose(sd.get('atss_cls.bias')!.mul(0).add(-Math.log(99)), 0, 1e-6));
  for (const k of ['atss_reg.bias', 'atss_centerness.bias', 'cls_convs.0.gn.bias'])
    assert.equal(sd.get(k)!.abs().sum().item(), 0, k);
  assert.equal(sd.get('reg_convs.2.gn.weight')!.mean().item(), 1);
  assert.equal(sd.get('scales.4.scale')!.item(), 1);
  assert.ok(!sd.has('cls_convs.0.conv.bias'), 'tower convs have no bias (a norm follows)');
  // 4 x 2 towers x (256*256*9 + 2*256) + cls (256*80*9 + 80) + reg (256*4*9 + 4) + iou (256*9 + 1) + 5 scales
  assert.equal(head.numParameters(), 8 * (589_824 + 512) + 184_400 + 9_220 + 2_305 + 5);
  head.dispose();
});

test('flattenHeadOutputs: levels concatenated, (y, x) row-major, anchors of a location adjacent', () => {
  // Values encode their origin: cls[b, c, y, x] of level l = 1000 l + 100 b + 10 c + (y * W + x)
  const level = (l: number, b: number, k: number, h: number, w: number) =>
    arange(0, b * k * h * w, 1, { dtype: 'float32' })
      .reshape([b, k, h, w])
      .mul(0)
      .add(
        arange(0, b, 1, { dtype: 'float32' })
          .reshape([b, 1, 1, 1])
          .mul(100)
          .add(arange(0, k, 1, { dtype: 'float32' }).reshape([1, k, 1, 1]).mul(10))
          .add(arange(0, h * w, 1, { dtype: 'float32' }).reshape([1, 1, h, w]))
          .add(1000 * l),
      );
  const o: HeadOutputs = {
    cls: [level(0, 2, 3, 2, 3), level(1, 2, 3, 1, 2)],
    reg: [level(0, 2, 4, 2, 3), level(1, 2, 4, 1, 2)],
    iou: [level(0, 2, 1, 2, 3), level(1, 2, 1, 1, 2)],
    clsKind: 'logits',
  };
  const f = flattenHeadOutputs(o, 3);
  assert.deepEqual(f.cls.shape, [2, 8, 3]);
  assert.deepEqual(f.reg.shape, [2, 8, 4]);
  assert.deepEqual(f.iou!.shape, [2, 8]);
  // image 1, anchor 4 = level 0 location (y=1, x=1), class 2
  assert.equal(f.cls.select(0, 1).select(0, 4).select(0, 2).item(), 100 + 20 + 4);
  // image 0, anchor 7 = level 1 location (y=0, x=1)
  assert.deepEqual(f.reg.select(0, 0).select(0, 7).toArray(), [1001, 1011, 1021, 1031]);
  assert.deepEqual(f.iou!.select(0, 1).toArray(), [100, 101, 102, 103, 104, 105, 1100, 1101]);
  dispose([o, f]);

  // Two anchors per location: channels are anchor-major (a*C + c), rows location-major then anchor.
  const two: HeadOutputs = {
    cls: [level(0, 1, 4, 1, 2)],
    reg: [level(0, 1, 8, 1, 2)],
    iou: [level(0, 1, 2, 1, 2)],
    clsKind: 'logits',
  };
  const g = flattenHeadOutputs(two, 2);
  assert.deepEqual(g.cls.reshape([-1]).toArray(), [0, 10, 20, 30, 1, 11, 21, 31]);
  assert.deepEqual(g.iou!.toArray(), [[0, 10, 1, 11]].flat());
  dispose([two, g]);
});

test('PAA head rejects bad shapes with clear messages', () => {
  assert.throws(() => new PAAHead({ numClasses: 3, inChannels: 8, featChannels: 20, gnGroups: 32 }), {
    message: 'PAAHead: gnGroups 32 must divide featChannels 20',
  });
  assert.throws(() => new PAAHead({ numClasses: 0, inChannels: 8 }), {
    message: 'PAAHead: numClasses must be a positive whole number (got 0)',
  });
  const head = new PAAHead({ numClasses: 3, inChannels: 8, featChannels: 8, gnGroups: 4, stackedConvs: 1 });
  assert.throws(() => head.forward([randn([1, 8, 4, 4])]), { message: 'PAAHead: expected 5 feature maps, got 1' });
  head.dispose();
});
