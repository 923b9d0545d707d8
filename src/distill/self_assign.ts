// The baselines: a network assigns its own labels. PAA computes the cost from the network's own (detached)
// outputs; the max-IoU assigner (RetinaNet style) ignores the outputs. Losses are PAA's (IoU-weighted GIoU; the plain
// mean for heads without the IoU branch), in probability space for COP / IOP heads.
import { noGrad } from '../torch/index.js';
import type { Detector } from '../models/detector.js';
import { flattenHeadOutputs, levelSizes } from '../models/heads/outputs.js';
import type { Assigner } from '../assign/assignment.js';
import { paaLoss, type PaaLossOptions } from '../losses/paa_loss.js';
import { assignTargets, type AnchorCache } from '../assign/targets.js';
import type { Strategy, StepInput, StepResult } from './strategy.js';

export class SelfAssignStrategy implements Strategy {
  readonly name: string;

  constructor(
    readonly trainable: Detector,
    readonly assigner: Assigner,
    readonly anchors: AnchorCache,
    readonly loss: PaaLossOptions = {},
    name = 'paa',
  ) {
    this.name = name;
  }

  step(input: StepInput): StepResult {
    const net = this.trainable;
    const out = net.forward(input.images);
    const flat = flattenHeadOutputs(out, net.numClasses);
    const t = assignTargets(this.anchors, levelSizes(out), input.targets, input.metas, net.numClasses);
    const t0 = performance.now();
    const assignment = noGrad(() =>
      this.assigner.assign(t, { clsLogits: flat.cls.detach(), regDeltas: flat.reg.detach(), clsKind: flat.clsKind }),
    );
    const assignMs = performance.now() - t0;
    // Without the IoU branch the box loss is the plain mean over positives (ccdet's *_BASE heads).
    const losses = paaLoss({ cls: flat.cls, reg: flat.reg, iou: flat.iou }, assignment, t.anchors, {
      boxWeighting: flat.iou ? 'iou' : 'mean',
      ...this.loss,
      clsKind: flat.clsKind,
    });
    return {
      losses: { loss_cls: losses.loss_cls, loss_bbox: losses.loss_bbox, loss_iou: losses.loss_iou },
      logs: { num_pos: assignment.numPos, assign_ms: assignMs },
      assignment,
    };
  }

  dispose(): void {}
}
