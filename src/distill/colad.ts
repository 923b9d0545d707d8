// CoLAD, co-learning label assignment distillation (algorithms.md §5.6, §10): two detectors, each from its own init,
// trained together with one optimizer on one shared PAA assignment. Per step both networks run forward (train mode,
// with gradient); the candidate costs of each come from its own detached outputs; a switching rule
// (colad_switch.ts) picks whose costs feed the PAA re-assignment; both networks get the LAD losses (mean GIoU) on
// that assignment and the total is their sum. Neither is a frozen teacher: both get gradients.
// The assigner is used only through the CostAssigner interface (src/assign/assignment.ts: candidates, each
// network's costs, decision samples, assignment from chosen costs), so CoLAD co-learns with any assigner that
// exposes its candidate costs; PaaAssigner is the one today.
//
// The two networks are children `net1` and `net2` of one CoLADPair module, so the optimizer sees both and `last`
// checkpoints hold both (keys `net1.…`, `net2.…`); the run evaluates (and saves as `best`, unprefixed) the network
// chosen by distill.colad.evalNet, by default network 2 as the released code (test_cfg.use_teacher=True).
import { noGrad } from '../torch/index.js';
import { Module } from '../nn/index.js';
import type { Detector } from '../models/detector.js';
import { flattenHeadOutputs, levelSizes, type FlatHeadOutputs } from '../models/heads/outputs.js';
import {
  isCostAssigner,
  pickGroupCosts,
  type Assigner,
  type AssignTargets,
  type Assignment,
  type CandidateGroups,
  type CostAssigner,
} from '../assign/assignment.js';
import type { GmmOptions } from '../assign/gmm.js';
import { paaLoss, type PaaLossOptions } from '../losses/paa_loss.js';
import { assignTargets, type AnchorCache } from '../assign/targets.js';
import {
  groupCostStats,
  localSwitch,
  networkSwitch,
  type ColadCriterion,
  type ColadSwitch,
  type SwitchResult,
} from './colad_switch.js';
import type { Strategy, StepInput, StepResult } from './strategy.js';

export type NetIndex = 1 | 2;

/** The two co-trained detectors as one module tree: `net1.…` and `net2.…`. */
export class CoLADPair extends Module {
  readonly net1: Detector;
  readonly net2: Detector;

  constructor(
    net1: Detector,
    net2: Detector,
    /** the network evaluated during training and saved as best */
    readonly evalNet: NetIndex = 2,
  ) {
    super();
    if (net1.numClasses !== net2.numClasses)
      throw new Error(`colad: network 1 predicts ${net1.numClasses} classes, network 2 ${net2.numClasses}`);
    if (net1.strides.join() !== net2.strides.join()) {
      throw new Error(
        `colad: network 1's pyramid strides [${net1.strides.join(', ')}] differ from network 2's [${net2.strides.join(', ')}]`,
      );
    }
    this.net1 = this.registerModule('net1', net1);
    this.net2 = this.registerModule('net2', net2);
  }

  network(k: NetIndex): Detector {
    return k === 1 ? this.net1 : this.net2;
  }

  /** What the trainer evaluates (see trainer.ts). */
  evalNetwork(): Detector {
    return this.network(this.evalNet);
  }
}

export interface CoLADOptions {
  switch?: ColadSwitch;
  criterion?: ColadCriterion;
  /** the GMM of the fisher criterion (the assigner's own GMM is its option) */
  gmm?: GmmOptions;
  /** loss weights; the box term is always the plain mean over positives (LAD / CoLAD) */
  loss?: PaaLossOptions;
}

/** One shared assignment and how it was made. */
export interface CoLADAssignment {
  assignment: Assignment;
  switch: SwitchResult;
  /** per image: each network's candidate costs, and the candidates grouped by (GT, level) */
  costs1: Float32Array[];
  costs2: Float32Array[];
  groups: readonly CandidateGroups[];
}

export class CoLADStrategy implements Strategy {
  readonly name = 'colad';
  /** the shared assigner, used only through its candidate costs (CostAssigner) */
  readonly assigner: CostAssigner;

  constructor(
    readonly trainable: CoLADPair,
    assigner: Assigner,
    readonly anchors: AnchorCache,
    readonly opts: CoLADOptions = {},
  ) {
    if (!isCostAssigner(assigner)) {
      throw new Error(
        'colad: the assigner exposes no candidate costs (CostAssigner: candidates, costs, decisionSamples, assignFromCosts); co-learning needs one, such as paa',
      );
    }
    this.assigner = assigner;
  }

  /**
   * The shared assignment from both networks' flattened outputs (read without gradient): the assigner's candidates,
   * each network's costs on them, the switch, the assigner's decision on the chosen costs.
   */
  assign(t: AssignTargets, flat1: FlatHeadOutputs, flat2: FlatHeadOutputs): CoLADAssignment {
    return noGrad(() => {
      const preds1 = { clsLogits: flat1.cls, regDeltas: flat1.reg, clsKind: flat1.clsKind };
      const preds2 = { clsLogits: flat2.cls, regDeltas: flat2.reg, clsKind: flat2.clsKind };
      const a = this.assigner;
      const set = a.candidates(t);
      try {
        const costs1 = a.costs(t, set, preds1);
        const costs2 = a.costs(t, set, preds2);
        const groups = set.groups;
        const criterion = this.opts.criterion ?? 'stdmean';
        const gmm = this.opts.gmm ?? {};
        const sw =
          (this.opts.switch ?? 'local') === 'local'
            ? localSwitch(groups, costs1, costs2, criterion, gmm)
            : networkSwitch(groups, a.decisionSamples(set, costs1), a.decisionSamples(set, costs2), criterion, gmm);
        const costs = groups.map((g, i) => pickGroupCosts(g, [costs1[i]!, costs2[i]!], sw.choice[i]!));
        const assignment = a.assignFromCosts(t, set, costs);
        return { assignment, switch: sw, costs1, costs2, groups };
      } catch (e) {
        set.labelWeights.dispose();
        throw e;
      }
    });
  }

  step(input: StepInput): StepResult {
    const { net1, net2 } = this.trainable;
    const c = net1.numClasses;
    const out1 = net1.forward(input.images);
    const out2 = net2.forward(input.images);
    const sizes = levelSizes(out1);
    if (JSON.stringify(sizes) !== JSON.stringify(levelSizes(out2))) {
      throw new Error(
        `colad: the networks' feature maps differ (${JSON.stringify(sizes)} vs ${JSON.stringify(levelSizes(out2))})`,
      );
    }
    const flat1 = flattenHeadOutputs(out1, c);
    const flat2 = flattenHeadOutputs(out2, c);
    const t = assignTargets(this.anchors, sizes, input.targets, input.metas, c);
    const t0 = performance.now();
    const a = this.assign(t, flat1, flat2);
    const assignMs = performance.now() - t0;
    // LAD's box loss for both networks: the plain mean GIoU over positives (not PAA's IoU-weighted one)
    const lossOpts = { ...this.opts.loss, boxWeighting: 'mean' as const };
    const l1 = paaLoss(flat1, a.assignment, t.anchors, { ...lossOpts, clsKind: flat1.clsKind });
    const l2 = paaLoss(flat2, a.assignment, t.anchors, { ...lossOpts, clsKind: flat2.clsKind });
    return {
      losses: {
        loss_cls: l1.loss_cls,
        loss_bbox: l1.loss_bbox,
        loss_iou: l1.loss_iou,
        loss_cls_2: l2.loss_cls,
        loss_bbox_2: l2.loss_bbox,
        loss_iou_2: l2.loss_iou,
      },
      logs: { num_pos: a.assignment.numPos, assign_ms: assignMs, ...coladStats(a) },
      assignment: a.assignment,
    };
  }

  dispose(): void {}
}

/**
 * Switch and cost statistics of one assignment, only the finite ones (the trainer rejects non-finite logs):
 * cost_mean / cost_std (network 1) and cost_mean_2 / cost_std_2, averaged over (GT, level) groups as the released
 * code; net2_frac, the fraction of decisions taken with network 2's costs; rho / rho_2, the batch-level rho of each
 * network under the network rule.
 */
export function coladStats(a: CoLADAssignment): Record<string, number> {
  const s1 = groupCostStats(a.groups, a.costs1);
  const s2 = groupCostStats(a.groups, a.costs2);
  const sw = a.switch.stats;
  const out: Record<string, number> = {
    cost_mean: s1.mean,
    cost_std: s1.std,
    cost_mean_2: s2.mean,
    cost_std_2: s2.std,
    net2_frac: sw.decisions > 0 ? sw.byNet2 / sw.decisions : NaN,
    rho: sw.rho1,
    rho_2: sw.rho2,
  };
  for (const [k, v] of Object.entries(out)) if (!Number.isFinite(v)) delete out[k];
  return out;
}
