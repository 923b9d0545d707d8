import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, zeros } from '../../src/torch/index.js';
import { paaLoss } from '../../src/losses/paa_loss.js';
import type { Assignment } from '../../src/assign/assignment.js';
import { assertClose } from '../helpers.js';

// One image, three anchors, two classes. Zero deltas decode each anchor to itself.
//   a0 = [0,0,10,10] positive of GT [0,0,10,20]: IoU = GIoU = 1/2
//   a1 = [0,0,30,30] positive of GT [0,0,10,20]: IoU = GIoU = 200/900 = 2/9
//   a2 background
function fixture(): { assignment: Assignment; anchors: ReturnType<typeof tensor> } {
  const assignment: Assignment = {
    labels: tensor(new BigInt64Array([0n, 1n, 2n])),
    labelWeights: tensor([1, 1, 1]),
    bboxTargets: tensor([0, 0, 10, 20, 0, 0, 10, 20, 0, 0, 0, 0], [3, 4]),
    posInds: tensor(new BigInt64Array([0n, 1n])),
    posGtInds: tensor(new BigInt64Array([0n, 1n])),
    numPos: 2,
    numImages: 1,
    anchorsPerImage: 3,
    numClasses: 2,
  };
  return { assignment, anchors: tensor([0, 0, 10, 10, 0, 0, 30, 30, 50, 50, 60, 60], [3, 4]) };
}

const bce = (z: number, u: number): number => Math.max(z, 0) - z * u + Math.log1p(Math.exp(-Math.abs(z)));

test('PAA loss terms equal hand-computed values (IoU-weighted box loss)', () => {
  const { assignment, anchors } = fixture();
  const out = { cls: zeros([1, 3, 2]), reg: zeros([1, 3, 4]), iou: tensor([0.3, -0.2, 0], [1, 3]) };
  const l = paaLoss(out, assignment, anchors);
  // focal with p = 1/2 everywhere: ce = ln2, pt^2 = 1/4, alpha 1/4 (t=1) or 3/4 (t=0); 2 positives + 1 bg anchor
  assertClose([l.loss_cls.item()], [(Math.LN2 * 0.25 * 3.5) / 2]);
  const u0 = 0.5;
  const u1 = 2 / 9;
  assertClose([l.loss_bbox.item()], [(1.3 * (u0 * (1 - u0) + u1 * (1 - u1))) / (u0 + u1)]);
  assertClose([l.loss_iou.item()], [(0.5 * (bce(0.3, u0) + bce(-0.2, u1))) / 2]);
});

test('LAD/CoLAD box loss is the plain mean over positives; weights scale the terms', () => {
  const { assignment, anchors } = fixture();
  const out = { cls: zeros([1, 3, 2]), reg: zeros([1, 3, 4]), iou: zeros([1, 3]) };
  const l = paaLoss(out, assignment, anchors, { boxWeighting: 'mean', clsWeight: 2, bboxWeight: 1, iouWeight: 1 });
  assertClose([l.loss_bbox.item()], [(0.5 + 7 / 9) / 2]);
  assertClose([l.loss_cls.item()], [Math.LN2 * 0.25 * 3.5]);
  assertClose([l.loss_iou.item()], [(bce(0, 0.5) + bce(0, 2 / 9)) / 2]);
});

test('no positives: box and IoU terms are zero but stay in the graph; cls divides by the image count', () => {
  const { anchors } = fixture();
  const reg = zeros([1, 3, 4]).requiresGrad_();
  const iou = zeros([1, 3]).requiresGrad_();
  const cls = zeros([1, 3, 2]).requiresGrad_();
  const assignment: Assignment = {
    labels: tensor(new BigInt64Array([2n, 2n, 2n])),
    labelWeights: tensor([1, 1, 0]),
    bboxTargets: zeros([3, 4]),
    posInds: tensor(new BigInt64Array([])),
    posGtInds: tensor(new BigInt64Array([])),
    numPos: 0,
    numImages: 1,
    anchorsPerImage: 3,
    numClasses: 2,
  };
  const l = paaLoss({ cls, reg, iou }, assignment, anchors);
  assert.equal(l.loss_bbox.item(), 0);
  assert.equal(l.loss_iou.item(), 0);
  assertClose([l.loss_cls.item()], [(2 * 2 * Math.LN2 * 0.75 * 0.25) / 1]);
  l.loss_cls.add(l.loss_bbox).add(l.loss_iou).backward();
  assert.deepEqual(reg.grad!.toArray(), new Array(12).fill(0));
});

test('a mismatch between outputs and assignment is a clear error', () => {
  const { assignment, anchors } = fixture();
  assert.throws(
    () => paaLoss({ cls: zeros([2, 3, 2]), reg: zeros([2, 3, 4]), iou: zeros([2, 3]) }, assignment, anchors),
    /paaLoss: outputs are \(2, 3\) images x anchors, the assignment \(1, 3\)/,
  );
});
