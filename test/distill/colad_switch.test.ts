import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  groupCandidates,
  gtSampleRows,
  pickGroupCosts,
  reassign,
  type ImageCandidates,
} from '../../src/assign/index.js';
import {
  fisherRho,
  fisherRhos,
  groupCostStats,
  localSwitch,
  networkRho,
  networkSwitch,
  stdMeanRho,
} from '../../src/distill/colad_switch.js';
import { assertClose } from '../helpers.js';

test('std/mean rho: unbiased std over the mean; 0 for one value and for a zero mean', () => {
  assertClose([stdMeanRho([1, 2, 3])], [0.5], 1e-15);
  // mean 5, unbiased variance (9 + 1 + 1 + 9) / 3
  assertClose([stdMeanRho([2, 4, 6, 8])], [Math.sqrt(20 / 3) / 5], 1e-15);
  assert.equal(stdMeanRho([7]), 0);
  assert.equal(stdMeanRho([]), 0);
  assert.equal(stdMeanRho([0, 0, 0]), 0);
  assert.equal(stdMeanRho([1e-14, 0, 0]), 0, 'mean below 1e-12 is guarded');
  assert.ok(Number.isNaN(stdMeanRho([1, NaN])));
});

test('Fisher rho from the 2-component GMM against hand values, degenerate sets give 0', () => {
  // Two tight pairs: EM ends with means 0.5 / 10.5 and variances 0.25 + reg_covar (cross-responsibilities ~e^-180).
  assertClose([fisherRho([11, 0, 10, 1])], [100 / (2 * (0.25 + 1e-6))], 1e-9);
  // Two clusters of equal values: variances collapse to reg_covar.
  assertClose([fisherRho([0, 0, 0, 10, 10, 10])], [100 / 2e-6], 1e-9);
  // Nothing to separate: equal values -> identical components -> every sample in component 0.
  assert.equal(fisherRho([3, 3, 3]), 0);
  assert.equal(fisherRho([3]), 0);
  assert.equal(fisherRho([]), 0);
  assert.equal(fisherRho([1, Infinity, 2]), 0, 'a failed fit counts as 0');
  // batched rows = the same numbers row by row; rows with < 2 samples are 0
  const x = Float64Array.from([0, 1, 10, 11, 0, 0, 5, 0, 0, 0, 0, 0, 3, 3, 0, 0]);
  const r = fisherRhos(x, [4, 1, 0, 2], 4);
  assertClose(r, [100 / (2 * (0.25 + 1e-6)), 0, 0, 0], 1e-9);
});

// One image, 2 GTs, 3 levels (anchors 0-9, 10-19, 20-29), hand-made cost tables of the two networks:
//   group (GT 0, level 0): anchors 1, 2, 3     net 1 [1, 2, 3], net 2 [3, 1, 2]: equal rho .5 -> tie -> net 2
//   group (GT 0, level 1): anchor 12           single candidate, 0.4 < 0.9 -> net 2
//   group (GT 0, level 2): none                no decision
//   group (GT 1, level 0): anchors 4, 5        identical costs -> tie -> net 2
//   group (GT 1, level 1): anchors 13, 14, 15  net 1 [4, 4.5, 5] rho .111, net 2 [1, 2, 6] rho .882 -> net 2
//   group (GT 1, level 2): anchor 22           single candidate, equal costs -> net 1 (strictly lower needed)
const cand: ImageCandidates = {
  anchorInds: Int32Array.from([1, 2, 3, 4, 5, 12, 13, 14, 15, 22]),
  gtInds: Int32Array.from([0, 0, 0, 1, 1, 0, 1, 1, 1, 1]),
  numGt: 2,
};
const levelStarts = [0, 10, 20, 30];
//                           a1 a2 a3  a4 a5  a12  a13 a14 a15  a22
const c1 = Float32Array.from([1, 2, 3, 5, 7, 0.9, 4, 4.5, 5, 2]);
const c2 = Float32Array.from([3, 1, 2, 5, 7, 0.4, 1, 2, 6, 2]);

test('local switch (released rule) on a hand-made table: ties and single candidates', () => {
  const g = groupCandidates(cand, levelStarts);
  const r = localSwitch([g], [c1], [c2], 'stdmean');
  // groups in order (GT 0: levels 0..2, GT 1: levels 0..2)
  assert.deepEqual(Array.from(r.choice[0]!), [1, 1, 0, 1, 1, 0]);
  assert.equal(r.stats.decisions, 5, 'the empty group takes no decision');
  assert.equal(r.stats.byNet2, 4);
  // A clear win for net 1 on (1,1): swap the tables there.
  const c1b = Float32Array.from(c1);
  const c2b = Float32Array.from(c2);
  c1b.set([1, 2, 6], 6);
  c2b.set([4, 4.5, 5], 6);
  const rb = localSwitch([g], [c1b], [c2b]);
  assert.equal(rb.choice[0]![4], 0);
  // And the costs handed to PAA follow the choice, group by group.
  const mixed = pickGroupCosts(g, [c1, c2], r.choice[0]!);
  assert.deepEqual(
    Array.from(mixed),
    [3, 1, 2, 5, 7, 0.4, 1, 2, 6, 2].map((v) => Math.fround(v)),
  );
});

test('local switch with the Fisher criterion: the group whose GMM separates better wins', () => {
  const c: ImageCandidates = {
    anchorInds: Int32Array.from([0, 1, 2, 3]),
    gtInds: Int32Array.from([0, 0, 0, 0]),
    numGt: 1,
  };
  const g = groupCandidates(c, [0, 10]);
  const wide = Float32Array.from([0, 1, 10, 11]); // Fisher ~200
  const narrow = Float32Array.from([0, 4, 7, 11]); // overlapping components, far smaller ratio
  assert.deepEqual(Array.from(localSwitch([g], [narrow], [wide], 'fisher').choice[0]!), [1]);
  assert.deepEqual(Array.from(localSwitch([g], [wide], [narrow], 'fisher').choice[0]!), [0]);
  assert.ok(fisherRho(narrow) < fisherRho(wide));
  // the std/mean criterion follows its own rho on the same groups
  const sm = stdMeanRho(narrow) >= stdMeanRho(wide) ? 0 : 1;
  assert.deepEqual(Array.from(localSwitch([g], [narrow], [wide], 'stdmean').choice[0]!), [sm]);
});

test('network switch (paper rule): batch-level rho = mean over GTs of the rho of their top-k samples', () => {
  const g = groupCandidates(cand, levelStarts);
  // each GT's PAA decision samples (its GMM input) under one network's costs
  const rows = (c: Float32Array) => gtSampleRows([cand], [g], [c], 2);
  // topk 2: GT 0 samples net 1: level 0 {1, 2} + level 1 {0.9} -> [0.9, 1, 2]; GT 1: {5, 7} + {4, 4.5} + {2}
  const rho = (xs: number[]): number => stdMeanRho(xs);
  const want1 = (rho([0.9, 1, 2]) + rho([2, 4, 4.5, 5, 7])) / 2;
  const want2 = (rho([0.4, 1, 2]) + rho([1, 2, 2, 5, 7])) / 2;
  const a = networkRho(rows(c1), 'stdmean');
  const b = networkRho(rows(c2), 'stdmean');
  assertClose([a.rho, b.rho], [want1, want2], 1e-6);
  assert.equal(a.gts, 2);
  const s = networkSwitch([g], rows(c1), rows(c2), 'stdmean');
  assert.equal(s.stats.byNet2, want2 >= want1 ? 1 : 0);
  assert.ok(want2 > want1, 'net 2 is the more dispersed here');
  assert.ok(s.choice[0]!.every((v) => v === 1));
  assertClose([s.stats.rho1, s.stats.rho2], [want1, want2], 1e-6);
  // equal tables -> tie -> net 2; the reverse tables -> net 1
  assert.equal(networkSwitch([g], rows(c1), rows(c1)).stats.byNet2, 1);
  assert.ok(networkSwitch([g], rows(c2), rows(c1)).choice[0]!.every((v) => v === 0));
  // Fisher criterion: the same mean over GTs of fisherRho of the same samples
  const f1 = (fisherRho([0.9, 1, 2]) + fisherRho([2, 4, 4.5, 5, 7])) / 2;
  assertClose([networkRho(rows(c1), 'fisher').rho], [f1], 1e-6);
});

test('guarded edge cases: no candidates, every (GT, level) with one candidate, zero costs', () => {
  // an image with no candidate at all (and one with GTs but none pre-assigned)
  const empty: ImageCandidates = { anchorInds: new Int32Array(0), gtInds: new Int32Array(0), numGt: 0 };
  const noCand: ImageCandidates = { anchorInds: new Int32Array(0), gtInds: new Int32Array(0), numGt: 2 };
  const ge = groupCandidates(empty, levelStarts);
  const gn = groupCandidates(noCand, levelStarts);
  const none = new Float32Array(0);
  for (const crit of ['stdmean', 'fisher'] as const) {
    const l = localSwitch([ge, gn], [none, none], [none, none], crit);
    assert.equal(l.stats.decisions, 0);
    const n = networkSwitch(
      [ge, gn],
      gtSampleRows([empty, noCand], [ge, gn], [none, none], 9),
      gtSampleRows([empty, noCand], [ge, gn], [none, none], 9),
      crit,
    );
    assert.ok(Number.isNaN(n.stats.rho1) && n.stats.byNet2 === 1, 'no GT with 2 samples: net 2 by the tie rule');
    assert.equal(reassign([empty, noCand], [ge, gn], [none, none]).numPos, 0);
  }
  // every (GT, level) has exactly one candidate: decisions by lower cost only; GTs still get 2-3 GMM samples
  const single: ImageCandidates = {
    anchorInds: Int32Array.from([3, 4, 13, 24]),
    gtInds: Int32Array.from([0, 1, 0, 0]),
    numGt: 2,
  };
  const gs = groupCandidates(single, levelStarts);
  const s1 = Float32Array.from([1, 2, 3, 4]);
  const s2 = Float32Array.from([2, 1, 3, 5]);
  for (const crit of ['stdmean', 'fisher'] as const) {
    const l = localSwitch([gs], [s1], [s2], crit);
    assert.deepEqual(Array.from(l.choice[0]!), [0, 0, 0, 1, 0, 0]);
    assert.equal(l.stats.decisions, 4);
    const costs = pickGroupCosts(gs, [s1, s2], l.choice[0]!);
    const r = reassign([single], [gs], [costs]);
    assert.equal(r.images[0]!.numPos[1], 0, 'GT 1 has one sample: no positive');
  }
  // all costs zero (mean 0): rho 0 for both -> tie -> net 2, no division by zero
  const zeros: ImageCandidates = { anchorInds: Int32Array.from([1, 2]), gtInds: Int32Array.from([0, 0]), numGt: 1 };
  const gz = groupCandidates(zeros, levelStarts);
  const z = new Float32Array(2);
  assert.equal(localSwitch([gz], [z], [z]).choice[0]![0], 1);
  assert.equal(
    networkSwitch([gz], gtSampleRows([zeros], [gz], [z], 9), gtSampleRows([zeros], [gz], [z], 9)).stats.rho1,
    0,
  );
  // non-finite costs never win against finite ones
  const bad = Float32Array.from([NaN, 1]);
  assert.equal(localSwitch([gz], [Float32Array.from([1, 3])], [bad]).choice[0]![0], 0);
});

test('cost statistics: mean of group means and of group stds, as the released logs', () => {
  const g = groupCandidates(cand, levelStarts);
  const s = groupCostStats([g], [c1]);
  // group means: (0,0) 2, (0,1) .9, (1,0) 6, (1,1) 4.5, (1,2) 2; stds of the groups with >= 2: 1, sqrt(2), .5
  assertClose([s.mean, s.std], [(2 + 0.9 + 6 + 4.5 + 2) / 5, (1 + Math.SQRT2 + 0.5) / 3], 1e-6);
  const e = groupCostStats(
    [groupCandidates({ anchorInds: new Int32Array(0), gtInds: new Int32Array(0), numGt: 0 }, levelStarts)],
    [new Float32Array(0)],
  );
  assert.ok(Number.isNaN(e.mean) && Number.isNaN(e.std));
});
