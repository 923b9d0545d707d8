// ladet/runtime (TypeScript + a WebAssembly SIMD matrix multiply, no libtorch) against ladet on libtorch, on the same
// network and image: the cost of running a detector where libtorch cannot go (a browser, a worker); and the runtime
// with its scalar JS matrix multiply (engines without WebAssembly SIMD). Both sides at one thread: a browser tab runs
// the runtime on one. Network: the demo's shipped teacher (ResNet-18 x0.5, FPN 64, 160 px); the libtorch side times
// forward + predictBatch on the prepared input, the runtime side RuntimeDetector.detect on the RGB pixels (its
// normalisation included, a few tenths of a millisecond).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getNumThreads, setNumThreads, tensor, tidy } from '../src/torch/index.js';
import { encodePng } from '../src/data/image.js';
import { buildAnchorGenerator, inferenceConfigOf, testPipelineOf } from '../src/build/model.js';
import { openDetector, resolveModelFiles } from '../src/engine/open_detector.js';
import { exportRuntime } from '../src/engine/export_runtime.js';
import { AnchorCache } from '../src/assign/targets.js';
import { detectBatch, loadTestImage } from '../src/engine/predict.js';
import { RuntimeDetector } from '../src/runtime/index.js';
import { useGemm } from '../src/runtime/ops.js';
import { interleave, median, rng } from './util.js';

const WEIGHTS = 'assets/demo_teacher_r18w50.safetensors';
const CONFIG = 'configs/demo/teacher_r18w50.yaml';

export async function runtime(): Promise<Record<string, unknown>> {
  const threadsBefore = getNumThreads();
  setNumThreads(1);
  const dir = mkdtempSync(join(tmpdir(), 'ladet-bench-runtime-'));
  const opened = openDetector(resolveModelFiles({ weights: WEIGHTS, config: CONFIG }));
  try {
    const file = join(dir, 'model.safetensors');
    const bytes = exportRuntime(opened, file);
    const t0 = performance.now();
    const rt = RuntimeDetector.fromBytes(readFileSync(file));
    const loadMs = performance.now() - t0;
    // a seeded 160 x 160 picture: smooth colour blobs, so the head sees structure rather than pure noise
    const r = rng(7);
    const size = 160;
    const pixels = new Uint8Array(size * size * 3);
    const blobs = Array.from({ length: 6 }, () => ({
      x: r() * size,
      y: r() * size,
      s: 10 + r() * 30,
      c: [r() * 255, r() * 255, r() * 255],
    }));
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) {
          let v = 40;
          for (const b of blobs)
            v += (b.c[c] as number) * Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (2 * b.s * b.s));
          pixels[(y * size + x) * 3 + c] = Math.min(255, v);
        }
      }
    }
    // the libtorch side's input: the same pixels through ladet's test pipeline (PNG is lossless)
    const raw = await loadTestImage(
      await encodePng({ data: pixels, width: size, height: size }),
      testPipelineOf(opened.config),
    );
    const anchors = new AnchorCache(buildAnchorGenerator(opened.config.model), opened.config.device);
    const inference = inferenceConfigOf(opened.config);
    let libtorchCount = 0;
    let runtimeCount = 0;
    const timed = <T>(fn: () => T): [number, T] => {
      const s = process.hrtime.bigint();
      const v = fn();
      return [Number(process.hrtime.bigint() - s) / 1e6, v];
    };
    const { a, b } = interleave(
      {
        a: () =>
          timed(() => {
            const dets = rt.detect({ data: pixels, width: size, height: size }, { scoreThr: 0 });
            runtimeCount = dets.length;
          })[0],
        b: () =>
          timed(() => {
            const [det] = tidy(() =>
              detectBatch(opened.model, tensor(raw.data, raw.shape), raw.metas, anchors, inference),
            );
            libtorchCount = det!.scores.length;
          })[0],
      },
      { warmup: 3, reps: 15 },
    );
    // the same detect with the scalar JS matrix multiply (engines without WebAssembly SIMD)
    useGemm('js');
    const js: number[] = [];
    for (let i = 0; i < 6; i++)
      js.push(timed(() => rt.detect({ data: pixels, width: size, height: size }, { scoreThr: 0 }))[0]);
    useGemm('wasm');
    anchors.dispose();
    const runtimeMs = median(a);
    const libtorchMs = median(b);
    return {
      network: `${CONFIG} weights ${WEIGHTS}`,
      image: `${size}x${size}`,
      threads: 1,
      model_file_bytes: bytes,
      runtime_load_ms: loadMs,
      runtime_detect_ms: runtimeMs,
      libtorch_detect_ms: libtorchMs,
      runtime_vs_libtorch_ratio: runtimeMs / libtorchMs,
      runtime_js_gemm_detect_ms: median(js.slice(1)),
      wasm_gemm_speedup: median(js.slice(1)) / runtimeMs,
      detections_runtime: runtimeCount,
      detections_libtorch: libtorchCount,
    };
  } finally {
    opened.model.dispose();
    rmSync(dir, { recursive: true, force: true });
    setNumThreads(threadsBefore);
  }
}
