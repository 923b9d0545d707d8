// The ways to run a trained detector, against ladet on libtorch, on the same network and image in the same run:
// ladet/runtime (TypeScript + a WebAssembly SIMD matrix multiply, no libtorch: where libtorch cannot go, a browser, a
// worker), and the network's ONNX export (`ladet export format=onnx`) on onnxruntime-node (CPU) and on
// onnxruntime-web's WebAssembly backend (run here in Node, as a browser tab runs it), each reported as a ratio to
// libtorch (`*_ratio` = its time / libtorch's); and the runtime with its scalar JS matrix multiply (engines without
// WebAssembly SIMD). Every side at one thread: a browser tab runs the runtime (and onnxruntime-web without
// cross-origin isolation) on one. Network: the demo's shipped teacher (ResNet-18 x0.5, FPN 64, 160 px). Timed:
// libtorch forward + predictBatch on the prepared input; the ONNX sides session.run on the same input + ladet's
// post-processing of its outputs (OnnxDetector.detect, score voting included, as libtorch's); the runtime side
// RuntimeDetector.detect on the RGB pixels (its normalisation included, a few tenths of a millisecond).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getNumThreads, setNumThreads, tensor, tidy } from '../src/torch/index.js';
import { encodePng } from '../src/data/image.js';
import { buildAnchorGenerator, inferenceConfigOf, testPipelineOf } from '../src/build/model.js';
import { openDetector, resolveModelFiles } from '../src/engine/open_detector.js';
import { exportRuntime } from '../src/engine/export_runtime.js';
import { exportOnnx } from '../src/engine/export_onnx.js';
import { OnnxDetector, type OrtModule } from '../src/engine/onnx_detector.js';
import { AnchorCache } from '../src/assign/targets.js';
import { detectBatch, loadTestImage } from '../src/engine/predict.js';
import { RuntimeDetector } from '../src/runtime/index.js';
import { useGemm } from '../src/runtime/ops.js';
import { median, rng } from './util.js';

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
    const onnxFile = join(dir, 'model.onnx');
    const onnxBytes = exportOnnx(opened, onnxFile);
    const onnxNode = await OnnxDetector.open(onnxFile, { threads: 1 });
    const web = (await import('onnxruntime-web')) as unknown as OrtModule & { env: { wasm: { numThreads: number } } };
    web.env.wasm.numThreads = 1;
    const onnxWeb = await OnnxDetector.open(onnxFile, { ort: web, executionProviders: ['wasm'] });
    const counts: Record<string, number> = {};
    const image = tensor(raw.data, raw.shape);
    const sides: Record<string, () => Promise<void> | void> = {
      runtime: () => {
        counts.runtime = rt.detect({ data: pixels, width: size, height: size }, { scoreThr: 0 }).length;
      },
      libtorch: () => {
        const [det] = tidy(() => detectBatch(opened.model, image, raw.metas, anchors, inference));
        counts.libtorch = det!.scores.length;
      },
      onnxruntime_node: async () => {
        counts.onnxruntime_node = (await onnxNode.detect(image, raw.metas, inference))[0]!.scores.length;
      },
      onnxruntime_web: async () => {
        counts.onnxruntime_web = (await onnxWeb.detect(image, raw.metas, inference))[0]!.scores.length;
      },
    };
    // every side once per rep, the order rotated each rep so slow drifts of a shared machine hit all alike
    const names = Object.keys(sides);
    const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    const warmup = 3;
    for (let rep = 0; rep < warmup + 15; rep++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(rep + k) % names.length] as string;
        const s0 = process.hrtime.bigint();
        await sides[name]!();
        const ms = Number(process.hrtime.bigint() - s0) / 1e6;
        if (rep >= warmup) times[name]!.push(ms);
      }
    }
    image.dispose();
    onnxNode.dispose();
    onnxWeb.dispose();
    const timed = <T>(fn: () => T): [number, T] => {
      const s0 = process.hrtime.bigint();
      const v = fn();
      return [Number(process.hrtime.bigint() - s0) / 1e6, v];
    };
    // the same detect with the scalar JS matrix multiply (engines without WebAssembly SIMD)
    useGemm('js');
    const js: number[] = [];
    for (let i = 0; i < 6; i++)
      js.push(timed(() => rt.detect({ data: pixels, width: size, height: size }, { scoreThr: 0 }))[0]);
    useGemm('wasm');
    anchors.dispose();
    const a = times.runtime as number[];
    const b = times.libtorch as number[];
    const runtimeMs = median(a);
    const libtorchMs = median(b);
    const nodeMs = median(times.onnxruntime_node as number[]);
    const webMs = median(times.onnxruntime_web as number[]);
    return {
      network: `${CONFIG} weights ${WEIGHTS}`,
      image: `${size}x${size}`,
      threads: 1,
      model_file_bytes: bytes,
      onnx_file_bytes: onnxBytes,
      runtime_load_ms: loadMs,
      runtime_detect_ms: runtimeMs,
      libtorch_detect_ms: libtorchMs,
      onnxruntime_node_detect_ms: nodeMs,
      onnxruntime_web_detect_ms: webMs,
      runtime_vs_libtorch_ratio: runtimeMs / libtorchMs,
      onnxruntime_node_ratio: nodeMs / libtorchMs,
      onnxruntime_web_ratio: webMs / libtorchMs,
      runtime_js_gemm_detect_ms: median(js.slice(1)),
      wasm_gemm_speedup: median(js.slice(1)) / runtimeMs,
      detections_runtime: counts.runtime,
      detections_libtorch: counts.libtorch,
      detections_onnxruntime_node: counts.onnxruntime_node,
      detections_onnxruntime_web: counts.onnxruntime_web,
    };
  } finally {
    opened.model.dispose();
    rmSync(dir, { recursive: true, force: true });
    setNumThreads(threadsBefore);
  }
}
