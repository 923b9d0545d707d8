// The full-size preset (configs/paa_r50_fpn_1x_coco.yaml) must build with mmdetection's PAA-R50 numbers and train
// at COCO's 1333x800 scale: two real iterations of what the trainer does (forward, PAA assignment with the GMM,
// losses, backward, SGD), batch 1 to keep CI time down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/schema.js';
import { buildDetector, buildAnchorGenerator } from '../../src/build/model.js';
import { AnchorCache } from '../../src/assign/targets.js';
import { buildStrategy } from '../../src/build/strategy.js';
import { buildOptimizer, trainStep } from '../../src/engine/train_step.js';
import { manualSeed, memory, noGrad, randn, tidy } from '../../src/torch/index.js';
import type { ImageMeta } from '../../src/data/transforms.js';
import type { SampleTargets } from '../../src/data/batch.js';

const PRESET = fileURLToPath(new URL('../../../configs/paa_r50_fpn_1x_coco.yaml', import.meta.url));

/** mmdetection's PAA-R50-FPN with 80 classes (verified against an independent torch.nn build). */
const PAA_R50_PARAMS = 32_295_322;
// frozen_stages=1 freezes the stem and layer1, counted by hand:
//   stem: conv1 3·64·7·7 = 9408, bn1 2·64 = 128
//   layer1.0: 64·64 + 64·64·9 + 64·256 + 64·256 (downsample) convs = 73728, BNs 2·(64+64+256+256) = 1280
//   layer1.1 and layer1.2: 256·64 + 64·64·9 + 64·256 = 69632 convs, BNs 2·(64+64+256) = 768, each
const FROZEN = 9408 + 128 + (73728 + 1280) + 2 * (69632 + 768);

test('full-size PAA-R50-FPN preset: 32,295,322 parameters, two training steps at 1333x800', () => {
  const config = loadConfig(PRESET);
  assert.deepEqual(
    [
      config.data.trainScales,
      config.data.batchSize,
      config.model.backbone.frozenStages,
      config.model.backbone.normEval,
    ],
    [[[1333, 800]], 2, 1, true],
  );
  manualSeed(0);
  const det = buildDetector(config.model, 80);
  assert.equal(det.numParameters(), PAA_R50_PARAMS);
  assert.equal(det.numParameters(true), PAA_R50_PARAMS - FROZEN);

  // A 1333x800 image after the size-32 padding of the pipeline; four GT boxes of COCO-like sizes.
  const [h, w] = [800, 1344];
  const meta: ImageMeta = {
    imageId: 1,
    file: 'synthetic.jpg',
    oriShape: [800, 1333],
    imgShape: [800, 1333],
    padShape: [h, w],
    scaleFactor: [1, 1, 1, 1],
    flip: false,
  };
  const targets: SampleTargets[] = [
    {
      boxes: Float32Array.from([100, 120, 420, 560, 700, 300, 760, 350, 900, 50, 1300, 780, 20, 600, 180, 700]),
      labels: Int32Array.from([0, 17, 56, 79]),
    },
  ];
  const anchors = new AnchorCache(buildAnchorGenerator(config.model));
  // the trainer's own PAA strategy and SGD, from the preset (the det benchmark drives the same step)
  const { strategy } = buildStrategy(config, () => det, 80, anchors);
  const opt = buildOptimizer(config, det);
  const images = randn([1, 3, h, w]);
  // the module's own tensors (not copies)
  const frozen = det.backbone.stateDict().get('layer1.0.conv1.weight')!;
  const trained = det.head.atssCls.weight;
  const frozenBefore = frozen.clone();
  const trainedBefore = trained.clone();

  det.train();
  const logs: Record<string, number>[] = [];
  let liveAfterFirst = 0;
  for (let step = 0; step < 2; step++) {
    logs.push(trainStep(strategy, opt, { images, targets, metas: [meta] }, config.optimizer.gradClip).logs);
    if (step === 0) liveAfterFirst = memory().numTensors;
  }
  assert.equal(memory().numTensors, liveAfterFirst, 'live tensors grow between training steps');

  for (const [i, l] of logs.entries()) {
    for (const k of ['loss_cls', 'loss_bbox', 'loss_iou'])
      assert.ok(Number.isFinite(l[k]) && (l[k] as number) > 0, `step ${i + 1}: ${k} = ${l[k]}`);
    // 4 GTs x 5 levels x top-9 candidates bound the positives; a fresh network finds some for every GT
    assert.ok(
      (l.num_pos as number) >= 4 && (l.num_pos as number) <= 4 * 5 * 9,
      `step ${i + 1}: ${l.num_pos} positives`,
    );
  }
  // Focal loss at the 0.01 class prior: each positive costs about 0.25·0.99²·ln(100) ≈ 1.13, the ~1.8M negative
  // (anchor, class) pairs about 0.75·0.01²·0.01 each (≈ 1.35 in all), over numPos.
  const expectCls = 1.13 + 1.35 / (logs[0]!.num_pos as number);
  assert.ok(
    Math.abs((logs[0]!.loss_cls as number) - expectCls) < 0.25 * expectCls,
    `step 1 loss_cls ${logs[0]!.loss_cls} vs about ${expectCls}`,
  );
  // The SGD step changed the network, so the second step's losses differ.
  for (const k of ['loss_cls', 'loss_bbox', 'loss_iou'])
    assert.notEqual(logs[1]![k], logs[0]![k], `${k} did not change`);
  noGrad(() =>
    tidy(() => {
      assert.ok(trained.sub(trainedBefore).abs().max().item() > 0, 'the head was not updated');
      assert.equal(frozen.sub(frozenBefore).abs().max().item(), 0, 'frozen layer1 changed');
    }),
  );

  for (const t of [images, frozenBefore, trainedBefore]) t.dispose();
  opt.disposeState();
  strategy.dispose();
  anchors.dispose();
  det.dispose();
});
