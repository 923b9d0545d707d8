// Hand-computed cases: each expected number is derived in the comment above it from the COCO definitions
// (greedy matching, cumulative precision/recall, monotone envelope, 101 recall thresholds).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  evaluateCoco,
  parseCocoGt,
  type CocoDetection,
  type CocoEvalResult,
  type CocoGroundTruth,
} from '../../src/eval/index.js';

type Box = [number, number, number, number];
interface Ann {
  img: number;
  box: Box;
  cat?: number;
  area?: number;
  crowd?: 0 | 1;
  id?: number;
}

function makeGt(images: number[], cats: number[], anns: Ann[]): CocoGroundTruth {
  return parseCocoGt(
    {
      images: images.map((id) => ({ id })),
      categories: cats.map((id) => ({ id, name: `c${id}` })),
      annotations: anns.map((a, i) => ({
        id: a.id ?? i + 1,
        image_id: a.img,
        category_id: a.cat ?? 1,
        bbox: a.box,
        area: a.area ?? a.box[2] * a.box[3],
        iscrowd: a.crowd ?? 0,
      })),
    },
    'test gt',
  );
}

const det = (img: number, box: Box, score: number, cat = 1): CocoDetection => ({
  image_id: img,
  category_id: cat,
  bbox: box,
  score,
});

const close = (actual: number, expected: number, msg?: string): void => {
  assert.ok(Math.abs(actual - expected) < 1e-12, `${msg ?? ''} expected ${expected}, got ${actual}`);
};

/** precision[t, :, k, a, m] */
function curve(r: CocoEvalResult, t: number, k: number, a: number, m: number): number[] {
  const { R, K, A, M } = r.shape;
  return Array.from({ length: R }, (_, i) => r.precision[(((t * R + i) * K + k) * A + a) * M + m]!);
}

/** Mean of a curve that is `v` for the first n recall thresholds and 0 after. */
const stepAP = (n: number, v: number): number => (n * v) / 101;

test('perfect detections give AP and AR 1 in every setting', () => {
  const boxes: Box[] = [
    [0, 0, 10, 10],
    [50, 50, 50, 50],
    [100, 100, 200, 200],
  ];
  const anns: Ann[] = [];
  const dets: CocoDetection[] = [];
  for (const img of [1, 2, 3]) {
    boxes.forEach((b, i) => {
      anns.push({ img, box: b, cat: i + 1 });
      dets.push(det(img, b, 0.3 + 0.2 * i, i + 1));
    });
  }
  const r = evaluateCoco(makeGt([1, 2, 3], [1, 2, 3], anns), dets);
  r.stats.forEach((s, i) => close(s, 1, `stat ${i}`));
  for (const c of r.perClassAP) close(c.ap, 1, `class ${c.categoryId}`);
});

test('a single-class ranking: cumulative precision, envelope and recall thresholds', () => {
  // 3 objects; detections by score: TP, FP, TP, duplicate of the first (FP), TP.
  const gt = makeGt(
    [1],
    [1],
    [
      { img: 1, box: [0, 0, 10, 10] },
      { img: 1, box: [100, 0, 10, 10] },
      { img: 1, box: [200, 0, 10, 10] },
    ],
  );
  const dets = [
    det(1, [0, 0, 10, 10], 0.9),
    det(1, [300, 300, 10, 10], 0.8),
    det(1, [100, 0, 10, 10], 0.7),
    det(1, [0, 0, 10, 10], 0.6),
    det(1, [200, 0, 10, 10], 0.5),
  ];
  const r = evaluateCoco(gt, dets);
  // precision 1, 1/2, 2/3, 2/4, 3/5 at recall 1/3, 1/3, 2/3, 2/3, 1; envelope 1, 2/3, 2/3, 3/5, 3/5.
  // Recall thresholds 0..0.33 (34) read 1, 0.34..0.66 (33) read 2/3, 0.67..1 (34) read 3/5.
  const ap = (34 * 1 + 33 * (2 / 3) + 34 * 0.6) / 101;
  close(r.named.AP, ap);
  close(r.named.AP50, ap);
  close(r.named.AP75, ap);
  close(r.named.APs, ap);
  assert.equal(r.named.APm, -1, 'no medium objects');
  close(r.named.AR1, 1 / 3);
  close(r.named.AR10, 1);
  close(r.named.AR100, 1);
  const c = curve(r, 0, 0, 0, 2);
  c.slice(0, 34).forEach((v) => close(v, 1));
  c.slice(34, 67).forEach((v) => close(v, 2 / 3));
  c.slice(67).forEach((v) => close(v, 0.6));
  // maxDets 1: only the top detection (a TP): precision 1 up to recall 1/3.
  close(r.perClassAP[0]!.ap, ap);
  const c1 = curve(r, 0, 0, 0, 0);
  assert.deepEqual(
    c1.map((v) => (v > 0.5 ? 1 : 0)),
    [...Array(34).fill(1), ...Array(67).fill(0)],
  );
});

test('crowd regions absorb any number of detections, with IoU over the detection area', () => {
  const gt = makeGt(
    [1],
    [1],
    [
      { img: 1, box: [10, 10, 20, 20] },
      { img: 1, box: [0, 0, 100, 100], crowd: 1 },
    ],
  );
  const dets = [
    det(1, [90, 50, 20, 20], 0.95), // half inside the crowd: crowd IoU 0.5
    det(1, [50, 50, 30, 30], 0.93), // inside: crowd IoU 1
    det(1, [60, 60, 20, 20], 0.92), // inside
    det(1, [10, 10, 20, 20], 0.9), // the object
    det(1, [300, 300, 10, 10], 0.6), // background
  ];
  const r = evaluateCoco(gt, dets);
  // IoU .50: the three crowd detections are ignored -> TP, FP: precision 1 at recall 1 -> AP 1.
  // IoU >= .55: the half-inside one is an FP -> FP, TP, FP: envelope 1/2 at recall 1 -> AP 1/2.
  close(r.named.AP50, 1);
  close(r.named.AP75, 0.5);
  close(r.named.AP, (1 + 9 * 0.5) / 10);
  close(r.named.AR100, 1);
  close(r.named.APs, (1 + 9 * 0.5) / 10, 'all boxes are small');
  assert.equal(r.named.APm, -1);
});

test('area ranges: inclusive bounds on the annotation area; unmatched detections outside a range are ignored', () => {
  const gt = makeGt(
    [1],
    [1],
    [
      { img: 1, box: [0, 0, 32, 32] }, // area 1024: small and medium
      { img: 1, box: [100, 0, 20, 25] }, // area 500: small
      { img: 1, box: [200, 0, 100, 100], area: 5000 }, // box 100x100 but area 5000: medium
    ],
  );
  const dets = [
    det(1, [400, 400, 40, 50], 0.99), // background, area 2000 (medium)
    det(1, [0, 0, 32, 32], 0.9),
    det(1, [200, 0, 100, 100], 0.8),
  ];
  const r = evaluateCoco(gt, dets);
  // all: FP, TP, TP of 3 -> envelope 2/3 up to recall 2/3 (thresholds 0..0.66: 67).
  close(r.named.AP, stepAP(67, 2 / 3));
  close(r.named.AR100, 2 / 3);
  // small: the 5000 object is ignored (its detection too); the 2000 background detection is outside -> ignored.
  // TP of 2 -> precision 1 up to recall 1/2 (51 thresholds).
  close(r.named.APs, stepAP(51, 1));
  close(r.named.ARs, 0.5);
  // medium: the 1024 and 5000 objects; the background detection counts: FP, TP, TP -> 2/3 everywhere.
  close(r.named.APm, 2 / 3);
  close(r.named.ARm, 1);
  // large: no object has area >= 96^2 (the box area does not count).
  assert.equal(r.named.APl, -1);
  assert.equal(r.named.ARl, -1);
});

test('maxDets: detections per image beyond the limit are dropped before matching', () => {
  const anns: Ann[] = [{ img: 1, box: [0, 0, 10, 10] }];
  const fps = (n: number, cat = 1): CocoDetection[] =>
    Array.from({ length: n }, (_, i) =>
      det(1, [100 + 20 * (i % 20), 100 + 20 * Math.floor(i / 20), 10, 10], 0.9 - i * 1e-3, cat),
    );
  const gt = makeGt([1], [1, 2], anns);

  // 11 FPs then the TP (12th): AR@1 = AR@10 = 0, AR@100 = 1, AP = 1/12 at every recall threshold.
  let r = evaluateCoco(gt, [...fps(11), det(1, [0, 0, 10, 10], 0.1)]);
  close(r.named.AR1, 0);
  close(r.named.AR10, 0);
  close(r.named.AR100, 1);
  close(r.named.AP, 1 / 12);

  // The TP is the 101st detection: cut.
  r = evaluateCoco(gt, [...fps(100), det(1, [0, 0, 10, 10], 0.1)]);
  close(r.named.AP, 0);
  close(r.named.AR100, 0);

  // The limit is per category: 100 detections of another class do not push it out.
  r = evaluateCoco(gt, [...fps(100, 2), det(1, [0, 0, 10, 10], 0.1)]);
  close(r.named.AP, 1);

  // Custom limits.
  r = evaluateCoco(gt, [...fps(11), det(1, [0, 0, 10, 10], 0.1)], { maxDets: [1, 5, 12] });
  close(r.named.AR10, 0, 'maxDets 5');
  close(r.named.AR100, 1, 'maxDets 12');
  assert.deepEqual(r.maxDets, [1, 5, 12]);
  assert.throws(() => evaluateCoco(gt, [], { maxDets: [10, 5, 100] }), {
    message: 'maxDets must be three ascending positive integers (got [10,5,100])',
  });
});

test('categories without ground truth are -1 and left out of the means', () => {
  const gt = makeGt([1], [1, 2, 3], [{ img: 1, box: [0, 0, 10, 10], cat: 1 }]);
  const r = evaluateCoco(gt, [
    det(1, [0, 0, 10, 10], 0.9, 1),
    det(1, [0, 0, 10, 10], 0.8, 2),
    det(1, [5, 5, 10, 10], 0.7, 2),
  ]);
  close(r.named.AP, 1);
  close(r.named.AR100, 1);
  assert.deepEqual(
    r.perClassAP.map((c) => [c.categoryId, c.name, c.ap === -1]),
    [
      [1, 'c1', false],
      [2, 'c2', true],
      [3, 'c3', true],
    ],
  );
  assert.ok(curve(r, 0, 1, 0, 2).every((v) => v === -1));
  assert.ok(curve(r, 0, 2, 0, 2).every((v) => v === -1));
});

test('images without detections still count their objects', () => {
  const gt = makeGt(
    [1, 2, 3],
    [1],
    [
      { img: 1, box: [0, 0, 10, 10] },
      { img: 2, box: [0, 0, 10, 10] },
    ],
  );
  const r = evaluateCoco(gt, [det(1, [0, 0, 10, 10], 0.9)]);
  close(r.named.AP, stepAP(51, 1));
  close(r.named.AR100, 0.5);
  // Restricting the evaluation to image 1 leaves only its object.
  const sub = evaluateCoco(gt, [det(1, [0, 0, 10, 10], 0.9)], { imageIds: [1] });
  close(sub.named.AP, 1);
  assert.deepEqual(sub.imageIds, [1]);
  assert.throws(() => evaluateCoco(gt, [], { imageIds: [4] }), {
    message: 'imageIds: unknown image id 4 (not in test gt)',
  });
});

test('equal scores keep image order across images and file order within an image', () => {
  // Image 5 (TP) sorts before image 9 (FP) although the results list has image 9 first: TP, FP -> AP 51/101.
  const gt = makeGt(
    [9, 5],
    [1],
    [
      { img: 9, box: [0, 0, 10, 10] },
      { img: 5, box: [0, 0, 10, 10] },
    ],
  );
  let r = evaluateCoco(gt, [det(9, [50, 50, 10, 10], 0.5), det(5, [0, 0, 10, 10], 0.5)]);
  close(r.named.AP, stepAP(51, 1));

  // One image, equal scores: the first listed is ranked first.
  const one = makeGt([1], [1], [{ img: 1, box: [0, 0, 10, 10] }]);
  r = evaluateCoco(one, [det(1, [50, 50, 10, 10], 0.5), det(1, [0, 0, 10, 10], 0.5)]);
  close(r.named.AP, 0.5, 'FP first');
  close(r.named.AR1, 0);
  r = evaluateCoco(one, [det(1, [0, 0, 10, 10], 0.5), det(1, [50, 50, 10, 10], 0.5)]);
  close(r.named.AP, 1, 'TP first');
  close(r.named.AR1, 1);
});

test('a detection with equal IoU to two objects takes the later one', () => {
  // The first detection overlaps both objects with IoU 75/125 = 0.6; the second overlaps only the first object.
  const gt = makeGt(
    [1],
    [1],
    [
      { img: 1, box: [0, 0, 10, 10] },
      { img: 1, box: [5, 0, 10, 10] },
    ],
  );
  const r = evaluateCoco(gt, [det(1, [2.5, 0, 10, 10], 0.9), det(1, [0, 0, 10, 10], 0.8)]);
  // IoU .50-.60: the first takes object 2, the second object 1: TP, TP -> AP 1.
  // IoU >= .65: FP, TP of 2 -> precision 1/2 up to recall 1/2 (51 thresholds).
  close(r.named.AP, (3 * 1 + 7 * stepAP(51, 0.5)) / 10);
  close(r.named.AP50, 1);
  close(r.named.AP75, stepAP(51, 0.5));
});

test('an IoU exactly on a threshold matches at that threshold', () => {
  // IoU 0.5 (half the box) and 0.75 (three quarters).
  const gt = makeGt(
    [1],
    [1, 2],
    [
      { img: 1, box: [0, 0, 10, 10], cat: 1 },
      { img: 1, box: [0, 0, 16, 16], cat: 2 },
    ],
  );
  const r = evaluateCoco(gt, [det(1, [0, 0, 10, 5], 0.9, 1), det(1, [0, 0, 16, 12], 0.9, 2)]);
  // class 1 matches at .50 only; class 2 at .50 ... .75 (6 thresholds).
  close(r.perClassAP[0]!.ap, 1 / 10);
  close(r.perClassAP[1]!.ap, 6 / 10);
  close(r.named.AP50, 1);
  close(r.named.AP75, 0.5);
});

test('an empty results list gives 0, not a crash', () => {
  const gt = makeGt(
    [1, 2],
    [1, 2],
    [
      { img: 1, box: [0, 0, 10, 10] },
      { img: 2, box: [0, 0, 50, 50] },
    ],
  );
  const r = evaluateCoco(gt, []);
  assert.deepEqual(r.stats, [0, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, -1]);
  assert.deepEqual(
    r.perClassAP.map((c) => c.ap),
    [0, -1],
  );
});

test('a match to an annotation with id 0 is a match', () => {
  // (The reference reads id 0 as "unmatched" and would score this 0; see src/eval/coco.ts.)
  const gt = makeGt([1], [1], [{ img: 1, box: [0, 0, 10, 10], id: 0 }]);
  close(evaluateCoco(gt, [det(1, [0, 0, 10, 10], 0.9)]).named.AP, 1);
});
