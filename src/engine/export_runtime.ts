// `ladet export`: one trained network as a runtime model file (src/runtime/model_file.ts): its float32 weights and
// everything the libtorch-free RuntimeDetector needs to run it, resolved from the run's config here so the runtime
// reads no YAML, presets or CoLAD settings. The network is recorded as the detector's own model description
// (`detector.spec`, src/models/spec.ts), whatever its backbone and head; the runtime refuses what it cannot run.
import { statSync } from 'node:fs';
import { saveSafetensors } from '../io/index.js';
import { dispose, type Tensor } from '../torch/index.js';
import { RUNTIME_FORMAT, RUNTIME_VERSION, runtimeSpecProblem, type RuntimeSpec } from '../runtime/model_file.js';
import { anchorConfig, inferenceConfigOf, testPipelineOf } from '../build/model.js';
import type { OpenedDetector } from './open_detector.js';

/** The runtime spec of an opened network. */
export function runtimeSpecOf(o: OpenedDetector): RuntimeSpec {
  const pipeline = testPipelineOf(o.config);
  const [scale] = pipeline.scales;
  return {
    format: RUNTIME_FORMAT,
    version: RUNTIME_VERSION,
    network: o.model.spec,
    anchors: anchorConfig(o.config.model),
    classes: o.classes.map((c) => ({ id: c.id, name: c.name })),
    input: {
      testScale: [scale![0], scale![1]],
      sizeDivisor: pipeline.sizeDivisor,
      mean: [...pipeline.mean],
      std: [...pipeline.std],
    },
    inference: inferenceConfigOf(o.config),
    source: { weights: o.weightsPath, config: o.configPath, ...(o.net === null ? {} : { net: o.net }) },
  };
}

/** Writes the runtime model file of `o` to `out` (atomically); returns its size in bytes. */
export function exportRuntime(o: OpenedDetector, out: string): number {
  const spec = runtimeSpecOf(o);
  const problem = runtimeSpecProblem(spec);
  if (problem !== null) throw new Error(`ladet/runtime cannot run this network: ${problem}`);
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
