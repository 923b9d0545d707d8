// Config -> Strategy.
import { existsSync } from 'node:fs';
import { teacherAssignerRefusal, type Config } from '../config/schema.js';
import { buildAssigner } from './model.js';
import type { AnchorCache } from '../assign/targets.js';
import type { Detector } from '../models/detector.js';
import { SelfAssignStrategy } from '../distill/self_assign.js';
import { TeacherStrategy } from '../distill/lad.js';
import { loadTeacher } from './teacher.js';
import type { Strategy } from '../distill/strategy.js';
import { CoLADStrategy } from '../distill/colad.js';
import { buildColadPair, precheckColad } from './colad.js';
import type { PaaLossOptions } from '../losses/paa_loss.js';

export interface BuiltStrategy {
  strategy: Strategy;
  /** facts to record with the run (teacher source and hash) */
  info: Record<string, unknown>;
}

/** Cheap checks that must fail before any data is made or training starts. */
export function precheckStrategy(config: Config): void {
  const d = config.distill;
  if (d.strategy === 'self') return;
  refuseGeometryOnlyAssigner(config);
  if (d.strategy === 'colad') {
    precheckColad(config);
    return;
  }
  if (!d.teacher) throw new Error(`distill.teacher: strategy '${d.strategy}' needs distill.teacher.config and distill.teacher.weights`);
  if (!existsSync(d.teacher.config)) throw new Error(`distill.teacher.config: ${d.teacher.config} not found`);
  if (!existsSync(d.teacher.weights)) {
    throw new Error(`distill.teacher.weights: ${d.teacher.weights} not found (train the teacher first, or pass distill.teacher.weights=RUN_DIR|FILE)`);
  }
}

type StrategyBuilder = (config: Config, student: () => Detector, numClasses: number, anchors: AnchorCache) => BuiltStrategy;

/** distill.strategy -> how to build it (a new strategy: its file in src/distill/ plus one line here). */
const STRATEGIES: Record<Config['distill']['strategy'], StrategyBuilder> = {
  self: buildSelf,
  lad: buildWithTeacher,
  kd: buildWithTeacher,
  solad: buildWithTeacher,
  colad: buildColad,
};

export function buildStrategy(config: Config, student: () => Detector, numClasses: number, anchors: AnchorCache): BuiltStrategy {
  if (config.distill.strategy !== 'self') refuseGeometryOnlyAssigner(config);
  return STRATEGIES[config.distill.strategy](config, student, numClasses, anchors);
}

function lossWeights(config: Config): PaaLossOptions {
  return { clsWeight: config.loss.clsWeight, bboxWeight: config.loss.bboxWeight, iouWeight: config.loss.iouWeight };
}

/** The network assigns its own labels (PAA, or a geometry-only assigner). */
function buildSelf(config: Config, student: () => Detector, _numClasses: number, anchors: AnchorCache): BuiltStrategy {
  return { strategy: new SelfAssignStrategy(student(), buildAssigner(config), anchors, lossWeights(config), config.assigner.type), info: {} };
}

/** Two networks trained together on one shared assignment. */
function buildColad(config: Config, _student: () => Detector, numClasses: number, anchors: AnchorCache): BuiltStrategy {
  const loss = lossWeights(config);
  const pair = buildColadPair(config, numClasses);
  const c = config.distill.colad;
  // the config's assigner (paa: its topk, preAssignIou and the loss weights as cost weights), used through its costs
  const strategy = new CoLADStrategy(pair, buildAssigner(config), anchors, { switch: c.switch, criterion: c.criterion, loss });
  const info = {
    colad: {
      switch: c.switch,
      criterion: c.criterion,
      evalNet: c.evalNet,
      net2: typeof c.net2 === 'string' ? c.net2 : c.net2 === undefined ? 'model' : 'inline',
      params: [pair.net1.numParameters(), pair.net2.numParameters()],
      ...(c.net1Init ? { net1Init: c.net1Init } : {}),
      ...(c.net2Init ? { net2Init: c.net2Init } : {}),
    },
  };
  return { strategy, info };
}

/** LAD, soft-label KD and SoLAD: a frozen teacher assigns and / or gives soft labels. */
function buildWithTeacher(config: Config, student: () => Detector, numClasses: number, anchors: AnchorCache): BuiltStrategy {
  const d = config.distill;
  if (d.strategy !== 'lad' && d.strategy !== 'kd' && d.strategy !== 'solad') throw new Error(`buildWithTeacher: not a teacher strategy: ${d.strategy}`);
  const teacher = loadTeacher(config, numClasses);
  const net = student();
  try {
    const strategy = new TeacherStrategy(d.strategy, net, teacher.net, buildAssigner(config), anchors, lossWeights(config), { ...d.kd });
    return {
      strategy,
      info: { teacher: { config: teacher.configPath, weights: teacher.weightsPath, sha256: teacher.sha256, params: teacher.net.numParameters(), precision: teacher.net.precision } },
    };
  } catch (e) {
    net.dispose();
    teacher.net.dispose();
    throw e;
  }
}

/** parseConfig refuses these already; configs built in code without it meet the same message here. */
function refuseGeometryOnlyAssigner(config: Config): void {
  const refused = teacherAssignerRefusal(config);
  if (refused !== null) throw new Error(refused);
}
