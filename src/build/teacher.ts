// Loading a frozen teacher: its own preset's model section, weights from a run directory or a safetensors file.
// It always runs in eval mode with no grad, is never part of the student's module tree (so never in the optimizer
// or the student's checkpoint), and the run records where it came from and its weights' SHA-256.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { loadConfig, type Config } from '../config/schema.js';
import { buildDetector, runPrecision } from './model.js';
import { loadWeights, resolveWeights } from './checkpoint.js';
import type { Detector } from '../models/detector.js';

export interface LoadedTeacher {
  net: Detector;
  configPath: string;
  weightsPath: string;
  sha256: string;
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Builds and loads the teacher named by `distill.teacher`; errors name the config key and the file. */
export function loadTeacher(student: Config, numClasses: number): LoadedTeacher {
  const t = student.distill.teacher;
  if (!t) throw new Error(`distill.teacher: strategy '${student.distill.strategy}' needs distill.teacher.config and distill.teacher.weights`);
  if (!existsSync(t.config)) throw new Error(`distill.teacher.config: ${t.config} not found`);
  if (!existsSync(t.weights)) throw new Error(`distill.teacher.weights: ${t.weights} not found (train the teacher first, or pass teacher.weights=RUN_DIR|FILE)`);
  const tc = loadConfig(t.config);
  const a = JSON.stringify(tc.model.anchors);
  const b = JSON.stringify(student.model.anchors);
  if (a !== b) {
    throw new Error(`distill.teacher: the teacher's anchors ${a} differ from the student's ${b}; LAD needs the same anchors`);
  }
  const weightsPath = resolveWeights(t.weights);
  const net = buildDetector(tc.model, numClasses);
  try {
    loadWeights(weightsPath, net, true);
  } catch (e) {
    net.dispose();
    throw new Error(`distill.teacher.weights: ${(e as Error).message} (does distill.teacher.config describe the network these weights came from?)`, { cause: e });
  }
  net.eval();
  net.requiresGrad_(false);
  net.toDevice(student.device);
  // inference only (BN folded into the convs in eval mode, no autograd): bf16 where the student runs in bf16
  net.precision = t.precision ?? runPrecision(student);
  return { net, configPath: t.config, weightsPath, sha256: sha256File(weightsPath) };
}
