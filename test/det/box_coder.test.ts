import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeltaXYWHCoder } from '../../src/det/index.js';
import { cat, manualSeed, rand, tensor, tidy, memory } from '../../src/torch/index.js';
import { assertClose } from '../helpers.js';

test('decode: hand values with stds (0.1, 0.1, 0.2, 0.2), clamp and clip', () => {
  const coder = new DeltaXYWHCoder();
  tidy(() => {
    const anchors = tensor([0, 0, 10, 10, 0, 0, 10, 10, 0, 0, 10, 10, 0, 0, 10, 20], [4, 4]);
    const deltas = tensor([1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 100, -100, 0, 2, 0, 0], [4, 4]);
    const out = coder.decode(anchors, deltas).toArray();
    // dx = 0.1 -> centre 5 + 1 = 6.
    assertClose(out.slice(0, 4), [1, 0, 11, 10], 1e-6);
    // dw = 0.2 -> width 10·e^0.2.
    const w = 10 * Math.exp(0.2);
    assertClose(out.slice(4, 8), [5 - w / 2, 0, 5 + w / 2, 10], 1e-6);
    // dw = 20 and dh = -20 clamp to ±ln(1000/16): width 625, height 0.16.
    assertClose(out.slice(8, 12), [5 - 312.5, 5 - 0.08, 5 + 312.5, 5 + 0.08], 1e-5);
    // dy = 0.2 on height 20 -> centre 10 + 4.
    assertClose(out.slice(12, 16), [0, 4, 10, 24], 1e-6);
    const clipped = coder.decode(anchors, deltas, [8, 9]).toArray();
    assertClose(clipped.slice(8, 12), [0, 5 - 0.08, 9, 5 + 0.08], 1e-5);
    assertClose(clipped.slice(0, 4), [1, 0, 9, 8], 1e-6);
  });
});

test('encode/decode round trip, broadcasting over a batch dimension', () => {
  manualSeed(1);
  const before = memory().numTensors;
  const coder = new DeltaXYWHCoder({ means: [0.1, -0.2, 0, 0.05], stds: [0.1, 0.1, 0.2, 0.2] });
  tidy(() => {
    const xy = rand([50, 2], { dtype: 'float64' }).mul(100);
    const anchors = cat([xy, xy.add(rand([50, 2], { dtype: 'float64' }).mul(50).add(1))], 1);
    const gxy = rand([50, 2], { dtype: 'float64' }).mul(100);
    const gt = cat([gxy, gxy.add(rand([50, 2], { dtype: 'float64' }).mul(80).add(1))], 1);
    const d = coder.encode(anchors, gt);
    assertClose(coder.decode(anchors, d).toArray(), gt.toArray(), 1e-9);
    // (2, 50, 4) deltas against (50, 4) anchors.
    const d2 = d.unsqueeze(0).expand([2, 50, 4]);
    const back = coder.decode(anchors, d2);
    assert.deepEqual(back.shape, [2, 50, 4]);
    assertClose(back.select(0, 1).toArray(), gt.toArray(), 1e-9);
    // A hand encode: anchor (0,0,10,10), gt (1,0,11,10) -> dx 0.1 -> (0.1 - 0.1) / 0.1 = 0.
    assertClose(
      coder.encode(tensor([0, 0, 10, 10], [1, 4]), tensor([1, 0, 11, 10], [1, 4])).toArray(),
      [0, 2, 0, -0.25],
      1e-6,
    );
  });
  assert.equal(memory().numTensors, before);
});

test('decode is differentiable in the deltas', () => {
  const coder = new DeltaXYWHCoder();
  tidy(() => {
    const anchors = tensor([0, 0, 10, 20], [1, 4], { dtype: 'float64' });
    const deltas = tensor([0.5, -0.5, 0.3, 0.1], [1, 4], { dtype: 'float64', requiresGrad: true });
    coder.decode(anchors, deltas).sum().backward();
    const g = deltas.grad!;
    // d(x1+y1+x2+y2)/d(dx) = 2·pw·0.1, /d(dy) = 2·ph·0.1; width terms cancel.
    assertClose(g.toArray(), [2, 4, 0, 0], 1e-12);
  });
});
