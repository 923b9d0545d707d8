import { test } from 'node:test';
import assert from 'node:assert/strict';
import { predictBatch, type InferenceConfig } from '../../src/models/heads/paa_inference.js';
import type { HeadOutputs } from '../../src/models/heads/outputs.js';
import type { ImageMeta } from '../../src/data/transforms.js';
import { dispose, tensor, zeros } from '../../src/torch/index.js';
import { assertClose } from '../helpers.js';

const sig = (v: number): number => 1 / (1 + Math.exp(-v));
const meta: ImageMeta = {
  imageId: 7,
  file: 'x.png',
  oriShape: [40, 40],
  imgShape: [40, 40],
  padShape: [40, 40],
  scaleFactor: [1, 1, 1, 1],
  flip: false,
};
const cfg: InferenceConfig = { nmsPre: 1000, scoreThr: 0.05, nmsIou: 0.6, maxPerImg: 100, scoreVoting: false };
// one level 2x2, four disjoint anchors (zero deltas decode to the anchors themselves)
const anchors = [tensor([0, 0, 10, 10, 20, 0, 30, 10, 0, 20, 10, 30, 20, 20, 30, 30], [4, 4])];
// cls (1, 2, 2, 2): class c at location (y, x); one score per (anchor, class)
const cls = [0.9, 0.3, 0.06, 0.5, 0.02, 0.7, 0.4, 0.2];
const iou = [2, -1, 0.5, 0];

/** score of each (anchor, class) keyed "anchor:class", above the threshold */
function byKey(outs: HeadOutputs): Map<string, number> {
  const [d] = predictBatch(outs, anchors, [meta], cfg);
  const m = new Map<string, number>();
  for (let k = 0; k < d!.scores.length; k++) {
    const a = Math.round((d!.boxes[4 * k] as number) / 20) + 2 * Math.round((d!.boxes[4 * k + 1] as number) / 20);
    m.set(`${a}:${d!.labels[k]}`, d!.scores[k] as number);
  }
  return m;
}

function expected(score: (a: number, c: number) => number): Map<string, number> {
  const m = new Map<string, number>();
  for (let a = 0; a < 4; a++) for (let c = 0; c < 2; c++) if (score(a, c) > 0.05) m.set(`${a}:${c}`, score(a, c));
  return m;
}

function check(got: Map<string, number>, want: Map<string, number>): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [k, v] of want) assertClose([got.get(k)!], [v], 1e-6, k);
}

test('inference scores: sqrt(p * sigmoid(iou)) with the IoU branch, p alone without it (probabilities and logits)', () => {
  const c = tensor(cls, [1, 2, 2, 2]);
  const logit = tensor(
    cls.map((p) => Math.log(p / (1 - p))),
    [1, 2, 2, 2],
  );
  const q = tensor(iou, [1, 1, 2, 2]);
  const reg = zeros([1, 4, 2, 2]);
  const p = (a: number, k: number): number => cls[k * 4 + a] as number;
  check(
    byKey({ cls: [c], reg: [reg], iou: [q], clsKind: 'probs' }),
    expected((a, k) => Math.sqrt(p(a, k) * sig(iou[a]!))),
  );
  check(byKey({ cls: [c], reg: [reg], iou: null, clsKind: 'probs' }), expected(p));
  check(byKey({ cls: [logit], reg: [reg], iou: null, clsKind: 'logits' }), expected(p));
  check(
    byKey({ cls: [logit], reg: [reg], iou: [q], clsKind: 'logits' }),
    expected((a, k) => Math.sqrt(p(a, k) * sig(iou[a]!))),
  );
  // without the IoU branch the 0.06 and 0.02 scores are compared to the threshold as they are
  assert.ok(byKey({ cls: [c], reg: [reg], iou: null, clsKind: 'probs' }).has('2:0'));
  assert.ok(!byKey({ cls: [c], reg: [reg], iou: null, clsKind: 'probs' }).has('0:1'));
  dispose([c, logit, q, reg]);
});
