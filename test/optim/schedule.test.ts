import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, dispose } from '../../src/torch/index.js';
import { lrAt, LrScheduler, SGD, type LrScheduleConfig } from '../../src/optim/index.js';

function close(actual: number, expected: number): void {
  assert.ok(Math.abs(actual - expected) <= 1e-15 * Math.max(1e-3, Math.abs(expected)), `${actual} vs ${expected}`);
}

// mmdetection's 1x schedule: linear warmup over 500 iterations from 0.001x, x0.1 at epochs 8 and 11 (0-based).
const ONE_X: LrScheduleConfig = {
  itersPerEpoch: 1000,
  warmup: { policy: 'linear', iters: 500, ratio: 0.001 },
  decay: { policy: 'step', steps: [8, 11] },
};

test('linear warmup + step decay (mmdetection 1x)', () => {
  close(lrAt(0, 0.01, ONE_X), 0.01 * 0.001);
  close(lrAt(250, 0.01, ONE_X), 0.01 * (0.001 + 0.999 * 0.5));
  close(lrAt(499, 0.01, ONE_X), 0.01 * (0.001 + (0.999 * 499) / 500));
  close(lrAt(500, 0.01, ONE_X), 0.01);
  close(lrAt(7999, 0.01, ONE_X), 0.01);
  close(lrAt(8000, 0.01, ONE_X), 0.001);
  close(lrAt(10999, 0.01, ONE_X), 0.001);
  close(lrAt(11000, 0.01, ONE_X), 0.0001);
  close(lrAt(11999, 0.01, ONE_X), 0.0001);
});

test('constant and exponential warmup', () => {
  const d = { policy: 'fixed' } as const;
  close(lrAt(3, 2, { byEpoch: false, decay: d, warmup: { policy: 'constant', iters: 10, ratio: 0.25 } }), 0.5);
  close(lrAt(10, 2, { byEpoch: false, decay: d, warmup: { policy: 'constant', iters: 10, ratio: 0.25 } }), 2);
  // ratio^(1 - 5/10) = sqrt(0.01)
  close(lrAt(5, 2, { byEpoch: false, decay: d, warmup: { policy: 'exp', iters: 10, ratio: 0.01 } }), 0.2);
  close(lrAt(0, 2, { byEpoch: false, decay: d, warmup: { policy: 'exp', iters: 10, ratio: 0.01 } }), 0.02);
});

test('warmup scales the decayed lr when a milestone falls inside it (as mmcv)', () => {
  const cfg: LrScheduleConfig = {
    byEpoch: false,
    warmup: { policy: 'linear', iters: 10, ratio: 0.5 },
    decay: { policy: 'step', steps: [4], gamma: 0.5 },
  };
  close(lrAt(3, 1, cfg), 1 * (0.5 + 0.5 * 0.3));
  close(lrAt(4, 1, cfg), 0.5 * (0.5 + 0.5 * 0.4));
});

test('step decay: period, gamma and minLr', () => {
  close(lrAt(7, 1, { byEpoch: false, decay: { policy: 'step', steps: 3 } }), 0.01);
  close(lrAt(2, 1, { byEpoch: false, decay: { policy: 'step', steps: 3 } }), 1);
  close(lrAt(6, 1, { byEpoch: false, decay: { policy: 'step', steps: [2, 4], gamma: 0.5 } }), 0.25);
  close(lrAt(9, 1, { byEpoch: false, decay: { policy: 'step', steps: 1, minLr: 1e-3 } }), 1e-3);
});

test('cosine annealing by iteration and by epoch', () => {
  const it: LrScheduleConfig = { byEpoch: false, decay: { policy: 'cosine', total: 100 } };
  close(lrAt(0, 1, it), 1);
  close(lrAt(25, 1, it), (1 + Math.SQRT1_2) / 2);
  close(lrAt(50, 1, it), 0.5);
  close(lrAt(100, 1, it), 0);
  close(lrAt(150, 1, it), 0); // stays at the minimum past the end
  close(lrAt(50, 1, { byEpoch: false, decay: { policy: 'cosine', total: 100, minLrRatio: 0.1 } }), 0.55);
  close(lrAt(50, 2, { byEpoch: false, decay: { policy: 'cosine', total: 100, minLr: 1 } }), 1.5);
  // By epoch: iteration 19 of 10-iteration epochs is epoch 1 of 4.
  close(lrAt(19, 1, { itersPerEpoch: 10, decay: { policy: 'cosine', total: 4 } }), (1 + Math.SQRT1_2) / 2);
  close(lrAt(20, 1, { itersPerEpoch: 10, decay: { policy: 'cosine', total: 4 } }), 0.5);
});

test('invalid schedules are refused', () => {
  assert.throws(() => lrAt(0, 1, { decay: { policy: 'fixed' } }), {
    message: 'lr schedule: itersPerEpoch must be a positive integer when byEpoch, got undefined',
  });
  assert.throws(() => lrAt(0, 1, { byEpoch: false, decay: { policy: 'step', steps: [11, 8] } }), {
    message: 'lr schedule: step milestones must be ascending non-negative numbers, got [11, 8]',
  });
  assert.throws(
    () => lrAt(0, 1, { byEpoch: false, decay: { policy: 'fixed' }, warmup: { policy: 'linear', iters: 5, ratio: 0 } }),
    {
      message: 'lr schedule: warmup ratio must be in (0, 1], got 0',
    },
  );
  assert.throws(() => lrAt(-1, 1, { byEpoch: false, decay: { policy: 'fixed' } }), {
    message: 'lrAt: iter must be a non-negative integer, got -1',
  });
  assert.throws(() => lrAt(0, 1, { byEpoch: false, decay: { policy: 'poly' } as never }), {
    message: 'lr schedule: unknown decay policy "poly"',
  });
});

test('the scheduler sets each group from its own base lr, and its state round-trips', () => {
  const a = tensor([1], [1], { requiresGrad: true });
  const b = tensor([1], [1], { requiresGrad: true });
  const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.02 }], { lr: 0.1 });
  const cfg: LrScheduleConfig = {
    byEpoch: false,
    warmup: { policy: 'linear', iters: 4, ratio: 0.5 },
    decay: { policy: 'step', steps: [6] },
  };
  const s = new LrScheduler(opt, cfg);
  assert.deepEqual(s.baseLrs, [0.1, 0.02]);
  const seen: number[][] = [];
  for (let i = 0; i < 8; i++) {
    s.step();
    seen.push(opt.paramGroups.map((g) => g.lr));
  }
  seen.forEach((lrs, i) => {
    close(lrs[0] as number, lrAt(i, 0.1, cfg));
    close(lrs[1] as number, lrAt(i, 0.02, cfg));
  });
  close(seen[0]?.[0] as number, 0.05);
  close(seen[7]?.[1] as number, 0.002);
  assert.deepEqual(s.stateDict(), { iter: 8, baseLrs: [0.1, 0.02] });
  // A second scheduler over an optimizer whose lrs were already changed takes the saved base lrs.
  const t = new LrScheduler(opt, cfg);
  t.loadStateDict(JSON.parse(JSON.stringify(s.stateDict())));
  assert.deepEqual(t.step(), s.step());
  assert.throws(() => t.loadStateDict({ iter: 1, baseLrs: [0.1] }), {
    message: 'LrScheduler.loadStateDict: baseLrs must be 2 numbers, got [0.1]',
  });
  dispose([a, b]);
});
