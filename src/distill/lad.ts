// Teacher-driven strategies (algorithms.md §4-5.3), all from one teacher pass per step on the same batch:
//   lad    the teacher's outputs feed the PAA assignment; the student gets the LAD losses (mean GIoU)
//   kd     soft-label distillation only (no GT losses), as the released KD model
//   solad  LAD losses + soft-label losses
import { noGrad, type Tensor } from '../torch/index.js';
import type { Detector } from '../models/detector.js';
import { flattenHeadOutputs, levelSizes, type FlatHeadOutputs } from '../models/heads/outputs.js';
import type { Assigner, Assignment } from '../assign/assignment.js';
import { paaLoss, type PaaLossOptions } from '../losses/paa_loss.js';
import { softLabelLoss, type SoftLabelOptions } from '../losses/soft_label.js';
import { assignTargets, type AnchorCache } from '../assign/targets.js';
import type { Strategy, StepInput, StepResult } from './strategy.js';

export type TeacherMode = 'lad' | 'kd' | 'solad';

export class TeacherStrategy implements Strategy {
  constructor(
    readonly name: TeacherMode,
    readonly trainable: Detector,
    readonly teacher: Detector,
    readonly assigner: Assigner,
    readonly anchors: AnchorCache,
    readonly loss: PaaLossOptions,
    readonly kd: SoftLabelOptions,
  ) {
    if (teacher.numClasses !== trainable.numClasses) {
      throw new Error(`teacher predicts ${teacher.numClasses} classes, the student ${trainable.numClasses}`);
    }
    if (teacher.strides.join() !== trainable.strides.join()) {
      throw new Error(
        `teacher pyramid strides [${teacher.strides.join(', ')}] differ from the student's [${trainable.strides.join(', ')}]`,
      );
    }
    if (name !== 'lad' && (teacher.head.clsKind === 'probs' || trainable.head.clsKind === 'probs')) {
      // The soft-label loss compares sigmoid logits; COP / IOP heads output probabilities.
      throw new Error(
        `distill.strategy '${name}': soft-label distillation needs logit heads (model.head.type paa) for teacher and student`,
      );
    }
  }

  /** The teacher's flattened outputs for a batch (eval mode, no grad). */
  teacherOutputs(images: Tensor): FlatHeadOutputs {
    this.teacher.eval();
    return noGrad(() => flattenHeadOutputs(this.teacher.forward(images), this.trainable.numClasses));
  }

  /** The assignment the teacher gives a batch: what the student is trained on under LAD. */
  teacherAssignment(input: StepInput): Assignment {
    const tflat = this.teacherOutputs(input.images);
    const sizes = this.anchors.generator.featmapSizes([input.images.dim(2), input.images.dim(3)]);
    const t = assignTargets(this.anchors, sizes, input.targets, input.metas, this.trainable.numClasses);
    return noGrad(() =>
      this.assigner.assign(t, { clsLogits: tflat.cls, regDeltas: tflat.reg, clsKind: tflat.clsKind }),
    );
  }

  step(input: StepInput): StepResult {
    const c = this.trainable.numClasses;
    const t0 = performance.now();
    const tflat = this.teacherOutputs(input.images);
    const teacherMs = performance.now() - t0;
    const out = this.trainable.forward(input.images);
    const sflat = flattenHeadOutputs(out, c);
    const t = assignTargets(this.anchors, levelSizes(out), input.targets, input.metas, c);
    const r: StepResult & { logOrder: string[] } = {
      losses: {},
      logs: { teacher_ms: teacherMs },
      logOrder: ['teacher_ms'],
    };
    if (this.name !== 'kd') {
      const t1 = performance.now();
      const assignment = noGrad(() =>
        this.assigner.assign(t, { clsLogits: tflat.cls, regDeltas: tflat.reg, clsKind: tflat.clsKind }),
      );
      r.logs.assign_ms = performance.now() - t1;
      // LAD's box loss is the plain mean GIoU over positives (not PAA's IoU-weighted one)
      const l = paaLoss(sflat, assignment, t.anchors, { ...this.loss, boxWeighting: 'mean', clsKind: sflat.clsKind });
      Object.assign(r.losses, { loss_cls: l.loss_cls, loss_bbox: l.loss_bbox, loss_iou: l.loss_iou });
      r.logs.teacher_num_pos = assignment.numPos;
      r.logOrder.push('assign_ms', 'loss_cls', 'loss_bbox', 'loss_iou', 'teacher_num_pos');
      r.assignment = assignment;
    }
    if (this.name !== 'lad') {
      const k = softLabelLoss(sflat, tflat, t.anchors, t.validFlags, t.gtBoxes, input.metas, this.kd);
      Object.assign(r.losses, { loss_kd_cls: k.loss_kd_cls, loss_kd_iou: k.loss_kd_iou, loss_kd_bbox: k.loss_kd_bbox });
      r.logs.kd_norm = k.kdNorm;
      r.logOrder.push('loss_kd_cls', 'loss_kd_iou', 'loss_kd_bbox', 'kd_norm');
    }
    return r;
  }

  dispose(): void {
    this.teacher.dispose();
  }
}
