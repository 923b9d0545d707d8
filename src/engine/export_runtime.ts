// `ladet export`: one trained network as a runtime model file (src/runtime/model_file.ts): its float32 weights and
// everything the libtorch-free RuntimeDetector needs to run it, resolved from the run's config here so the runtime
// reads no YAML, presets or CoLAD settings.
import { statSync } from 'node:fs';
import { saveSafetensors } from '../io/index.js';
import { dispose, type Tensor } from '../torch/index.js';
import { COPHead } from '../models/heads/cop_head.js';
import { IOPHead } from '../models/heads/iop_head.js';
import { RUNTIME_FORMAT, RUNTIME_VERSION, type RuntimeSpec } from '../runtime/model_file.js';
import { anchorConfig, inferenceConfigOf, testPipelineOf } from '../build/model.js';
import type { OpenedDetector } from './open_detector.js';

/** The runtime spec of an opened network (PAA, COP or IOP head). */
export function runtimeSpecOf(o: OpenedDetector): RuntimeSpec {
  const m = o.model;
  const type = m.head instanceof COPHead ? 'cop' : m.head instanceof IOPHead ? 'iop' : 'paa';
  const pipeline = testPipelineOf(o.config);
  const [scale] = pipeline.scales;
  const tower = m.head.clsConvs.items;
  return {
    format: RUNTIME_FORMAT,
    version: RUNTIME_VERSION,
    network: {
      backbone: { depth: m.backbone.depth, baseChannels: m.backbone.baseChannels },
      neck: {
        outChannels: m.config.neck.outChannels,
        startLevel: m.neck.startLevel,
        numOuts: m.neck.numOuts,
        addExtraConvs: m.neck.addExtraConvs,
        reluBeforeExtraConvs: m.neck.reluBeforeExtraConvs,
      },
      head: {
        numClasses: m.numClasses,
        stackedConvs: tower.length,
        gnGroups: tower.length ? (tower[0]!.norm as { numGroups: number }).numGroups : 1,
        iouBranch: m.head.atssCenterness !== null,
        type,
        ...(m.head instanceof COPHead ? { coeffKernelSize: m.head.coeffKernelSize } : {}),
      },
    },
    anchors: anchorConfig(o.config.model),
    classes: o.classes.map((c) => ({ id: c.id, name: c.name })),
    input: { testScale: [scale![0], scale![1]], sizeDivisor: pipeline.sizeDivisor, mean: [...pipeline.mean], std: [...pipeline.std] },
    inference: inferenceConfigOf(o.config),
    source: { weights: o.weightsPath, config: o.configPath, ...(o.net === null ? {} : { net: o.net }) },
  };
}

/** Writes the runtime model file of `o` to `out` (atomically); returns its size in bytes. */
export function exportRuntime(o: OpenedDetector, out: string): number {
  const spec = runtimeSpecOf(o);
  const tensors: Record<string, Tensor> = {};
  const owned: Tensor[] = [];
  try {
    for (const [k, v] of o.model.stateDict()) {
      if (k.endsWith('num_batches_tracked')) continue; // a training counter, not a weight
      if (v.dtype === 'float32') tensors[k] = v;
      else owned.push((tensors[k] = v.to('float32')));
    }
    saveSafetensors(out, tensors, { ladet_runtime: JSON.stringify(spec) });
  } finally {
    dispose(owned);
  }
  return statSync(out).size;
}
