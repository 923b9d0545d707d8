import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  COLLAPSED_REL_TOL,
  GtOutcome,
  PaaAssigner,
  candidateCosts,
  disposeAssignment,
  groupCandidates,
  pickGroupCosts,
  positivesOf,
  preAssignCandidates,
  reassign,
  type AssignTargets,
  type ImageCandidates,
} from '../../src/assign/index.js';
import { AnchorGenerator, DeltaXYWHCoder, alignedGiou } from '../../src/det/index.js';
import { manualSeed, memory, randn, tensor, tidy } from '../../src/torch/index.js';
import { assertClose } from '../helpers.js';
import { readFixture } from '../read_fixture.js';

interface PaaFixture {
  topk: number;
  level_starts: number[];
  num_gt: number;
  anchor_inds: number[];
  gt_inds: number[];
  costs: number[];
  per_gt: { gt: number; skipped: boolean; n_iter?: number; positives: number[] }[];
  num_pos: number;
}

test("PAA re-assignment picks mmdetection's positives on a recorded case (sklearn GMM per GT)", () => {
  const fx = readFixture<PaaFixture>('assign/fixtures/paa_sklearn.json');
  const cand: ImageCandidates = {
    anchorInds: Int32Array.from(fx.anchor_inds),
    gtInds: Int32Array.from(fx.gt_inds),
    numGt: fx.num_gt,
  };
  const costs = Float32Array.from(fx.costs);
  const groups = groupCandidates(cand, fx.level_starts);
  const r = reassign([cand], [groups], [costs], { topk: fx.topk });
  assert.equal(r.numPos, fx.num_pos);
  const img = r.images[0]!;
  const pos = positivesOf(cand, img);
  for (const want of fx.per_gt) {
    const got = Array.from(pos.anchorInds).filter((_, k) => pos.gtInds[k] === want.gt);
    assert.deepEqual(
      got,
      [...want.positives].sort((a, b) => a - b),
      `GT ${want.gt} positives`,
    );
    assert.equal(img.numPos[want.gt], want.positives.length);
    if (want.skipped) {
      assert.equal(img.outcome[want.gt], GtOutcome.TooFewSamples, `GT ${want.gt} outcome`);
    } else {
      assert.equal(img.nIter[want.gt], want.n_iter, `GT ${want.gt} n_iter`);
    }
  }
  // GT 6 has exactly two candidates on two levels: fitted, not skipped.
  assert.equal(img.outcome[6], GtOutcome.Positive);
  // The same costs split over two images (GT offsets differ) give the same per-image answer.
  const r2 = reassign([cand, cand], [groups, groups], [costs, costs], { topk: fx.topk });
  assert.equal(r2.numPos, 2 * fx.num_pos);
  assert.deepEqual(r2.images[1]!.positive, img.positive);
});

test('groupCandidates: (GT, level) groups in anchor order; errors name the index', () => {
  const c: ImageCandidates = {
    anchorInds: Int32Array.from([1, 3, 4, 7, 8, 9]),
    gtInds: Int32Array.from([1, 0, 1, 1, 0, 1]),
    numGt: 2,
  };
  const g = groupCandidates(c, [0, 4, 8, 10]);
  assert.equal(g.numLevels, 3);
  // groups: (0,0):[3] (0,1):[] (0,2):[8] (1,0):[1] (1,1):[4,7] (1,2):[9] -> positions
  assert.deepEqual(Array.from(g.starts), [0, 1, 1, 2, 3, 5, 6]);
  assert.deepEqual(Array.from(g.order), [1, 4, 0, 2, 3, 5]);
  // CoLAD-style mixing: groups (0,0), (1,1) from source 1, the rest from source 0.
  const a = Float32Array.from([10, 11, 12, 13, 14, 15]);
  const b = Float32Array.from([20, 21, 22, 23, 24, 25]);
  assert.deepEqual(Array.from(pickGroupCosts(g, [a, b], [1, 0, 0, 0, 1, 0])), [10, 21, 22, 23, 14, 15]);
  assert.throws(() => pickGroupCosts(g, [a, b], [0, 0]), /2 choices for 6 \(GT, level\) groups/);
  assert.throws(() => pickGroupCosts(g, [a, b], [2, 0, 0, 0, 0, 0]), /choice 2 for group 0 has no source/);
  assert.throws(
    () => groupCandidates({ ...c, gtInds: Int32Array.from([0, 0, 0, 0, 0, 2]) }, [0, 4, 8, 10]),
    /GT index 2 outside 0..1/,
  );
  assert.throws(() => groupCandidates(c, [0, 4, 8]), /anchor index 8 outside 0..7/);
});

test('reassign: top-k per level, < 2 samples skipped, equal costs give one positive, non-finite cost fails the GT', () => {
  // One level; GT 0: 12 candidates (only the 3 lowest with topk 3); GT 1: one candidate; GT 2: four equal costs;
  // GT 3: a NaN cost.
  const anchorInds = Int32Array.from({ length: 20 }, (_, i) => i);
  const gtInds = Int32Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 3, 3, 3]);
  const costs = Float64Array.from([5, 0.1, 4, 0.12, 3, 2, 9, 8, 0.11, 7, 6, 5.5, 0.3, 2.5, 2.5, 2.5, 2.5, 1, NaN, 2]);
  const cand = { anchorInds, gtInds, numGt: 4 };
  const r = reassign([cand], [groupCandidates(cand, [0, 20])], [costs], { topk: 3 }).images[0]!;
  assert.deepEqual(Array.from(r.outcome), [
    GtOutcome.Positive,
    GtOutcome.TooFewSamples,
    GtOutcome.Positive,
    GtOutcome.FitFailed,
  ]);
  const pos = Array.from(r.positive.keys()).filter((j) => r.positive[j]);
  // GT 0 keeps .1, .11, .12 (anchors 1, 8, 3); sklearn predicts [0, 1, 1] on them (checked with python3-sklearn),
  // so only anchor 1 is positive. GT 2: identical components, equal scores -> the first sample only. GT 1 (single
  // sample) and GT 3 (NaN cost) get none.
  assert.deepEqual(pos, [1, 13]);
  assert.deepEqual(Array.from(r.numPos), [1, 0, 1, 0]);
  assert.throws(
    () => reassign([cand], [groupCandidates(cand, [0, 20])], [costs.subarray(1)]),
    /image 0 has 20 candidates but 19 costs/,
  );
});

test('candidateCosts: Σ over all classes of α-balanced focal + 1.3·(1 − GIoU), against a direct per-class sum', () => {
  tidy(() => {
    manualSeed(3);
    const C = 5;
    const anchors = tensor([0, 0, 10, 10, 5, 5, 25, 25, 40, 40, 60, 60], [3, 4]);
    const logits = randn([1, 3, C]).mul(2);
    const deltas = randn([1, 3, 4]).mul(0.5);
    const targets: AssignTargets = {
      anchors,
      levelStarts: [0, 3],
      validFlags: tensor([true, true, true], [1, 3]),
      gtBoxes: [tensor([1, 1, 11, 12, 38, 41, 61, 59], [2, 4])],
      gtLabels: [tensor(BigInt64Array.from([3n, 0n]))],
      numClasses: C,
    };
    const cand: ImageCandidates = { anchorInds: Int32Array.from([0, 2]), gtInds: Int32Array.from([0, 1]), numGt: 2 };
    const got = candidateCosts(targets, [cand], { clsLogits: logits, regDeltas: deltas })[0]!;
    const z = logits.toArray();
    const boxes = new DeltaXYWHCoder().decode(anchors, deltas.select(0, 0));
    const giou = alignedGiou(boxes.indexSelect(0, tensor(BigInt64Array.from([0n, 2n]))), targets.gtBoxes[0]!).toArray();
    const want = [0, 1].map((k) => {
      const a = cand.anchorInds[k]!;
      const label = [3, 0][k]!;
      let focal = 0;
      for (let c = 0; c < C; c++) {
        const x = z[a * C + c]!;
        const p = 1 / (1 + Math.exp(-x));
        const t = c === label ? 1 : 0;
        const bce = -(t * Math.log(p) + (1 - t) * Math.log(1 - p));
        const pt = (1 - p) * t + p * (1 - t);
        focal += bce * (0.25 * t + 0.75 * (1 - t)) * pt ** 2;
      }
      return focal + 1.3 * (1 - giou[k]!);
    });
    assertClose(got, want, 1e-5);
  });
});

test('PaaAssigner: Assignment invariants on a small batch (incl. an image without GT), no leaked tensors', () => {
  manualSeed(11);
  const gen = new AnchorGenerator({ strides: [8, 16, 32], ratios: [1], octaveBaseScale: 4, scalesPerOctave: 1 });
  const sizes = gen.featmapSizes([128, 128]);
  const levelStarts = gen.levelStarts(sizes);
  const before = memory().numTensors;
  const asg = new PaaAssigner();
  const { a, cands } = tidy(() => {
    const anchors = gen.gridAnchors(sizes);
    const A = anchors.dim(0);
    const targets: AssignTargets = {
      anchors,
      levelStarts,
      validFlags: gen.validFlags(sizes, [
        [128, 128],
        [96, 128],
        [128, 128],
      ]),
      gtBoxes: [
        tensor([10, 12, 60, 70, 64, 30, 120, 90, 20, 20, 26, 27], [3, 4]),
        tensor([30, 30, 90, 80], [1, 4]),
        tensor(new Float32Array(0), [0, 4]),
      ],
      gtLabels: [
        tensor(BigInt64Array.from([2n, 0n, 1n])),
        tensor(BigInt64Array.from([1n])),
        tensor(new BigInt64Array(0), [0]),
      ],
      numClasses: 3,
    };
    const preds = { clsLogits: randn([3, A, 3]).sub(2), regDeltas: randn([3, A, 4]).mul(0.3) };
    const cands = preAssignCandidates(targets).candidates;
    return { a: asg.assign(targets, preds), cands };
  });
  const A = levelStarts[levelStarts.length - 1]!;
  assert.equal(a.anchorsPerImage, A);
  assert.equal(a.numPos, asg.lastResult!.numPos);
  assert.ok(a.numPos > 0);
  const pos = a.posInds.toArray();
  const gt = a.posGtInds.toArray();
  const labels = a.labels.toArray();
  const weights = a.labelWeights.toArray();
  const targetsArr = a.bboxTargets.toArray();
  const gtLabels = [2, 0, 1, 1];
  assert.deepEqual(
    [...pos].sort((x, y) => x - y),
    pos,
  );
  // Every positive is a pre-assigned candidate of the same GT; labels and box targets follow the GT.
  pos.forEach((p, k) => {
    const img = Math.floor(p / A);
    const c = cands[img]!;
    const j = c.anchorInds.indexOf(p - img * A);
    assert.ok(j >= 0, `positive ${p} is not a candidate`);
    const offset = img === 0 ? 0 : 3;
    assert.equal(c.gtInds[j]! + offset, gt[k]);
    assert.equal(labels[p], gtLabels[gt[k]!]);
  });
  assert.equal(labels.filter((l) => l !== 3).length, a.numPos);
  // Image 2 has no GT: all background. Label weights are the valid flags (image 1 is padded at the bottom).
  assert.ok(labels.slice(2 * A).every((l) => l === 3));
  assert.equal(
    weights.slice(0, A).reduce((s, v) => s + v, 0),
    A,
  );
  assert.equal(
    weights.slice(A, 2 * A).reduce((s, v) => s + v, 0),
    12 * 16 + 6 * 8 + 3 * 4,
  );
  const first = pos[0]!;
  const gb = [10, 12, 60, 70, 64, 30, 120, 90, 20, 20, 26, 27, 30, 30, 90, 80];
  assert.deepEqual(targetsArr.slice(4 * first, 4 * first + 4), gb.slice(4 * gt[0]!, 4 * gt[0]! + 4));
  // The two large GTs of image 0 were fitted and got positives (the tiny 6x7 GT may have < 2 candidates).
  const out = asg.lastResult!.images[0]!.outcome;
  assert.equal(out[0], GtOutcome.Positive);
  assert.equal(out[1], GtOutcome.Positive);
  disposeAssignment(a);
  assert.equal(memory().numTensors, before);
  assert.throws(
    () =>
      asg.assign(
        {
          anchors: tensor([0, 0, 1, 1], [1, 4]),
          levelStarts: [0, 1],
          validFlags: tensor([true], [1, 1]),
          gtBoxes: [],
          gtLabels: [],
          numClasses: 1,
        },
        null,
      ),
    /PAA needs head predictions/,
  );
});

test('reassign: costs a few float32 steps apart count as collapsed -> one positive, the lowest-cost sample', () => {
  // Recorded from a training run: before the collapsed-GMM tolerance the GMM's two identical components tipped to
  // component 1 on weight rounding (0.49999... vs 0.50000...) and the GT got no positive.
  const costs = Float32Array.from([13.799245834350586, 13.799243927001953, 13.799245834350586]);
  assert.equal(costs[1], 13.799243927001953); // exactly representable: the case really is float32 steps apart
  const cand = { anchorInds: Int32Array.from([0, 1, 2]), gtInds: Int32Array.from([0, 0, 0]), numGt: 1 };
  const r = reassign([cand], [groupCandidates(cand, [0, 3])], [costs], { topk: 9 });
  assert.equal(r.images[0]!.outcome[0], GtOutcome.Positive);
  assert.equal(r.numPos, 1);
  // The lowest cost (anchor 1) is the positive, not the first anchor.
  assert.deepEqual(Array.from(r.images[0]!.positive), [0, 1, 0]);
  // The same at another scale (spread of 2^-20 relative) and for exactly equal costs.
  const small = Float64Array.from([0.5 + 2 ** -21, 0.5, 0.5 + 2 ** -22]);
  assert.deepEqual(
    Array.from(reassign([cand], [groupCandidates(cand, [0, 3])], [small]).images[0]!.positive),
    [0, 1, 0],
  );
  const equal = Float64Array.from([2, 2, 2]);
  assert.deepEqual(
    Array.from(reassign([cand], [groupCandidates(cand, [0, 3])], [equal]).images[0]!.positive),
    [1, 0, 0],
  );
});

test('reassign: well-separated costs are not affected by the collapsed-GMM tolerance', () => {
  // Spreads from 1e-2 to 10 of the scale: the GMM decides, as sklearn (COLLAPSED_REL_TOL is 2^-18).
  assert.ok(COLLAPSED_REL_TOL < 1e-5);
  const cand = { anchorInds: Int32Array.from({ length: 6 }, (_, i) => i), gtInds: new Int32Array(6), numGt: 1 };
  const groups = [groupCandidates(cand, [0, 6])];
  // Two clear clusters: the low one is foreground; scheme (c) keeps its prefix up to the densest sample (0.31).
  const twoClusters = Float64Array.from([5.2, 0.31, 5.1, 0.3, 0.32, 5.3]);
  assert.deepEqual(Array.from(reassign([cand], groups, [twoClusters]).images[0]!.positive), [0, 1, 0, 1, 0, 0]);
  // .10 / .11 / .12 (spread 0.2 of the scale): sklearn predicts [0, 1, 1] -> only the lowest, by the GMM, not the rule.
  const c3 = { anchorInds: Int32Array.from([0, 1, 2]), gtInds: new Int32Array(3), numGt: 1 };
  const r = reassign([c3], [groupCandidates(c3, [0, 3])], [Float64Array.from([0.12, 0.1, 0.11])]).images[0]!;
  assert.deepEqual(Array.from(r.positive), [0, 1, 0]);
  // A spread of 1e-4 of the scale is far above the tolerance: the rule does not apply, and the GMM's answer (no
  // foreground here) stands.
  const nearOne = Float64Array.from([13.8, 13.8 + 13.8e-4, 13.8 + 13.8e-4]);
  const r2 = reassign([c3], [groupCandidates(c3, [0, 3])], [nearOne]).images[0]!;
  assert.equal(r2.outcome[0], GtOutcome.NoForeground);
});
