import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FPN } from '../../src/models/index.js';
import { noGrad, ones, randn, tensor, zeros, memory } from '../../src/torch/index.js';

/**
 * Weights of a 1-channel FPN that pass values through: laterals x1, the output 3x3 convs only their centre tap,
 * the extra stride-2 convs all nine taps (a 3x3 sum); biases 0.
 */
function passThrough(fpn: FPN): void {
  const used = fpn.lateralConvs.length;
  const sd = new Map(
    [...fpn.stateDict()].map(([k, t]) => {
      const i = Number(k.split('.')[1]);
      if (k.endsWith('bias')) return [k, zeros(t.shape)];
      if (k.startsWith('lateral_convs') || i >= used) return [k, ones(t.shape)];
      return [k, tensor([0, 0, 0, 0, 1, 0, 0, 0, 0], t.shape)];
    }),
  );
  fpn.loadStateDict(sd);
}

test('top-down path: nearest upsampling to the lower level size (F.interpolate(size=)), added to its lateral', () => {
  const fpn = new FPN({ inChannels: [1, 1], outChannels: 1, startLevel: 0, numOuts: 2 });
  passThrough(fpn);
  const c3 = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]).mul(10);
  const c4 = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
  const [p3, p4] = noGrad(() => fpn.forward([c3, c4]));
  // 2x2 -> 3x3 nearest picks source row/col floor(d * 2/3) = 0, 0, 1
  assert.deepEqual(p3!.toArray(), [10 + 1, 20 + 1, 30 + 2, 40 + 1, 50 + 1, 60 + 2, 70 + 3, 80 + 3, 90 + 4]);
  assert.deepEqual(p4!.toArray(), [1, 2, 3, 4]);
  fpn.dispose();
});

test("extra levels 'on_output' take the last FPN output; 'on_input' the last backbone map; false max-pools", () => {
  const x = [tensor([1, 2, 3, 4], [1, 1, 2, 2]), tensor([7], [1, 1, 1, 1])];
  const onOutput = new FPN({ inChannels: [1, 1], outChannels: 1, numOuts: 4, addExtraConvs: 'on_output' });
  passThrough(onOutput);
  const a = noGrad(() => onOutput.forward(x));
  // P2 = C2 + up(C3) = [8, 9, 10, 11]; P3 = 7; P4 = 3x3-sum conv (stride 2, pad 1) of P3 = 7; P5 = 7
  assert.deepEqual(
    a.map((t) => t.toArray()),
    [[8, 9, 10, 11], [7], [7], [7]],
  );
  const onInput = new FPN({ inChannels: [1, 3], outChannels: 1, numOuts: 3, addExtraConvs: 'on_input' });
  assert.deepEqual(onInput.stateDict().get('fpn_convs.2.conv.weight')!.shape, [1, 3, 3, 3]);
  const pooled = new FPN({ inChannels: [1, 1], outChannels: 1, numOuts: 4, addExtraConvs: false });
  assert.equal(pooled.fpnConvs.length, 2);
  passThrough(pooled);
  const big = [randn([1, 1, 16, 16]), randn([1, 1, 8, 8])];
  const b = noGrad(() => pooled.forward(big));
  assert.deepEqual(
    b.map((t) => t.shape.slice(2)),
    [
      [16, 16],
      [8, 8],
      [4, 4],
      [2, 2],
    ],
  );
  // 1x1 max-pool with stride 2 = every other element
  assert.deepEqual(b[2]!.toArray(), b[1]!.slice(2, 0, null, 2).slice(3, 0, null, 2).contiguous().toArray());
  for (const m of [onOutput, onInput, pooled]) m.dispose();
});

test("PAA's FPN: mmdetection names, Xavier-uniform weights and zero biases, P3..P7 shapes", () => {
  const fpn = new FPN({ inChannels: [256, 512, 1024, 2048], outChannels: 256, startLevel: 1, numOuts: 5 });
  const sd = fpn.stateDict();
  assert.deepEqual(
    [...sd.keys()],
    [0, 1, 2]
      .flatMap((i) => [`lateral_convs.${i}.conv.weight`, `lateral_convs.${i}.conv.bias`])
      .concat([0, 1, 2, 3, 4].flatMap((i) => [`fpn_convs.${i}.conv.weight`, `fpn_convs.${i}.conv.bias`])),
  );
  assert.deepEqual(sd.get('lateral_convs.0.conv.weight')!.shape, [256, 512, 1, 1]);
  assert.deepEqual(sd.get('fpn_convs.3.conv.weight')!.shape, [256, 256, 3, 3]);
  const w = sd.get('fpn_convs.0.conv.weight')!;
  const bound = Math.sqrt(6 / (256 * 9 + 256 * 9));
  assert.ok(w.abs().max().item() <= bound && w.abs().max().item() > 0.99 * bound);
  assert.ok(Math.abs(w.std().item() / (bound / Math.sqrt(3)) - 1) < 0.02);
  assert.equal(sd.get('lateral_convs.2.conv.bias')!.abs().sum().item(), 0);
  const inputs = [randn([1, 256, 32, 48]), randn([1, 512, 16, 24]), randn([1, 1024, 8, 12]), randn([1, 2048, 4, 6])];
  const before = memory().numTensors;
  const outs = noGrad(() => fpn.forward(inputs));
  assert.equal(memory().numTensors, before + 5);
  assert.deepEqual(
    outs.map((o) => o.shape),
    [
      [1, 256, 16, 24],
      [1, 256, 8, 12],
      [1, 256, 4, 6],
      [1, 256, 2, 3],
      [1, 256, 1, 2],
    ],
  );
  fpn.dispose();
});

test('FPN rejects bad levels with clear messages', () => {
  assert.throws(() => new FPN({ inChannels: [8, 8], outChannels: 8, startLevel: 2 }), {
    message: 'FPN: startLevel 2 is outside the 2 input levels',
  });
  assert.throws(() => new FPN({ inChannels: [8, 8, 8], outChannels: 8, startLevel: 1, numOuts: 1 }), {
    message: 'FPN: numOuts 1 must be a whole number >= the 2 used input levels',
  });
  const fpn = new FPN({ inChannels: [8, 8], outChannels: 8 });
  assert.throws(() => fpn.forward([randn([1, 8, 4, 4])]), { message: 'FPN: expected 2 input maps, got 1' });
  fpn.dispose();
});
