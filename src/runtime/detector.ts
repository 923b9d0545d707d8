// RuntimeDetector: a trained ladet detector running on plain TypeScript (no libtorch, no Node APIs), for browsers,
// workers, Deno or any Node without the native addon. The same pipeline as ladet's test path: keep-ratio resize to
// the test scale, normalise, pad, network, PAA post-processing, boxes back in the image's pixels.
// prepareImage and detectionsFromOutputs are its two halves around the network, exported so that a network run
// elsewhere (onnxruntime on the model `ladet export format=onnx` writes) gets the same input and the same detections.
import { normalizeTables, padTo, rescaleSize, writeNormalizedChw, type ImageMeta } from '../data/transforms.js';
import { Network } from './network.js';
import { detectFromOutputs, type LevelOutputs } from './postprocess.js';
import { parseRuntimeModel, type RuntimeSpec } from './model_file.js';
import { resizeBilinear } from './resize.js';
import { scoreThrOf, toDetections, type Detection } from '../det/detection.js';

/** 8-bit pixels, row-major: RGB (channels 3) or RGBA (channels 4, alpha ignored), e.g. a canvas ImageData. */
export interface RuntimeImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** default: data.length / (width · height) */
  channels?: 3 | 4;
}

/** One detection in the image's pixels (the shape TrainedDetector.detect returns). */
export type RuntimeDetection = Detection;

/** One image as the network takes it: (3, h, w) CHW float32, and what maps its boxes back to the image's pixels. */
export interface PreparedImage {
  input: { data: Float32Array; c: 3; h: number; w: number };
  meta: ImageMeta;
}

export class RuntimeDetector {
  readonly spec: RuntimeSpec;
  private readonly network: Network;

  private constructor(spec: RuntimeSpec, network: Network) {
    this.spec = spec;
    this.network = network;
  }

  /** A runtime model file's bytes (`ladet export`): e.g. `new Uint8Array(await (await fetch(url)).arrayBuffer())`. */
  static fromBytes(bytes: Uint8Array | ArrayBuffer, name?: string): RuntimeDetector {
    const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    const { spec, weights } = parseRuntimeModel(u8, name);
    try {
      return new RuntimeDetector(spec, new Network(spec.network, weights));
    } catch (e) {
      throw new Error(`${name ?? 'runtime model'}: ${(e as Error).message.replace(/^runtime model: /, '')}`, {
        cause: e,
      });
    }
  }

  get classes(): readonly { id: number; name: string }[] {
    return this.spec.classes;
  }

  /** The detections with score >= scoreThr (default 0.3), best first. */
  detect(image: RuntimeImage, opts: { scoreThr?: number } = {}): RuntimeDetection[] {
    const scoreThr = scoreThrOf(opts.scoreThr);
    const { input, meta } = prepareImage(image, this.spec.input);
    const levels = this.network.forward(input);
    return detectionsFromOutputs(
      this.spec,
      levels.map((l) => ({ cls: l.cls.data, reg: l.reg.data, iou: l.iou ? l.iou.data : null, h: l.cls.h, w: l.cls.w })),
      meta,
      { scoreThr },
    );
  }
}

/**
 * The network input of one image, as ladet's test pipeline makes it: keep-ratio resize to input.testScale,
 * normalisation by input.mean / input.std, zeros (after normalisation) right and below up to multiples of
 * input.sizeDivisor; `meta` maps boxes back to the image's pixels (detectionsFromOutputs takes it).
 */
export function prepareImage(image: RuntimeImage, input: RuntimeSpec['input']): PreparedImage {
  const { width, height } = image;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0))
    throw new Error(`detect: image width and height must be positive whole numbers (got ${width}x${height})`);
  const channels = image.channels ?? image.data.length / (width * height);
  if (channels !== 3 && channels !== 4)
    throw new Error(
      `detect: image data must hold 3 (RGB) or 4 (RGBA) bytes per pixel (got ${image.data.length} bytes for ${width}x${height})`,
    );
  if (image.data.length !== width * height * channels)
    throw new Error(
      `detect: image data holds ${image.data.length} bytes, ${width}x${height}x${channels} needs ${width * height * channels}`,
    );
  let rgb: Uint8Array = new Uint8Array(width * height * 3);
  if (channels === 3) {
    rgb.set(image.data);
  } else {
    for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
      rgb[i] = image.data[j] as number;
      rgb[i + 1] = image.data[j + 1] as number;
      rgb[i + 2] = image.data[j + 2] as number;
    }
  }
  const r = rescaleSize(width, height, input.testScale);
  if (r.width !== width || r.height !== height) rgb = resizeBilinear(rgb, width, height, r.width, r.height);
  const imgShape: [number, number] = [r.height, r.width];
  const padShape = padTo(imgShape, input.sizeDivisor);
  const data = new Float32Array(3 * padShape[0] * padShape[1]);
  const tables = normalizeTables(input.mean, input.std);
  writeNormalizedChw(rgb, r.width, r.height, false, tables, data, 0, padShape[0], padShape[1]);
  const meta: ImageMeta = {
    imageId: 1,
    file: '(image)',
    oriShape: [height, width],
    imgShape,
    padShape,
    scaleFactor: [r.sx, r.sy, r.sx, r.sy],
    flip: false,
  };
  return { input: { data, c: 3, h: padShape[0], w: padShape[1] }, meta };
}

/**
 * An image's detections (score >= opts.scoreThr, default 0.3, best first) from the head outputs of its prepared
 * input (finest level first, per-image CHW; cls holds logits for PAA heads, probabilities for COP / IOP, as
 * spec.network.head.type says): what RuntimeDetector.detect does after its network.
 */
export function detectionsFromOutputs(
  spec: RuntimeSpec,
  levels: readonly LevelOutputs[],
  meta: ImageMeta,
  opts: { scoreThr?: number } = {},
): RuntimeDetection[] {
  const scoreThr = scoreThrOf(opts.scoreThr);
  const head = spec.network.head;
  const det = detectFromOutputs(
    levels,
    spec.anchors,
    meta,
    head.numClasses,
    spec.inference,
    (head.type ?? 'paa') === 'paa' ? 'logits' : 'probs',
  );
  return toDetections(det, spec.classes, scoreThr);
}
