// Each strategy's named loss terms on the hand-computable tiny world (tiny.ts): values from the formulas of
// algorithms.md worked out in float64 here, the log keys in the order metrics.csv has them, and whose outputs assign.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setNumThreads, tidy } from '../../src/torch/index.js';
import { SelfAssignStrategy } from '../../src/distill/self_assign.js';
import { TeacherStrategy } from '../../src/distill/lad.js';
import { CoLADPair, CoLADStrategy } from '../../src/distill/colad.js';
import { stepLogs, type Strategy } from '../../src/distill/strategy.js';
import {
  A,
  ANCHORS,
  FixedAssigner,
  FixedCostAssigner,
  GTS,
  TinyNet,
  bce,
  close,
  decode,
  focal,
  focalKl,
  giou,
  tinyAnchors,
  tinyInput,
  type TinyOutputs,
} from './tiny.js';

setNumThreads(1);

const LN3 = Math.log(3);
const STUDENT: TinyOutputs = {
  cls: [
    [LN3, 0],
    [0, 0],
    [0, 0],
    [0, 0],
  ],
  // a0's box moves right by half its width: [8, 0, 24, 16]
  reg: [
    [5, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ],
  iou: [0, 0, 0, LN3],
};
const TEACHER: TinyOutputs = {
  cls: [
    [0, 0],
    [-LN3, 0],
    [0, 0],
    [0, LN3],
  ],
  reg: [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ],
  iou: [0, 0, 0, 0],
};
const KD = { gamma: 0.5, minIou: 0.3, clsWeight: 2, iouWeight: 10, bboxWeight: 1.3 };

// ---- by hand ----
const studentBox0 = decode(ANCHORS[0]!, STUDENT.reg[0]!); // [8, 0, 24, 16]
/** the two positives: (student box, GT) of a0 -> g0 and a3 -> g1 */
const pos = [giou(studentBox0, GTS[0]!), giou(ANCHORS[3]!, GTS[1]!)]; // IoU 1/3, 1/2; GIoU 1/3, 1/2
// focal over 4 anchors x 2 classes: a0/class 0 and a3/class 1 positive, / max(numPos 2, images 1)
const LOSS_CLS = (focal(LN3, true) + 6 * focal(0, false) + focal(0, true)) / 2;
const BOX_MEAN = (1.3 * (1 - pos[0]!.giou + (1 - pos[1]!.giou))) / 2; // LAD / CoLAD
const BOX_IOU =
  (1.3 * (pos[0]!.iou * (1 - pos[0]!.giou) + pos[1]!.iou * (1 - pos[1]!.giou))) / (pos[0]!.iou + pos[1]!.iou); // PAA
const LOSS_IOU = (0.5 * (bce(STUDENT.iou![0]!, pos[0]!.iou) + bce(STUDENT.iou![3]!, pos[1]!.iou))) / 2;
// soft labels: region S = the teacher boxes (its anchors) with IoU > 0.3 to a GT: a0 (u 1) and a3 (u 1/2), A = 1.5
const U = [giou(ANCHORS[0]!, GTS[0]!).iou, 0, 0, giou(ANCHORS[3]!, GTS[1]!).iou];
const NORM = U[0]! + U[3]!;
let klCls = 0;
for (let a = 0; a < A; a++)
  for (let c = 0; c < 2; c++) klCls += focalKl(STUDENT.cls[a]![c]!, TEACHER.cls[a]![c]!, KD.gamma);
const LOSS_KD_CLS = (KD.clsWeight * klCls) / NORM;
const LOSS_KD_IOU =
  (KD.iouWeight *
    (focalKl(STUDENT.iou![0]!, TEACHER.iou![0]!, KD.gamma) + focalKl(STUDENT.iou![3]!, TEACHER.iou![3]!, KD.gamma))) /
  NORM;
const LOSS_KD_BBOX =
  (KD.bboxWeight *
    (U[0]! * (1 - giou(studentBox0, ANCHORS[0]!).giou) + U[3]! * (1 - giou(ANCHORS[3]!, ANCHORS[3]!).giou))) /
  NORM;

test('the tiny world: the hand values are what they should be, and the box weightings differ', () => {
  close(pos[0]!.iou, 1 / 3, 'IoU a0');
  close(pos[0]!.giou, 1 / 3, 'GIoU a0');
  close(pos[1]!.giou, 1 / 2, 'GIoU a3');
  close(BOX_MEAN, (1.3 * 7) / 12, 'mean box loss');
  close(BOX_IOU, (1.3 * 17) / 30, 'IoU-weighted box loss');
  assert.ok(BOX_MEAN - BOX_IOU > 0.02, 'a case where the weighting matters');
  assert.equal(NORM, 1.5);
  // the anchors as the generator makes them
  const anchors = tinyAnchors();
  const got = tidy(() => Array.from(anchors.get([[2, 2]]).anchors.toTypedArray<'float32'>()));
  assert.deepEqual(got, ANCHORS.flat());
  anchors.dispose();
});

/** One step's loss values and its logs (as trainStep logs them). */
function run(s: Strategy): { values: Record<string, number>; logs: Record<string, number> } {
  const input = tinyInput();
  return tidy(() => {
    const r = s.step(input);
    return { values: Object.fromEntries(Object.entries(r.losses).map(([k, t]) => [k, t.item()])), logs: stepLogs(r) };
  });
}

const net = (o: TinyOutputs) => new TinyNet(o).asDetector();

test('PAA self-assignment: its own outputs assign; IoU-weighted GIoU (plain mean without the IoU branch)', () => {
  const anchors = tinyAnchors();
  const assigner = new FixedAssigner();
  const self = new SelfAssignStrategy(net(STUDENT), assigner, anchors);
  const { values, logs } = run(self);
  assert.deepEqual(Object.keys(logs), ['loss_cls', 'loss_bbox', 'loss_iou', 'num_pos', 'assign_ms']);
  close(values.loss_cls!, LOSS_CLS, 'loss_cls');
  close(values.loss_bbox!, BOX_IOU, 'loss_bbox (IoU-weighted)');
  close(values.loss_iou!, LOSS_IOU, 'loss_iou');
  assert.equal(logs.num_pos, 2);
  assert.deepEqual(Array.from(assigner.seenCls!), [Math.fround(LN3), 0, 0, 0, 0, 0, 0, 0], 'the student assigns');
  const base = run(new SelfAssignStrategy(net({ ...STUDENT, iou: null }), assigner, anchors)).values;
  close(base.loss_bbox!, BOX_MEAN, 'loss_bbox without the IoU branch (mean)');
  assert.equal(base.loss_iou, 0);
  anchors.dispose();
});

test("LAD: the teacher's outputs assign; the student gets the plain-mean GIoU (not PAA's IoU weighting)", () => {
  const anchors = tinyAnchors();
  const assigner = new FixedAssigner();
  const lad = new TeacherStrategy('lad', net(STUDENT), net(TEACHER), assigner, anchors, {}, KD);
  const { values, logs } = run(lad);
  assert.deepEqual(Object.keys(values), ['loss_cls', 'loss_bbox', 'loss_iou']);
  assert.deepEqual(Object.keys(logs), [
    'teacher_ms',
    'assign_ms',
    'loss_cls',
    'loss_bbox',
    'loss_iou',
    'teacher_num_pos',
  ]);
  close(values.loss_cls!, LOSS_CLS, 'loss_cls');
  close(values.loss_bbox!, BOX_MEAN, 'loss_bbox (mean)');
  close(values.loss_iou!, LOSS_IOU, 'loss_iou');
  assert.equal(logs.teacher_num_pos, 2);
  assert.deepEqual(
    Array.from(assigner.seenCls!),
    [0, 0, -Math.fround(LN3), 0, 0, 0, 0, Math.fround(LN3)],
    'the teacher assigns',
  );
  anchors.dispose();
});

test('soft-label KD: focal-weighted Bernoulli KL on classes and IoU over the teacher region, u-weighted GIoU to the teacher boxes', () => {
  const anchors = tinyAnchors();
  const kd = new TeacherStrategy('kd', net(STUDENT), net(TEACHER), new FixedAssigner(), anchors, {}, KD);
  const { values, logs } = run(kd);
  assert.deepEqual(Object.keys(logs), ['teacher_ms', 'loss_kd_cls', 'loss_kd_iou', 'loss_kd_bbox', 'kd_norm']);
  close(values.loss_kd_cls!, LOSS_KD_CLS, 'loss_kd_cls');
  close(values.loss_kd_iou!, LOSS_KD_IOU, 'loss_kd_iou');
  close(values.loss_kd_bbox!, LOSS_KD_BBOX, 'loss_kd_bbox');
  close(logs.kd_norm!, NORM, 'kd_norm');
  // the focal weight at work: a0/class 0 (p 0.75, t 0.5) counts (0.25² + 1e-6)^(1/4) ≈ 0.5 of its KL
  const kl = 0.5 * Math.log(0.5 / 0.75) + 0.5 * Math.log(0.5 / 0.25);
  close(focalKl(LN3, 0, 0.5), kl * (0.0625 + 1e-6) ** 0.25, 'focal KL of one element');
  anchors.dispose();
});

test("SoLAD: LAD's terms then KD's, each the same value as alone, in the logged order", () => {
  const anchors = tinyAnchors();
  const student = net(STUDENT);
  const teacher = net(TEACHER);
  const of = (mode: 'lad' | 'kd' | 'solad') =>
    run(new TeacherStrategy(mode, student, teacher, new FixedAssigner(), anchors, {}, KD));
  const solad = of('solad');
  assert.deepEqual(Object.keys(solad.values), [
    'loss_cls',
    'loss_bbox',
    'loss_iou',
    'loss_kd_cls',
    'loss_kd_iou',
    'loss_kd_bbox',
  ]);
  assert.deepEqual(Object.keys(solad.logs), [
    'teacher_ms',
    'assign_ms',
    'loss_cls',
    'loss_bbox',
    'loss_iou',
    'teacher_num_pos',
    'loss_kd_cls',
    'loss_kd_iou',
    'loss_kd_bbox',
    'kd_norm',
  ]);
  assert.deepEqual(solad.values, { ...of('lad').values, ...of('kd').values });
  const want = {
    loss_cls: LOSS_CLS,
    loss_bbox: BOX_MEAN,
    loss_iou: LOSS_IOU,
    loss_kd_cls: LOSS_KD_CLS,
    loss_kd_iou: LOSS_KD_IOU,
    loss_kd_bbox: LOSS_KD_BBOX,
  };
  for (const [k, v] of Object.entries(want)) close(solad.values[k]!, v, k);
  anchors.dispose();
});

test("CoLAD through a cost assigner that is not PAA: the switch picks per group, both networks get LAD's plain-mean GIoU", () => {
  const anchors = tinyAnchors();
  const assigner = new FixedCostAssigner();
  // network 1 = STUDENT, network 2 = TEACHER's outputs (its boxes are the anchors: a0 GIoU 1, a3 GIoU 1/2)
  const pair = new CoLADPair(net(STUDENT), net(TEACHER));
  const colad = new CoLADStrategy(pair, assigner, anchors, { switch: 'local' });
  const { values, logs } = run(colad);
  assert.deepEqual(Object.keys(logs).slice(0, 8), [
    'loss_cls',
    'loss_bbox',
    'loss_iou',
    'loss_cls_2',
    'loss_bbox_2',
    'loss_iou_2',
    'num_pos',
    'assign_ms',
  ]);
  close(values.loss_cls!, LOSS_CLS, 'loss_cls');
  close(values.loss_bbox!, BOX_MEAN, 'loss_bbox (mean)');
  close(values.loss_iou!, LOSS_IOU, 'loss_iou');
  const box2 = giou(ANCHORS[3]!, GTS[1]!);
  const cls2 = (focal(0, true) + 5 * focal(0, false) + focal(-LN3, false) + focal(LN3, true)) / 2;
  close(values.loss_cls_2!, cls2, 'loss_cls_2');
  close(values.loss_bbox_2!, (1.3 * (0 + (1 - box2.giou))) / 2, 'loss_bbox_2 (mean)');
  assert.ok(
    Math.abs(values.loss_bbox_2! - (1.3 * box2.iou * (1 - box2.giou)) / (1 + box2.iou)) > 0.1,
    'the IoU weighting would differ',
  );
  close(values.loss_iou_2!, (0.5 * (bce(0, 1) + bce(0, box2.iou))) / 2, 'loss_iou_2');
  // single-candidate groups go to the strictly lower cost: a0/g0 net 1 (0.25 < 0.5), a3/g1 net 2 (0.25 < 0.5)
  assert.deepEqual(assigner.decidedOn, [0.25, 0.25]);
  assert.equal(logs.net2_frac, 0.5);
  assert.equal(logs.num_pos, 2);
  // the network rule reads the assigner's decision samples: no GT has 2, no batch rho -> network 2 for every group
  const rule = run(new CoLADStrategy(pair, assigner, anchors, { switch: 'network' }));
  assert.deepEqual(assigner.decidedOn, [0.5, 0.25]);
  assert.equal(rule.logs.net2_frac, 1);
  // an assigner without candidate costs is refused
  assert.throws(
    () => new CoLADStrategy(pair, new FixedAssigner(), anchors),
    /colad: the assigner exposes no candidate costs/,
  );
  pair.dispose();
  anchors.dispose();
});
