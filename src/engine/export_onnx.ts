// `ladet export format=onnx`: one trained network as an ONNX model (opset 17, IR 8) that onnxruntime (Node, web,
// mobile, GPU providers) and other ONNX consumers run. The graph is the model description's own forward pass:
// ladet/runtime's Network (built from `detector.spec` and the weights, BatchNorms folded as in eval mode) run with
// OnnxOps (onnx_ops.ts), which records each step as nodes; nms=true appends the post-processing (onnx_nms.ts).
// Contract (README "ONNX", docs/testing-predicting.md):
//   input  images (N, 3, H, W) float32, resized and normalised by the consumer ((pixel - mean) / std, RGB), H and W
//          multiples of the size divisor (padded);
//   output per pyramid level l (finest first) cls_l (N, A·C, h_l, w_l), reg_l (N, A·4, h_l, w_l), iou_l (N, A, h_l,
//          w_l) when the head has the IoU branch: what src/runtime/postprocess.ts's LevelOutputs takes per image;
//   nms=true adds input image_sizes (N, 2) and outputs boxes (K, 4), scores (K), labels (K), batch_index (K).
//   metadata_props: ladet.runtime_spec (the runtime model file's spec: network, anchors, classes, input, inference)
//   and plain keys (ladet.version, ladet.classes, ladet.cls_kind, ladet.mean, ladet.std, ladet.test_scale,
//   ladet.size_divisor, ladet.nms).
import { OnnxGraph, writeOnnxModel, type OnnxModel } from '../io/onnx.js';
import { dispose, type Tensor } from '../torch/index.js';
import { AnchorGrid } from '../det/anchor_grid.js';
import { Network, type StateDict } from '../runtime/network.js';
import { runtimeSpecProblem, type RuntimeSpec } from '../runtime/model_file.js';
import { pyramidStrides } from '../models/spec.js';
import { runtimeSpecOf } from './export_runtime.js';
import { OnnxOps } from './onnx_ops.js';
import { appendNms } from './onnx_nms.js';
import { codeVersion } from './code_version.js';
import type { OpenedDetector } from './open_detector.js';

export const ONNX_OPSET = 17;

export interface OnnxExportOptions {
  /** append score threshold, per-level top-k, NonMaxSuppression and max-per-image (default false) */
  nms?: boolean;
}

/** The network's float32 weights as ladet/runtime reads them (copied out of libtorch). */
function stateDictOf(o: OpenedDetector): StateDict {
  const sd = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  for (const [k, v] of o.model.stateDict()) {
    if (k.endsWith('num_batches_tracked')) continue; // a training counter, not a weight
    const t: Tensor = v.dtype === 'float32' ? v : v.to('float32');
    try {
      sd.set(k, { data: t.toTypedArray<'float32'>(), shape: [...t.shape] });
    } finally {
      if (t !== v) dispose([t]);
    }
  }
  return sd;
}

/**
 * The ONNX model of an opened network and its runtime spec. The spec must be one ladet/runtime runs (its backbone
 * kernels are what write the graph); the error names the field otherwise.
 */
export function onnxModelOf(o: OpenedDetector, opts: OnnxExportOptions = {}): { model: OnnxModel; spec: RuntimeSpec } {
  const spec = runtimeSpecOf(o);
  const problem = runtimeSpecProblem(spec);
  if (problem !== null) throw new Error(`ONNX export cannot write this network: ${problem}`);
  const network = new Network(spec.network, stateDictOf(o));
  const head = network.spec.head;
  const grid = new AnchorGrid(spec.anchors);
  const A = grid.numBaseAnchors;
  const C = head.numClasses;
  const strides = pyramidStrides(network.spec);
  if (strides.length !== grid.numLevels)
    throw new Error(`ONNX export: the network has ${strides.length} pyramid levels, the anchors ${grid.numLevels}`);

  const g = new OnnxGraph();
  const d = spec.input.sizeDivisor;
  const images = g.input({
    name: 'images',
    type: 'float32',
    shape: ['N', 3, 'H', 'W'],
    doc:
      `RGB images resized (keep ratio, to at most ${spec.input.testScale.join('x')}) and normalised ((pixel - mean) / std, ` +
      `mean ${JSON.stringify(spec.input.mean)}, std ${JSON.stringify(spec.input.std)}, pixels 0..255), zero-padded at ` +
      `the bottom and right to H, W multiples of ${d}`,
  });
  const levels = network.run(new OnnxOps(g), images);
  const clsWhat =
    network.clsKind === 'logits' ? 'class logits (sigmoid gives probabilities)' : 'class probabilities (in [0, 1])';
  levels.forEach((lv, l) => {
    const s = strides[l] as number;
    const [h, w] = [`H/${s}`, `W/${s}`];
    const out = (v: string, name: string, channels: number, what: string): void => {
      g.node('Identity', [v], {}, [name]);
      const doc = `${what}; pyramid level ${l}, stride ${s}: (N, ${channels}, H/${s}, W/${s})`;
      g.output({ name, type: 'float32', shape: ['N', channels, h, w], doc });
    };
    out(lv.cls, `cls_${l}`, A * C, `${clsWhat}: channel a·${C} + c is anchor a's class c`);
    out(
      lv.reg,
      `reg_${l}`,
      A * 4,
      `box deltas dx, dy, dw, dh of anchor a at channels 4a..4a+3 (DeltaXYWH, stds 0.1, 0.1, 0.2, 0.2)`,
    );
    if (lv.iou !== null) out(lv.iou, `iou_${l}`, A, 'IoU logits of anchor a at channel a');
  });

  if (opts.nms) {
    const sizes = g.input({
      name: 'image_sizes',
      type: 'float32',
      shape: ['N', 2],
      doc: "each image's (height, width) inside the padded input, in input pixels: boxes are clipped to it",
    });
    const t = appendNms(g, images, levels, sizes, spec.anchors, C, network.clsKind, spec.inference);
    const frame = "in the network input's pixels (divide by the resize factor for the original image)";
    const outs: [string, string, 'float32' | 'int64', (number | string)[], string][] = [
      [t.boxes, 'boxes', 'float32', ['K', 4], `x1, y1, x2, y2 ${frame}, clipped to image_sizes`],
      [t.scores, 'scores', 'float32', ['K'], "detection scores, each image's in decreasing order"],
      [t.labels, 'labels', 'int64', ['K'], `class index 0..${C - 1} (metadata ladet.classes)`],
      [t.batchIndex, 'batch_index', 'int64', ['K'], 'the image of the batch each detection belongs to, ascending'],
    ];
    for (const [v, name, type, shape, doc] of outs) {
      g.node('Identity', [v], {}, [name]);
      g.output({ name, type, shape, doc });
    }
  }

  const version = codeVersion().version;
  const metadata: [string, string][] = [
    ['ladet.runtime_spec', JSON.stringify(spec)],
    ['ladet.version', version],
    ['ladet.classes', JSON.stringify(spec.classes)],
    ['ladet.cls_kind', network.clsKind],
    ['ladet.mean', JSON.stringify(spec.input.mean)],
    ['ladet.std', JSON.stringify(spec.input.std)],
    ['ladet.test_scale', JSON.stringify(spec.input.testScale)],
    ['ladet.size_divisor', String(d)],
  ];
  if (opts.nms) {
    const { nmsPre, scoreThr, nmsIou, maxPerImg } = spec.inference;
    metadata.push(['ladet.nms', JSON.stringify({ nmsPre, scoreThr, nmsIou, maxPerImg, scoreVoting: false })]);
  }
  const model = g.model({
    opset: ONNX_OPSET,
    producerName: 'ladet',
    producerVersion: version,
    graphName: `ladet_${head.type}_detector`,
    doc:
      `ladet ${head.type.toUpperCase()} detector (${spec.classes.length} classes), exported from ${o.weightsPath}` +
      `${o.net === null ? '' : ` network ${o.net}`}. Outputs per level: cls_l, reg_l${head.iouBranch ? ', iou_l' : ''}` +
      `${opts.nms ? '; and boxes, scores, labels, batch_index after NMS' : ''}. Post-processing settings, anchors and ` +
      'classes: metadata ladet.runtime_spec.',
    metadata,
  });
  return { model, spec };
}

/** Writes the ONNX model of `o` to `out` (atomically); returns its size in bytes. */
export function exportOnnx(o: OpenedDetector, out: string, opts: OnnxExportOptions = {}): number {
  return writeOnnxModel(out, onnxModelOf(o, opts).model);
}
