// The detector on a CUDA device (skipped without one, or with a CPU-only libtorch): the forward in float16 and bfloat16
// under CUDA autocast within 5 % of fp32 on every level, training steps in fp16 with the gradient scaler (the fused
// unscale kernel) decreasing the loss as fp32 does, and the whole trainer on `device: cuda` in fp16: its checkpoint
// opens on the CPU in fp32 with the same outputs as on the GPU.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  autocast,
  conv2d,
  cudaAvailable,
  cudaHasBf16,
  groupNorm,
  manualSeed,
  memory,
  noGrad,
  randn,
  tensor,
  tidy,
  type Tensor,
} from '../../src/torch/index.js';
import { loadConfig, parseConfig, type Config } from '../../src/config/schema.js';
import { tinyRun } from '../engine/tiny_run.js';
import { buildAnchorGenerator, buildDetector } from '../../src/build/model.js';
import { AnchorCache } from '../../src/assign/targets.js';
import { buildStrategy } from '../../src/build/strategy.js';
import { buildOptimizer, trainStep } from '../../src/engine/train_step.js';
import { GradScaler } from '../../src/optim/index.js';
import { train } from '../../src/engine/trainer.js';
import { readCheckpointHeader } from '../../src/build/checkpoint.js';
import { openDetector, resolveModelFiles } from '../../src/engine/open_detector.js';
import type { StepInput } from '../../src/distill/strategy.js';
import { batchOf, compare, relErr } from './amp_helpers.js';

const skip = cudaAvailable() ? false : 'no CUDA device (or a CPU-only libtorch)';
const root = join(import.meta.dirname, '..', '..', '..');
const MINI = join(root, 'configs', 'paa_r18_fashion_mini.yaml');
const work = mkdtempSync(join(tmpdir(), 'ladet-cuda-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('CUDA autocast: conv in float16 / bfloat16, GroupNorm with fp32 affine weights runs', { skip }, () => {
  tidy(() => {
    const x = randn([2, 8, 16, 16], { device: 'cuda' });
    const w = randn([8, 8, 3, 3], { device: 'cuda' });
    const gw = randn([8], { device: 'cuda' });
    const gb = randn([8], { device: 'cuda' });
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const y = autocast(dtype, () => conv2d(x, w, null, { padding: 1 }), 'cuda');
      assert.equal(y.dtype, dtype);
      // the case libtorch 1.13's CPU autocast fails on (bf16 input, fp32 affine): CUDA's fp32 list takes it
      const n = autocast(dtype, () => groupNorm(y, 4, gw, gb), 'cuda');
      assert.equal(n.dtype, 'float32');
      const ref = groupNorm(y.float(), 4, gw, gb);
      assert.ok(relErr(n, ref) < 1e-5, `${dtype}: GN ${relErr(n, ref)}`);
    }
  });
});

test('mini preset detector on CUDA: fp16 and bf16 forwards within 5 % of fp32 on every level', { skip }, (t) => {
  const det = buildDetector(loadConfig(MINI).model, 10).toDevice('cuda');
  assert.match(det.device, /^cuda/);
  manualSeed(3);
  const x = randn([2, 3, 128, 128], { device: 'cuda' });
  for (const mode of ['train', 'eval'] as const) {
    if (mode === 'train') det.train();
    else det.eval();
    tidy(() =>
      noGrad(() => {
        det.precision = 'fp32';
        const f = det.forward(x);
        for (const p of ['fp16', ...(cudaHasBf16() ? ['bf16' as const] : [])] as const) {
          det.precision = p;
          const e = compare(f, det.forward(x));
          t.diagnostic(`${mode} ${p}: worst relative error ${JSON.stringify(e)}`);
          for (const [k, v] of Object.entries(e)) assert.ok(v < 0.05, `${mode} ${p} ${k}: relative error ${v}`);
        }
        det.precision = 'fp32';
      }),
    );
  }
  x.dispose();
  det.dispose();
});

function trainSteps(precision: 'fp32' | 'fp16', steps: number, input: StepInput) {
  const config = loadConfig(MINI, { 'optimizer.lr': 0.005, device: 'cuda' });
  const anchors = new AnchorCache(buildAnchorGenerator(config.model), 'cuda');
  manualSeed(0);
  const det = buildDetector(config.model, 10).toDevice('cuda');
  det.precision = precision;
  const { strategy } = buildStrategy(config, () => det, 10, anchors);
  strategy.trainable.train();
  const opt = buildOptimizer(config, strategy.trainable);
  const scaler = precision === 'fp16' ? new GradScaler() : undefined;
  const losses: number[] = [];
  const live: number[] = [];
  for (let i = 0; i < steps; i++) {
    const r = trainStep(strategy, opt, input, config.optimizer.gradClip, undefined, undefined, scaler);
    assert.equal(r.skipped, false, `step ${i} overflowed at scale ${scaler?.scale}`);
    losses.push(r.loss);
    live.push(memory().numTensors);
  }
  const devices = new Set(det.parameters().map((p) => p.device));
  opt.disposeState();
  strategy.dispose();
  det.dispose();
  anchors.dispose();
  return { losses, live, devices };
}

test('training steps on CUDA in fp16 with the gradient scaler decrease the loss as fp32 does', { skip }, (t) => {
  const input = batchOf(4, 11, 'cuda');
  const steps = 8;
  const fp32 = trainSteps('fp32', steps, input);
  const fp16 = trainSteps('fp16', steps, input);
  t.diagnostic(`fp32 ${fp32.losses.map((l) => l.toFixed(4)).join(' ')}`);
  t.diagnostic(`fp16 ${fp16.losses.map((l) => l.toFixed(4)).join(' ')}`);
  assert.deepEqual(
    [...fp16.devices].map((d) => d.startsWith('cuda')),
    [true],
  );
  for (const r of [fp32, fp16]) assert.ok(r.losses.at(-1)! < r.losses[0]! * 0.9, `no decrease: ${r.losses.join(' ')}`);
  // the first step's loss is computed before any update: fp16 rounding only
  assert.ok(
    Math.abs(fp16.losses[0]! - fp32.losses[0]!) / fp32.losses[0]! < 0.02,
    `${fp16.losses[0]} vs ${fp32.losses[0]}`,
  );
  assert.equal(fp16.live.at(-1), fp16.live[1], `live tensors grew: ${fp16.live.join(' ')}`);
  input.images.dispose();
});

test('the fused CUDA unscale: gradients divided by the scale, an inf anywhere reported', { skip }, () => {
  const a = tensor(Float32Array.from([8, -16]), [2], { device: 'cuda', requiresGrad: true });
  a.grad = tensor(Float32Array.from([8, -16]), [2], { device: 'cuda' });
  const s = new GradScaler({ initScale: 8 });
  assert.equal(s.unscale([a]), true);
  assert.deepEqual(a.grad.toArray(), [1, -2]);
  a.grad = tensor(Float32Array.from([1, Infinity]), [2], { device: 'cuda' });
  assert.equal(s.unscale([a]), false);
  a.dispose();
});

/** The tiny run of precision.test.ts with 16 images on `device: cuda`, `extra` on top. */
function cudaConfig(name: string, extra: Record<string, unknown>): Config {
  return parseConfig(tinyRun(work, name, 16, { device: 'cuda', eval: { every: 2, scoreVoting: true }, ...extra }));
}

test(
  'the trainer on device: cuda in fp16: the run trains, records fp16, and its checkpoint opens on the CPU',
  { skip },
  async () => {
    const cfg = cudaConfig('cuda16', { train: { precision: 'fp16' } });
    const lines: string[] = [];
    const r = await train(cfg, { hooks: { onMessage: (l) => lines.push(l) } });
    assert.ok(
      lines.some((l) => l.startsWith('precision: fp16') && l.includes('loss scaling')),
      lines.join('\n'),
    );
    assert.ok(r.lastEval !== null && r.lastEval.images === 16);
    const { meta } = readCheckpointHeader(join(r.runDir, 'weights', 'last.safetensors'));
    assert.equal(meta?.info?.precision, 'fp16');
    assert.equal(typeof meta?.trainer?.gradScaler?.scale, 'number');
    // the same weights on the GPU and on the CPU, both fp32: close outputs. Not float32-close: cuDNN convolutions use
    // TF32 (10-bit mantissa) by default on Ampere and later, as in PyTorch (torch.backends.cudnn.allow_tf32)
    const files = resolveModelFiles({ run: r.runDir });
    const gpu = openDetector(files);
    const cpu = openDetector(files, { device: 'cpu' });
    assert.match(gpu.model.device, /^cuda/);
    assert.equal(cpu.model.device, 'cpu');
    manualSeed(1);
    const x = randn([1, 3, 96, 96]);
    tidy(() =>
      noGrad(() => {
        const g = gpu.model.forward(x.toDevice('cuda'));
        const c = cpu.model.forward(x);
        g.reg.forEach((t, l) => {
          const e = relErr(t.toDevice('cpu'), c.reg[l] as Tensor);
          assert.ok(e < 1e-2, `level ${l}: relative difference ${e}`);
        });
      }),
    );
    x.dispose();
    gpu.model.dispose();
    cpu.model.dispose();
  },
);

test(
  "LAD (teacher in bf16) and CoLAD train on device: cuda, the teacher put on the student's device",
  { skip },
  async () => {
    const teacherRun = await train(cudaConfig('cuda_teacher', { train: { precision: 'fp32' } }));
    const teacherConfig = join(teacherRun.runDir, 'config.yaml');
    const weights = join(teacherRun.runDir, 'weights', 'last.safetensors');
    const lad = await train(
      cudaConfig('cuda_lad', {
        train: { precision: cudaHasBf16() ? 'bf16' : 'fp16' },
        distill: { strategy: 'lad', teacher: { config: teacherConfig, weights } },
      }),
    );
    const colad = await train(cudaConfig('cuda_colad', { distill: { strategy: 'colad' } }));
    for (const r of [lad, colad]) {
      assert.ok(r.lastEval !== null && r.lastEval.images === 16, r.runDir);
      assert.ok(Number.isFinite(r.lastEval.coco.stats[0]), r.runDir);
    }
    const { meta } = readCheckpointHeader(join(lad.runDir, 'weights', 'last.safetensors'));
    assert.equal(typeof meta?.info?.teacher, 'object');
  },
);
