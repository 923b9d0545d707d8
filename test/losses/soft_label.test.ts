import { test } from 'node:test';
import assert from 'node:assert/strict';
import { focalKl, softLabelLoss } from '../../src/losses/soft_label.js';
import { manualSeed, randn, tensor, zeros } from '../../src/torch/index.js';
import type { ImageMeta } from '../../src/data/transforms.js';
import { assertClose, gradcheck } from '../helpers.js';

const sig = (z: number): number => 1 / (1 + Math.exp(-z));
/** focal-weighted Bernoulli KL written out directly from the definition */
function kl(zs: number, zt: number, gamma = 0.5): number {
  const p = sig(zs);
  const t = sig(zt);
  const k = t * Math.log(t / p) + (1 - t) * Math.log((1 - t) / (1 - p));
  return k * Math.pow((t - p) ** 2 + 1e-6, gamma / 2);
}

const meta: ImageMeta = {
  imageId: 1,
  file: 'a',
  oriShape: [64, 64],
  imgShape: [64, 64],
  padShape: [64, 64],
  scaleFactor: [1, 1, 1, 1],
  flip: false,
};
const f64 = { dtype: 'float64' as const };

test('focal KL matches the definition elementwise and is zero when student equals teacher', () => {
  const zs = [0.5, -1, 3, -4];
  const zt = [1, 2, 3, -0.5];
  assertClose(
    focalKl(tensor(zs, [4], f64), tensor(zt, [4], f64)).toArray(),
    zs.map((z, i) => kl(z, zt[i]!)),
    1e-9,
  );
  assertClose(focalKl(tensor(zt, [4], f64), tensor(zt, [4], f64)).toArray(), [0, 0, 0, 0], 1e-12);
  assertClose(focalKl(tensor([0.5], [1], f64), tensor([1], [1], f64), 2).toArray(), [kl(0.5, 1, 2)], 1e-9);
});

test('focal KL gradient (through p and the focal weight) matches finite differences', () => {
  manualSeed(1);
  const zt = randn([6], f64).mul(2);
  gradcheck(([zs]) => focalKl(zs!, zt).sum(), [randn([6], f64).mul(2)]);
});

test('soft-label loss terms equal hand-computed values', () => {
  // anchors a0 = [0,0,10,10], a1 = [20,20,30,30]; teacher deltas 0 => teacher boxes = anchors.
  // GT [0,0,10,20]: IoU(a0) = 1/2, IoU(a1) = 0 => region S = {a0}, u = 1/2, normaliser A = 1/2.
  // student a0 dw = ln2 => box [-5,0,15,10] clipped to [0,0,15,10]: GIoU with [0,0,10,10] = 2/3.
  const anchors = tensor([0, 0, 10, 10, 20, 20, 30, 30], [2, 4], f64);
  const student = {
    cls: tensor([0.5, -1], [1, 2, 1], f64),
    reg: tensor([0, 0, Math.LN2 / 0.2, 0, 0, 0, 0, 0], [1, 2, 4], f64),
    iou: tensor([0.2, 0], [1, 2], f64),
  };
  const teacher = {
    cls: tensor([1, 2], [1, 2, 1], f64),
    reg: zeros([1, 2, 4], f64),
    iou: tensor([-0.3, 0], [1, 2], f64),
  };
  const valid = tensor([true, true], [1, 2]);
  const gt = [tensor([0, 0, 10, 20], [1, 4], f64)];
  const l = softLabelLoss(student, teacher, anchors, valid, gt, [meta]);
  assert.equal(l.kdRegion, 1);
  assertClose([l.kdNorm], [0.5]);
  assertClose([l.loss_kd_cls.item()], [(10 * (kl(0.5, 1) + kl(-1, 2))) / 0.5], 1e-9);
  assertClose([l.loss_kd_iou.item()], [(10 * kl(0.2, -0.3)) / 0.5], 1e-9);
  assertClose([l.loss_kd_bbox.item()], [(1.3 * 0.5 * (1 - 2 / 3)) / 0.5], 1e-9);
  // the paper's variant selects the region with the student's boxes: IoU([0,0,15,10], GT) = 100/250
  const p = softLabelLoss(student, teacher, anchors, valid, gt, [meta], { region: 'student' });
  assertClose([p.kdNorm], [0.4]);
});

test('an empty region (zero normaliser) and images without GT give finite losses', () => {
  const anchors = tensor([0, 0, 10, 10, 20, 20, 30, 30], [2, 4]);
  const reg = zeros([2, 2, 4]).requiresGrad_();
  const student = { cls: zeros([2, 2, 1]).requiresGrad_(), reg, iou: zeros([2, 2]) };
  const teacher = { cls: tensor([1, 1, 1, 1], [2, 2, 1]), reg: zeros([2, 2, 4]), iou: zeros([2, 2]) };
  const valid = tensor([true, true, true, true], [2, 2]);
  const gts = [tensor([50, 50, 60, 60], [1, 4]), zeros([0, 4])]; // far from every box; second image has none
  const l = softLabelLoss(student, teacher, anchors, valid, gts, [meta, meta]);
  assert.equal(l.kdNorm, 0);
  assert.equal(l.loss_kd_bbox.item(), 0);
  assert.equal(l.loss_kd_iou.item(), 0);
  assertClose([l.loss_kd_cls.item()], [10 * 4 * kl(0, 1)], 1e-5);
  l.loss_kd_cls.add(l.loss_kd_bbox).backward();
  assert.deepEqual(reg.grad!.toArray(), new Array(16).fill(0));
});
