import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualSeed, memory, noGrad, setNumThreads, tidy } from '../../src/torch/index.js';
import { parseConfig, type Config } from '../../src/config/schema.js';
import { buildAnchorGenerator, buildAssigner, buildDetector } from '../../src/build/model.js';
import { AnchorCache, assignTargets } from '../../src/assign/targets.js';
import { saveCheckpoint } from '../../src/build/checkpoint.js';
import { flattenHeadOutputs, type FlatHeadOutputs } from '../../src/models/heads/outputs.js';
import { disposeAssignment, type Assignment } from '../../src/assign/assignment.js';
import { candidateCosts, groupCandidates, gtSampleRows, preAssignCandidates } from '../../src/assign/index.js';
import { CoLADPair, CoLADStrategy } from '../../src/distill/colad.js';
import { buildColadPair, coladModel, loadColadNetwork, precheckColad } from '../../src/build/colad.js';
import { buildStrategy, precheckStrategy } from '../../src/build/strategy.js';
import { networkRho } from '../../src/distill/colad_switch.js';
import { SGD } from '../../src/optim/index.js';
import type { Detector } from '../../src/models/detector.js';
import { stepLogs, sumLosses, type StepInput } from '../../src/distill/strategy.js';

setNumThreads(1);

import { SIZES, batch, modelSection, sameAssignment } from './fixture.js';

function config(colad: Record<string, unknown> = {}, model: Record<string, unknown> = modelSection): Config {
  return parseConfig({ name: 't', data: { root: 'unused' }, model, distill: { strategy: 'colad', colad } });
}

function net(seed: number, model: Config['model'] = config().model): Detector {
  manualSeed(seed);
  return buildDetector(model, 3);
}

/** Both networks' flattened outputs on the batch (no grad) and the assignment inputs. */
function outputs(pair: CoLADPair, anchors: AnchorCache, input: StepInput) {
  const flat1 = noGrad(() => flattenHeadOutputs(pair.net1.forward(input.images), 3));
  const flat2 = noGrad(() => flattenHeadOutputs(pair.net2.forward(input.images), 3));
  const t = assignTargets(anchors, SIZES, input.targets, input.metas, 3);
  return { flat1, flat2, t };
}

function paaOn(flat: FlatHeadOutputs, anchors: AnchorCache, input: StepInput): Assignment {
  const t = assignTargets(anchors, SIZES, input.targets, input.metas, 3);
  return noGrad(() =>
    buildAssigner(config()).assign(t, { clsLogits: flat.cls, regDeltas: flat.reg, clsKind: flat.clsKind }),
  );
}

test("with two identical networks CoLAD's assignment is PAA's, for every switch rule and criterion", () => {
  const a = net(1);
  const b = net(2);
  b.loadStateDict(a.stateDict());
  const pair = new CoLADPair(a, b);
  const anchors = new AnchorCache(buildAnchorGenerator(config().model));
  const input = batch();
  tidy(() => {
    const { flat1, flat2, t } = outputs(pair, anchors, input);
    const paa = paaOn(flat1, anchors, input);
    for (const sw of ['local', 'network'] as const) {
      for (const criterion of ['stdmean', 'fisher'] as const) {
        const r = new CoLADStrategy(pair, buildAssigner(config()), anchors, { switch: sw, criterion }).assign(
          t,
          flat1,
          flat2,
        );
        sameAssignment(r.assignment, paa);
        // equal costs: every rho ties (network 2), single candidates keep network 1 (strictly lower cost needed)
        let multi = 0;
        for (const g of r.groups)
          for (let k = 0; k < g.numGt * g.numLevels; k++)
            if ((g.starts[k + 1] as number) - (g.starts[k] as number) >= 2) multi++;
        assert.equal(r.switch.stats.byNet2, sw === 'network' ? 1 : multi, `${sw}/${criterion}`);
        disposeAssignment(r.assignment);
      }
    }
    disposeAssignment(paa);
  });
  pair.dispose();
  anchors.dispose();
});

test("the network rule gives PAA's assignment on the outputs of the network with the larger batch rho", () => {
  const pair = new CoLADPair(net(1), net(3));
  const anchors = new AnchorCache(buildAnchorGenerator(config().model));
  const input = batch();
  tidy(() => {
    const { flat1, flat2, t } = outputs(pair, anchors, input);
    for (const criterion of ['stdmean', 'fisher'] as const) {
      // the batch rho of each network, recomputed from its own costs
      const { candidates } = preAssignCandidates(t);
      const groups = candidates.map((c) => groupCandidates(c, t.levelStarts));
      const rho = [flat1, flat2].map(
        (f) =>
          networkRho(
            gtSampleRows(candidates, groups, candidateCosts(t, candidates, { clsLogits: f.cls, regDeltas: f.reg }), 9),
            criterion,
          ).rho,
      );
      const r = new CoLADStrategy(pair, buildAssigner(config()), anchors, { switch: 'network', criterion }).assign(
        t,
        flat1,
        flat2,
      );
      const winner = rho[1]! >= rho[0]! ? flat2 : flat1;
      const paa = paaOn(winner, anchors, input);
      sameAssignment(r.assignment, paa);
      assert.equal(r.switch.stats.byNet2, rho[1]! >= rho[0]! ? 1 : 0);
      disposeAssignment(r.assignment);
      disposeAssignment(paa);
    }
    // the local rule mixes: its assignment differs from at least one network's own PAA assignment
    const local = new CoLADStrategy(pair, buildAssigner(config()), anchors, { switch: 'local' }).assign(
      t,
      flat1,
      flat2,
    );
    const s = local.switch.stats;
    assert.ok(
      s.decisions > 0 && s.byNet2 > 0 && s.byNet2 < s.decisions,
      `a mixed choice is expected (${s.byNet2}/${s.decisions})`,
    );
    disposeAssignment(local.assignment);
  });
  pair.dispose();
  anchors.dispose();
});

test('a CoLAD step trains both networks (no teacher): summed losses, gradients and updates on both', () => {
  const pair = new CoLADPair(net(1), net(3));
  const anchors = new AnchorCache(buildAnchorGenerator(config().model));
  const colad = new CoLADStrategy(pair, buildAssigner(config()), anchors, { switch: 'local' });
  const opt = new SGD(pair.parameters(), { lr: 0.05, momentum: 0.9 });
  const w1 = pair.net1.stateDict().get('bbox_head.atss_cls.weight')!.clone();
  const w2 = pair.net2.stateDict().get('bbox_head.atss_cls.weight')!.clone();
  const input = batch();
  const logs = tidy(() => {
    const r = colad.step(input);
    const l = stepLogs(r);
    const total = sumLosses(r.losses);
    const sum = ['loss_cls', 'loss_bbox', 'loss_iou', 'loss_cls_2', 'loss_bbox_2', 'loss_iou_2'].reduce(
      (s, k) => s + (l[k] as number),
      0,
    );
    assert.ok(Math.abs(total.item() - sum) < 1e-4 * sum, 'total = the six terms');
    total.backward();
    return l;
  });
  for (const k of ['num_pos', 'cost_mean', 'cost_std', 'cost_mean_2', 'cost_std_2', 'net2_frac', 'assign_ms'])
    assert.ok(Number.isFinite(logs[k]), k);
  assert.ok(logs.net2_frac! >= 0 && logs.net2_frac! <= 1);
  assert.ok(logs.num_pos! > 0);
  for (const [name, d] of [
    ['net1', pair.net1],
    ['net2', pair.net2],
  ] as const) {
    const g = d.stateDict().get('bbox_head.atss_reg.weight')!.grad;
    assert.ok(g !== null && g.abs().sum().item() > 0, `${name} got no gradient`);
    g?.dispose();
  }
  opt.step();
  opt.zeroGrad();
  assert.ok(!pair.net1.stateDict().get('bbox_head.atss_cls.weight')!.equal(w1));
  assert.ok(!pair.net2.stateDict().get('bbox_head.atss_cls.weight')!.equal(w2));
  // live tensors stay flat across further steps (the optimizer state exists from the first step on)
  const live: number[] = [];
  for (let i = 0; i < 3; i++) {
    tidy(() => sumLosses(colad.step(input).losses).backward());
    opt.step();
    opt.zeroGrad();
    live.push(memory().numTensors);
  }
  assert.equal(live[2], live[1], `live tensors ${live.join(', ')}`);
  pair.dispose();
  anchors.dispose();
});

test('mixed heads (net 1 PAA logits, net 2 COP probabilities without IoU) and the network rule run a step', () => {
  const cop = { ...modelSection, head: { ...modelSection.head, type: 'cop', iouBranch: false } };
  const cfg = config({ net2: cop, switch: 'network', criterion: 'fisher' });
  manualSeed(7);
  const pair = buildColadPair(cfg, 3);
  assert.equal(pair.net2.head.clsKind, 'probs');
  const anchors = new AnchorCache(buildAnchorGenerator(cfg.model));
  const logs = tidy(() => {
    const r = new CoLADStrategy(pair, buildAssigner(config()), anchors, {
      switch: 'network',
      criterion: 'fisher',
    }).step(batch());
    sumLosses(r.losses).backward();
    return stepLogs(r);
  });
  assert.equal(logs.loss_iou_2, 0, 'no IoU branch, no IoU loss');
  assert.ok(Number.isFinite(logs.rho) && Number.isFinite(logs.rho_2));
  assert.ok(logs.net2_frac === 0 || logs.net2_frac === 1);
  const g = pair.net2.stateDict().get('bbox_head.coeff_conv.weight')!.grad!;
  assert.ok(g.abs().sum().item() > 0);
  g.dispose();
  pair.dispose();
  anchors.dispose();
});

test('guarded: batches without GTs, and a GT that only gets low-quality candidates', () => {
  const pair = new CoLADPair(net(1), net(3));
  const anchors = new AnchorCache(buildAnchorGenerator(config().model));
  for (const sw of ['local', 'network'] as const) {
    for (const criterion of ['stdmean', 'fisher'] as const) {
      const colad = new CoLADStrategy(pair, buildAssigner(config()), anchors, { switch: sw, criterion });
      const input = batch();
      const empty = {
        ...input,
        targets: input.targets.map(() => ({ boxes: new Float32Array(0), labels: new Int32Array(0) })),
      };
      const logs = tidy(() => {
        const r = colad.step(empty);
        sumLosses(r.losses).backward();
        return stepLogs(r);
      });
      assert.equal(logs.num_pos, 0);
      assert.ok(Number.isFinite(logs.loss_cls) && logs.loss_bbox === 0);
      assert.equal(logs.net2_frac, sw === 'network' ? 1 : undefined, 'no decision is logged when there is none');
      // a 1x1-pixel box: IoU < 0.1 with every anchor, only the low-quality best matches are candidates
      const tiny = {
        ...input,
        targets: [{ boxes: Float32Array.from([20, 20, 21, 21]), labels: Int32Array.from([1]) }, input.targets[1]!],
      };
      tidy(() => sumLosses(colad.step(tiny).losses).backward());
      for (const p of pair.parameters()) p.grad = null;
    }
  }
  pair.dispose();
  anchors.dispose();
});

test('checkpoints hold both networks; each loads back alone by its prefix, a best file only as its network', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-colad-'));
  const cfg = config({ evalNet: 2 });
  manualSeed(11);
  const pair = buildColadPair(cfg, 3);
  assert.equal(pair.evalNetwork(), pair.net2);
  const keys = [...pair.stateDict().keys()];
  assert.ok(keys.some((k) => k.startsWith('net1.bbox_head.')) && keys.some((k) => k.startsWith('net2.backbone.')));
  assert.equal(keys.length, 2 * pair.net1.stateDict().size);
  const last = join(dir, 'last.safetensors');
  saveCheckpoint(last, pair, { format: 'ladet-checkpoint', version: 1, kind: 'last', info: { colad: { evalNet: 2 } } });
  for (const k of [1, 2] as const) {
    const { net: loaded } = loadColadNetwork(cfg, 3, k, last);
    const want = pair.network(k).stateDict();
    for (const [name, t] of loaded.stateDict()) assert.ok(t.equal(want.get(name)!), `net ${k} ${name}`);
    loaded.dispose();
  }
  assert.ok(
    !pair.net1
      .stateDict()
      .get('bbox_head.atss_cls.weight')!
      .equal(pair.net2.stateDict().get('bbox_head.atss_cls.weight')!),
    'the two random inits differ',
  );
  // the run directory resolves to weights/last
  const run = join(dir, 'run');
  mkdirSync(join(run, 'weights'), { recursive: true });
  saveCheckpoint(join(run, 'weights', 'last.safetensors'), pair, {
    format: 'ladet-checkpoint',
    version: 1,
    kind: 'last',
  });
  loadColadNetwork(cfg, 3, 1, run).net.dispose();
  // a best checkpoint holds the evaluated network only
  const best = join(dir, 'best.safetensors');
  saveCheckpoint(best, pair.net2, {
    format: 'ladet-checkpoint',
    version: 1,
    kind: 'best',
    info: { colad: { evalNet: 2 } },
  });
  loadColadNetwork(cfg, 3, 2, best).net.dispose();
  assert.throws(
    () => loadColadNetwork(cfg, 3, 1, best),
    /best\.safetensors: holds a single network \(network 2\), not network 1 of a CoLAD run/,
  );
  pair.dispose();
});

test('CoLAD config: defaults, network 2 from a preset, clear errors', () => {
  const c = config();
  assert.deepEqual(
    { switch: c.distill.colad.switch, criterion: c.distill.colad.criterion, evalNet: c.distill.colad.evalNet },
    { switch: 'local', criterion: 'stdmean', evalNet: 2 },
  );
  assert.equal(coladModel(c, 2), c.model, 'default network 2: the same architecture');
  const dir = mkdtempSync(join(tmpdir(), 'ladet-colad-cfg-'));
  const p = join(dir, 'net2.yaml');
  const wide = { ...modelSection, backbone: { ...modelSection.backbone, widthMultiplier: 0.5 } };
  writeFileSync(p, JSON.stringify({ name: 'n2', data: { root: 'unused' }, model: wide }));
  const fromFile = config({ net2: p });
  assert.equal(coladModel(fromFile, 2).backbone.widthMultiplier, 0.5);
  precheckStrategy(fromFile);
  assert.throws(
    () => precheckColad(config({ net2: join(dir, 'nope.yaml') })),
    /distill\.colad\.net2: .*nope\.yaml not found/,
  );
  const otherAnchors = { ...modelSection, anchors: { strides: [8, 16, 32], octaveBaseScale: 8 } };
  assert.throws(
    () => precheckColad(config({ net2: otherAnchors })),
    /distill\.colad\.net2: its anchors .* differ from model\.anchors/,
  );
  assert.throws(
    () => precheckColad(config({ net1Init: join(dir, 'w.safetensors') })),
    /distill\.colad\.net1Init: .*w\.safetensors not found/,
  );
  assert.throws(
    () =>
      parseConfig(
        {
          name: 't',
          data: { root: 'u' },
          model: modelSection,
          distill: { strategy: 'colad', colad: { switch: 'global' } },
        },
        'c.yaml',
      ),
    /c\.yaml: distill\.colad\.switch/,
  );
  assert.throws(
    () =>
      parseConfig(
        { name: 't', data: { root: 'u' }, model: modelSection, distill: { colad: { evalNet: 3 } } },
        'c.yaml',
      ),
    /c\.yaml: distill\.colad\.evalNet/,
  );
  // starting weights: network 2 from a saved detector
  manualSeed(3);
  const start = buildDetector(coladModel(config({ net2: wide }), 2), 3);
  const w = join(dir, 'start.safetensors');
  saveCheckpoint(w, start, { format: 'ladet-checkpoint', version: 1, kind: 'weights' });
  const anchors = new AnchorCache(buildAnchorGenerator(c.model));
  const built = buildStrategy(
    config({ net2: p, net2Init: w, switch: 'network' }),
    () => buildDetector(c.model, 3),
    3,
    anchors,
  );
  const pair = built.strategy.trainable as CoLADPair;
  assert.ok(pair.net2.stateDict().get('backbone.conv1.weight')!.equal(start.stateDict().get('backbone.conv1.weight')!));
  assert.deepEqual((built.info.colad as Record<string, unknown>).switch, 'network');
  assert.throws(
    () => buildStrategy(config({ net1Init: w }), () => buildDetector(c.model, 3), 3, anchors),
    /distill\.colad\.net1Init: .*start\.safetensors: the weights do not fit this model: 'backbone\.conv1\.weight' has shape/,
  );
  pair.dispose();
  start.dispose();
  anchors.dispose();
});
