// From a validated Config to the objects a run needs: detector, anchor generator, assigner, data pipelines.
import { existsSync } from 'node:fs';
import { resolvePrecision, type RunPrecision } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import { Detector, type DetectorConfig } from '../models/detector.js';
import { loadPretrained, type PretrainedReport } from './pretrained.js';
import { AnchorGenerator, type AnchorConfig } from '../det/anchors.js';
import { createAssigner } from '../assign/registry.js';
import type { Assigner } from '../assign/assignment.js';
import { DEFAULT_MAX_IMAGE_PIXELS } from '../data/image.js';
import { IMAGENET_MEAN, IMAGENET_STD, type PipelineConfig } from '../data/transforms.js';
import type { InferenceConfig } from '../models/heads/paa_inference.js';
import type { Config } from '../config/schema.js';
import { UsageError } from '../config/usage_error.js';

type ModelSection = Config['model'];

export function detectorConfig(model: ModelSection, numClasses: number): DetectorConfig {
  // the backbone section as it is: its type (absent: 'resnet', the registry's default) and that backbone's options;
  // `init` is not the backbone's business (buildDetector loads it)
  const { init: _init, ...backbone } = model.backbone;
  return {
    backbone,
    neck: {
      outChannels: model.neck.outChannels,
      startLevel: model.neck.startLevel,
      numOuts: model.neck.numOuts,
      addExtraConvs: model.neck.addExtraConvs,
    },
    head: {
      numClasses,
      featChannels: model.head.featChannels,
      stackedConvs: model.head.stackedConvs,
      gnGroups: model.head.gnGroups,
      priorProb: model.head.priorProb,
      type: model.head.type,
      iouBranch: model.head.iouBranch,
      coeffKernelSize: model.head.coeffKernelSize,
      numAnchors: model.anchors.ratios.length * model.anchors.scalesPerOctave,
    },
  };
}

export interface BuildOptions {
  /** Load `model.backbone.init` when the section names one (a run's start; not when its weights are loaded next). */
  init?: boolean;
  /** Told what the init loaded (mapped / dropped / converted), for the run log. */
  onInit?: (report: PretrainedReport) => void;
}

export function buildDetector(model: ModelSection, numClasses: number, opts: BuildOptions = {}): Detector {
  const det = new Detector(detectorConfig(model, numClasses));
  const init = model.backbone.init;
  if (opts.init === true && init !== undefined) {
    try {
      if (!existsSync(init)) throw new Error(`${init} not found`);
      // (not inside `onInit?.(...)`: an optional call skips evaluating its argument)
      const report = loadPretrained(init, det, { part: 'backbone' });
      opts.onInit?.(report);
    } catch (e) {
      det.dispose();
      throw new Error(`model.backbone.init: ${(e as Error).message}`, { cause: e });
    }
  }
  const strides = model.anchors.strides;
  if (det.strides.length !== strides.length || det.strides.some((s, i) => s !== strides[i])) {
    det.dispose();
    throw new Error(
      `model.anchors.strides [${strides.join(', ')}] do not match the network's pyramid strides [${det.strides.join(', ')}] ` +
        '(set neck.numOuts / neck.startLevel or the anchor strides)',
    );
  }
  return det;
}

/** The anchor settings of a config's model section: the generator's input, and what a runtime model file records. */
export function anchorConfig(model: Pick<ModelSection, 'anchors'>): AnchorConfig {
  const a = model.anchors;
  return { strides: [...a.strides], ratios: [...a.ratios], octaveBaseScale: a.octaveBaseScale, scalesPerOctave: a.scalesPerOctave, centerOffset: 0 };
}

export function buildAnchorGenerator(model: ModelSection): AnchorGenerator {
  return new AnchorGenerator(anchorConfig(model));
}

/** The assigner `config.assigner` names (src/assign/registry.ts); PAA's cost weighs its terms as the losses do. */
export function buildAssigner(config: Config): Assigner {
  return createAssigner(config.assigner, { clsWeight: config.loss.clsWeight, giouWeight: config.loss.bboxWeight });
}

export function trainPipelineOf(config: Config): PipelineConfig {
  const d = config.data;
  return {
    scales: d.trainScales.map(([a, b]) => [a, b] as const),
    multiscaleMode: d.multiscaleMode,
    flipProb: d.flipProb,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    sizeDivisor: d.sizeDivisor,
    maxImagePixels: d.maxImagePixels ?? DEFAULT_MAX_IMAGE_PIXELS,
  };
}

export function testPipelineOf(config: Config): PipelineConfig {
  const d = config.data;
  return {
    scales: [d.testScale],
    multiscaleMode: 'value',
    flipProb: 0,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    sizeDivisor: d.sizeDivisor,
    maxImagePixels: d.maxImagePixels ?? DEFAULT_MAX_IMAGE_PIXELS,
  };
}

export function inferenceConfigOf(config: Config): InferenceConfig {
  const e = config.eval;
  return { nmsPre: e.nmsPre, scoreThr: e.scoreThr, nmsIou: e.nmsIou, maxPerImg: e.maxPerImg, scoreVoting: e.scoreVoting };
}

/** The precision a config's run computes in: train.precision, absent meaning 'auto' (resolved for its device). */
export function runPrecision(config: Pick<Config, 'train' | 'device'>): RunPrecision {
  try {
    return resolvePrecision(config.train?.precision ?? 'auto', config.device);
  } catch (e) {
    throw new UsageError(`train.precision: ${(e as Error).message}`);
  }
}

/** Sets the forward precision of every detector in a module tree (a student, a CoLAD pair); returns how many. */
export function setPrecision(module: Module, precision: RunPrecision): number {
  let n = 0;
  for (const [, m] of module.namedModules()) {
    if (m instanceof Detector) {
      m.precision = precision;
      n++;
    }
  }
  return n;
}
