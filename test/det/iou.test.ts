import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignedGiou, alignedIou, boxIof, boxIou, iouScalar } from '../../src/det/index.js';
import { tensor, tidy } from '../../src/torch/index.js';
import { assertClose } from '../helpers.js';

test('pairwise IoU and IoF: hand values, shape (N, M)', () => {
  tidy(() => {
    const a = tensor([0, 0, 10, 10, 0, 0, 1, 1], [2, 4]);
    const b = tensor([5, 5, 15, 15, 0, 0, 10, 10, 2, 2, 3, 3], [3, 4]);
    const iou = boxIou(a, b);
    assert.deepEqual(iou.shape, [2, 3]);
    // 25 / (100 + 100 - 25); identical; disjoint; second row: 1/100 overlap with b1.
    assertClose(iou.toArray(), [25 / 175, 1, 1 / 100, 0, 1 / 100, 0], 1e-6);
    assertClose(boxIou(b, a).toArray(), [25 / 175, 0, 1, 1 / 100, 1 / 100, 0], 1e-6);
    assertClose(boxIof(a, b).toArray(), [25 / 100, 1, 1 / 100, 0, 1, 0], 1e-6);
    // Zero-area boxes: the union is clamped at eps, so IoU is 0 rather than NaN.
    const z = tensor([3, 3, 3, 3], [1, 4]);
    assert.deepEqual(boxIou(z, z).toArray(), [0]);
  });
  assert.ok(Math.abs(iouScalar(0, 0, 10, 10, 5, 5, 15, 15) - 25 / 175) < 1e-12);
});

test('aligned IoU and GIoU: hand values including disjoint and degenerate boxes', () => {
  tidy(() => {
    const a = tensor([0, 0, 10, 10, 0, 0, 1, 1, 0, 0, 4, 4, 2, 2, 2, 2], [4, 4]);
    const b = tensor([5, 5, 15, 15, 2, 2, 3, 3, 0, 0, 4, 4, 2, 2, 2, 2], [4, 4]);
    assertClose(alignedIou(a, b).toArray(), [1 / 7, 0, 1, 0], 1e-6);
    // GIoU = IoU - (E - U)/E: enclosing 15x15 = 225, union 175; disjoint: E 9, U 2; identical: 1;
    // degenerate point box: U and E clamp to eps -> 0 - (eps - eps)/eps = 0.
    assertClose(alignedGiou(a, b).toArray(), [1 / 7 - 50 / 225, -7 / 9, 1, 0], 1e-6);
    // Broadcast over a leading dimension.
    assert.deepEqual(alignedGiou(a.unsqueeze(0).expand([3, 4, 4]), b).shape, [3, 4]);
  });
});

test('GIoU has the gradient of its closed form', () => {
  tidy(() => {
    const a = tensor([0, 0, 10, 10], [1, 4], { dtype: 'float64', requiresGrad: true });
    const b = tensor([5, 5, 15, 15], [1, 4], { dtype: 'float64' });
    alignedGiou(a, b).sum().backward();
    // With a = (x1, y1, x2, y2): I = (x2-5)(y2-5), U = 100 + 100 - I (with A = (x2-x1)(y2-y1)), E = (15-x1)(15-y1).
    // d/dx2: dI = 5, dA = 10 -> dU = 5; GIoU = I/U - 1 + U/E -> 5/175 - 25·5/175² + 5/225.
    const gx2 = 5 / 175 - (25 * 5) / 175 ** 2 + 5 / 225;
    // d/dx1: dI = 0, dA = -10 -> dU = -10; dE = -15 -> 25·10/175² - 10/225 + 175·15/225².
    const gx1 = (25 * 10) / 175 ** 2 - 10 / 225 + (175 * 15) / 225 ** 2;
    assertClose(a.grad!.toArray(), [gx1, gx1, gx2, gx2], 1e-9);
  });
});
