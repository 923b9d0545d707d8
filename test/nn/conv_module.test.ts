import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConvModule, Scale } from '../../src/nn/index.js';
import { noGrad, tensor, tidy } from '../../src/torch/index.js';

test("ConvModule: mmcv child names, bias only without a norm ('auto'), conv -> norm -> ReLU", () => {
  const plain = new ConvModule(2, 3, 1, { relu: false });
  assert.deepEqual([...plain.stateDict().keys()], ['conv.weight', 'conv.bias']);
  const gn = new ConvModule(2, 4, 3, { padding: 1, norm: { type: 'gn', groups: 2 } });
  assert.deepEqual([...gn.stateDict().keys()], ['conv.weight', 'gn.weight', 'gn.bias']);
  const bn = new ConvModule(2, 4, 3, { norm: { type: 'bn' }, bias: true });
  assert.deepEqual([...bn.stateDict().keys()].slice(0, 4), ['conv.weight', 'conv.bias', 'bn.weight', 'bn.bias']);
  // 1x1 conv with weights (1, -1) per output and a GroupNorm(1 group over 2 channels) then ReLU
  const m = new ConvModule(2, 2, 1, { norm: { type: 'gn', groups: 1 } });
  m.loadStateDict({
    'conv.weight': tensor([1, 0, 0, -1], [2, 2, 1, 1]),
    'gn.weight': tensor([1, 1]),
    'gn.bias': tensor([0, 0]),
  });
  // input channels (3, 1) at one pixel -> conv (3, -1) -> normalised over the group: mean 1, var 4 -> (1, -1) -> ReLU (1, 0)
  const y = noGrad(() => m.forward(tensor([3, 1], [1, 2, 1, 1])));
  const v = y.toArray();
  assert.ok(Math.abs(v[0]! - 2 / Math.sqrt(4 + 1e-5)) < 1e-6 && v[1] === 0);
  for (const x of [plain, gn, bn, m]) x.dispose();
});

test('Scale: a 0-d learnable scalar named scale', () => {
  const s = new Scale(2.5);
  assert.deepEqual(s.stateDict().get('scale')!.shape, []);
  assert.deepEqual(s.forward(tensor([1, -2])).toArray(), [2.5, -5]);
  tidy(() =>
    s
      .forward(tensor([1, -2, 4]))
      .sum()
      .backward(),
  );
  const g = s.scale.grad!;
  assert.equal(g.item(), 3);
  g.dispose();
  s.dispose();
});

test('relu_ works in place and under autograd', () => {
  const x = tensor([-1, 2, -3, 4], [4], { dtype: 'float64' }).requiresGrad_(true);
  tidy(() => {
    const y = x.mul(3);
    const same = y.relu_();
    assert.equal(same, y);
    assert.deepEqual(y.toArray(), [0, 6, 0, 12]);
    y.mul(tensor([1, 2, 3, 4], [4], { dtype: 'float64' }))
      .sum()
      .backward();
  });
  const g = x.grad!;
  assert.deepEqual(g.toArray(), [0, 6, 0, 12]);
  g.dispose();
  x.dispose();
});
