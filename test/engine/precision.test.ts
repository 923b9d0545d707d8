// train.precision through the trainer: the run says which precision ran (messages, start record, checkpoint info),
// 'auto' follows the CPU (simulated with LADET_CPU_BF16), a run stopped in bf16 resumes in fp32 with a message, and
// its fp32 checkpoint opens for inference in either precision with close outputs.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type ConfigInput } from '../../src/config/schema.js';
import { train } from '../../src/engine/trainer.js';
import { readCheckpointHeader } from '../../src/build/checkpoint.js';
import { openDetector, resolveModelFiles } from '../../src/engine/open_detector.js';
import { noGrad, randn, manualSeed, tidy } from '../../src/torch/index.js';
import { tinyRun } from './tiny_run.js';

const work = mkdtempSync(join(tmpdir(), 'ladet-precision-'));
after(() => rmSync(work, { recursive: true, force: true }));

function tiny(name: string, precision?: 'fp32' | 'bf16' | 'auto'): ConfigInput {
  return tinyRun(work, name, 8, precision ? { train: { precision } } : {});
}

const startRecords = (dir: string): Record<string, unknown>[] =>
  readFileSync(join(dir, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r.event === 'start');

test("auto follows the CPU's bf16 support (LADET_CPU_BF16 simulates it) and the run says which ran", async () => {
  const saved = process.env.LADET_CPU_BF16;
  try {
    for (const [flag, want] of [
      ['0', 'fp32'],
      ['1', 'bf16'],
    ] as const) {
      process.env.LADET_CPU_BF16 = flag;
      const lines: string[] = [];
      const labels = new Set<string>();
      const r = await train(parseConfig(tiny(`auto${flag}`)), {
        hooks: {
          onMessage: (l) => lines.push(l),
          onProgress: (p) => p.phase === 'train' && labels.add(String(p.precision)),
        },
      });
      assert.ok(
        lines.some((l) => l.startsWith(`precision: ${want} (auto:`)),
        lines.join('\n'),
      );
      assert.deepEqual([...labels], [want]);
      const starts = startRecords(r.runDir);
      assert.equal(starts.at(-1)?.precision, want, JSON.stringify(starts));
      const { meta } = readCheckpointHeader(join(r.runDir, 'weights', 'last.safetensors'));
      assert.equal(meta?.info?.precision, want);
    }
  } finally {
    if (saved === undefined) delete process.env.LADET_CPU_BF16;
    else process.env.LADET_CPU_BF16 = saved;
  }
});

test('a run stopped in bf16 resumes in fp32 (said), and its checkpoint opens in fp32 and bf16 with close outputs', async () => {
  let steps = 0;
  const first = await train(parseConfig(tiny('resume', 'bf16')), {
    hooks: { onMessage: () => {}, shouldStop: () => ++steps >= 3 },
  });
  const lines: string[] = [];
  const r = await train(parseConfig(tiny('resume', 'fp32')), {
    resume: true,
    hooks: { onMessage: (l) => lines.push(l) },
  });
  assert.equal(r.runDir, first.runDir);
  assert.ok(
    lines.includes('resume: the run trained in bf16 so far and continues in fp32'),
    lines.filter((l) => l.includes('resume') || l.includes('precision')).join('\n'),
  );
  const weights = join(r.runDir, 'weights', 'last.safetensors');
  const files = resolveModelFiles({ weights });
  const fp32 = openDetector(files, {}, {});
  const bf16 = openDetector(files, {}, { precision: 'bf16' });
  assert.deepEqual([fp32.model.precision, bf16.model.precision], ['fp32', 'bf16']);
  manualSeed(0);
  const images = randn([1, 3, 96, 96]);
  noGrad(() =>
    tidy(() => {
      const a = fp32.model.forward(images);
      const b = bf16.model.forward(images);
      for (let l = 0; l < a.cls.length; l++) {
        assert.equal(b.cls[l]!.dtype, 'float32', 'outputs come back in fp32');
        const scale = Math.max(1, a.reg[l]!.abs().max().item());
        const rel = a.reg[l]!.sub(b.reg[l]!).abs().max().item() / scale;
        // bf16 keeps 8 bits of mantissa: a few convs deep, outputs agree to a few percent of their range
        assert.ok(rel < 0.05, `level ${l}: reg differs by ${rel} of its range`);
      }
    }),
  );
  images.dispose();
  fp32.model.dispose();
  bf16.model.dispose();
});

test('fp16 is refused on a CPU before the run starts, naming the setting and what to use instead', async () => {
  const cfg = parseConfig({ ...tiny('fp16cpu'), train: { precision: 'fp16' } });
  await assert.rejects(
    train(cfg),
    /train\.precision: precision fp16 runs on CUDA devices only \(device is 'cpu'\): on a CPU use bf16 \(native bf16\) or fp32/,
  );
  assert.equal(existsSync(join(work, 'runs', 'fp16cpu', 'weights')), false, 'nothing was trained');
});
