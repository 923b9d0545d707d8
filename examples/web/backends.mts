// The web page's two ways to run a ladet detector on an image's pixels, behind one interface: ladet/runtime (the
// network in TypeScript + WebAssembly SIMD, from a `ladet export` .safetensors) and onnxruntime-web (the network in
// its wasm build, from a `ladet export format=onnx` .onnx). Both prepare the input with ladet/runtime's
// prepareImage and turn head outputs into detections with its detectionsFromOutputs, so they differ only in who
// runs the network. No DOM here: page.mts does the page, this the detection.
import {
  RuntimeDetector,
  detectionsFromOutputs,
  onnxRuntimeSpec,
  prepareImage,
  type LevelOutputs,
  type RuntimeDetection,
  type RuntimeImage,
  type RuntimeSpec,
} from 'ladet/runtime';
import type * as Ort from 'onnxruntime-web/wasm';

export type BackendName = 'runtime' | 'onnx';

export const BACKEND_LABELS: Readonly<Record<BackendName, string>> = {
  runtime: 'ladet/runtime',
  onnx: 'onnxruntime-web (wasm)',
};

/** A loaded model on one backend. */
export interface Backend {
  readonly name: BackendName;
  /** where the model came from (a URL or a file name) */
  readonly model: string;
  readonly spec: RuntimeSpec;
  /** the detections with score >= scoreThr, best first, in the image's pixels */
  detect(image: RuntimeImage, scoreThr: number): Promise<RuntimeDetection[]>;
  release(): Promise<void>;
}

/** A runtime model file (`ladet export out=M.safetensors`) on ladet/runtime. Throws, naming `model`, on a bad file. */
export function runtimeBackend(bytes: Uint8Array, model: string): Backend {
  const detector = RuntimeDetector.fromBytes(bytes, model);
  return {
    name: 'runtime',
    model,
    spec: detector.spec,
    detect: async (image, scoreThr) => detector.detect(image, { scoreThr }),
    release: async () => undefined,
  };
}

/**
 * An ONNX model (`ladet export format=onnx out=M.onnx`) on onnxruntime-web (`loadOrt` imports it): its spec from
 * the file's metadata, the session on the wasm execution provider. The graph takes `images` (N, 3, H, W), the prepared input, and gives
 * per level l (finest first) `cls_l` (N, A·C, h, w), `reg_l` (N, A·4, h, w) and, with the IoU branch, `iou_l`
 * (N, A, h, w): image 0 of each is the per-image CHW that detectionsFromOutputs takes.
 */
export async function onnxBackend(
  loadOrt: () => Promise<typeof Ort>,
  bytes: Uint8Array,
  model: string,
): Promise<Backend> {
  const spec = onnxRuntimeSpec(bytes, model); // before onnxruntime loads: a wrong file fails at once, by name
  const ort = await loadOrt();
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  const numLevels = spec.anchors.strides.length;
  const withIou = spec.network.head.iouBranch;
  const want = [
    ...Array.from({ length: numLevels }, (_, l) => [`cls_${l}`, `reg_${l}`, ...(withIou ? [`iou_${l}`] : [])]).flat(),
  ];
  const missing = want.filter((n) => !session.outputNames.includes(n));
  if (!session.inputNames.includes('images') || missing.length) {
    await session.release();
    throw new Error(
      `${model}: not the graph ladet exports (inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')}; ` +
        `needs input images and outputs ${want.join(', ')})`,
    );
  }
  const plane = (
    out: Ort.InferenceSession.OnnxValueMapType,
    name: string,
  ): { data: Float32Array; h: number; w: number } => {
    const t = out[name] as Ort.Tensor;
    if (t.type !== 'float32' || t.dims.length !== 4 || t.dims[0] !== 1)
      throw new Error(`${model}: output ${name} is ${t.type} [${t.dims.join(', ')}], not float32 [1, C, h, w]`);
    return { data: t.data as Float32Array, h: t.dims[2] as number, w: t.dims[3] as number };
  };
  return {
    name: 'onnx',
    model,
    spec,
    detect: async (image, scoreThr) => {
      const { input, meta } = prepareImage(image, spec.input);
      const feed = new ort.Tensor('float32', input.data, [1, input.c, input.h, input.w]);
      const out = await session.run({ images: feed });
      try {
        const levels: LevelOutputs[] = Array.from({ length: numLevels }, (_, l) => {
          const cls = plane(out, `cls_${l}`);
          return {
            cls: cls.data,
            reg: plane(out, `reg_${l}`).data,
            iou: withIou ? plane(out, `iou_${l}`).data : null,
            h: cls.h,
            w: cls.w,
          };
        });
        return detectionsFromOutputs(spec, levels, meta, { scoreThr });
      } finally {
        for (const t of Object.values(out)) (t as Ort.Tensor).dispose();
        feed.dispose();
      }
    },
    release: () => session.release(),
  };
}
