// A trained detector for application code: open a run (or weights + config) once, then detect objects in image
// files or encoded image bytes, one image per call, through the same test pipeline and post-processing as
// `ladet test` / `ladet predict`. Holds libtorch memory until dispose().
import { tensor, tidy, type Precision } from '../torch/index.js';
import type { ImageSource } from '../data/image.js';
import type { Category } from '../data/label_map.js';
import type { PipelineConfig } from '../data/transforms.js';
import type { Detector } from '../models/detector.js';
import type { InferenceConfig } from '../models/heads/paa_inference.js';
import type { Overrides } from '../config/overrides.js';
import type { Config } from '../config/schema.js';
import { buildAnchorGenerator, inferenceConfigOf, testPipelineOf } from '../build/model.js';
import { openDetector, resolveModelFiles, type OpenedDetector } from '../engine/open_detector.js';
import { exportRuntime } from '../engine/export_runtime.js';
import { exportOnnx, type OnnxExportOptions } from '../engine/export_onnx.js';
import { detectBatch, loadTestImage, toDetections, type Detection } from '../engine/predict.js';
import { scoreThrOf } from '../det/detection.js';
import { AnchorCache } from '../assign/targets.js';

export interface OpenDetectorOptions {
  /** a run directory: its config.yaml and its best (else last) weights */
  run?: string;
  /** a run directory, a .safetensors file (anywhere: a file the trainer wrote carries its config) or a PyTorch .pth
   * detector checkpoint (mmdetection; give `config` too) */
  weights?: string;
  /** a YAML config; wins over a run's config.yaml */
  config?: string;
  /** CoLAD runs hold two networks: the one to open (default: the one the run evaluated) */
  net?: 1 | 2;
  /** config overrides by dotted key, e.g. { 'data.testScale': [320, 320], 'eval.nmsIou': 0.5 } */
  overrides?: Overrides;
  /** the network's precision (default 'fp32'; 'bf16' or 'auto': mixed precision where the CPU has native bf16;
   * 'fp16' on CUDA) */
  precision?: Precision;
}

export interface DetectOptions {
  /** keep detections scoring at least this (default 0.3, as `ladet predict`) */
  scoreThr?: number;
}

export class TrainedDetector {
  private model: Detector | null;
  private readonly anchors: AnchorCache;
  private readonly pipeline: PipelineConfig;
  private readonly inference: InferenceConfig;
  private readonly opened: OpenedDetector;

  private constructor(opened: OpenedDetector) {
    this.opened = opened;
    this.model = opened.model;
    this.anchors = new AnchorCache(buildAnchorGenerator(opened.config.model), opened.config.device);
    this.pipeline = testPipelineOf(opened.config);
    this.inference = inferenceConfigOf(opened.config);
  }

  /** the resolved config the network was built from */
  get config(): Config {
    return this.opened.config;
  }

  /** the training categories, in the network's label order */
  get classes(): readonly Category[] {
    return this.opened.classes;
  }

  /** the weights file read */
  get weightsPath(): string {
    return this.opened.weightsPath;
  }

  /** CoLAD runs: which network this is; null for a single-network run */
  get net(): 1 | 2 | null {
    return this.opened.net;
  }

  /**
   * Builds the network the config describes and loads the weights, checking every key and shape first. Errors
   * name the file (no config.yaml, weights that do not fit the model, net= on a single-network run, ...).
   */
  static open(o: OpenDetectorOptions): TrainedDetector {
    const files = resolveModelFiles({
      ...(o.run === undefined ? {} : { run: o.run }),
      ...(o.weights === undefined ? {} : { weights: o.weights }),
      ...(o.config === undefined ? {} : { config: o.config }),
    });
    return new TrainedDetector(
      openDetector(files, o.overrides ?? {}, {
        ...(o.net === undefined ? {} : { net: o.net }),
        ...(o.precision === undefined ? {} : { precision: o.precision }),
      }),
    );
  }

  /**
   * The detections in one image (a file path, or its encoded bytes: JPEG, PNG, WebP, ...), best first, in the
   * image's own pixels after EXIF orientation. An image that cannot be read throws an ImageError naming it.
   */
  async detect(image: ImageSource, opts: DetectOptions = {}): Promise<Detection[]> {
    const scoreThr = scoreThrOf(opts.scoreThr);
    this.live();
    const raw = await loadTestImage(image, this.pipeline);
    const model = this.live(); // disposed while the image was decoding?
    const [det] = tidy(() => detectBatch(model, tensor(raw.data, raw.shape), raw.metas, this.anchors, this.inference));
    return toDetections(det!, this.classes, scoreThr);
  }

  /**
   * Writes this network as a runtime model file (as `ladet export`): RuntimeDetector from `ladet/runtime` runs it
   * with plain TypeScript, in a browser or anywhere without libtorch. Returns the file's size in bytes.
   */
  exportRuntime(file: string): number {
    this.live();
    return exportRuntime(this.opened, file);
  }

  /**
   * Writes this network as an ONNX model (as `ladet export format=onnx`, opset 17) for onnxruntime and other ONNX
   * consumers: input images (N, 3, H, W), outputs cls_l, reg_l (and iou_l) per pyramid level; `nms: true` appends
   * the post-processing (outputs boxes, scores, labels, batch_index). Returns the file's size in bytes.
   */
  exportOnnx(file: string, opts: OnnxExportOptions = {}): number {
    this.live();
    return exportOnnx(this.opened, file, opts);
  }

  /** Releases the network's and the anchors' libtorch memory; detect() throws afterwards. Idempotent. */
  dispose(): void {
    if (!this.model) return;
    this.model.dispose();
    this.anchors.dispose();
    this.model = null;
  }

  private live(): Detector {
    if (!this.model) throw new Error('TrainedDetector: used after dispose()');
    return this.model;
  }
}
