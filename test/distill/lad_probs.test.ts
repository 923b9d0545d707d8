import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed, noGrad, setNumThreads, tidy } from '../../src/torch/index.js';
import { parseConfig } from '../../src/config/schema.js';
import { buildAnchorGenerator, buildAssigner, buildDetector } from '../../src/build/model.js';
import { AnchorCache, assignTargets } from '../../src/assign/targets.js';
import { TeacherStrategy } from '../../src/distill/lad.js';
import { sumLosses } from '../../src/distill/strategy.js';
import { SelfAssignStrategy } from '../../src/distill/self_assign.js';
import { flattenHeadOutputs } from '../../src/models/heads/outputs.js';
import { disposeAssignment } from '../../src/assign/assignment.js';

setNumThreads(1);

const section = (type: 'paa' | 'cop' | 'iop', iouBranch: boolean) => ({
  backbone: { depth: 18 as const, widthMultiplier: 0.25, normEval: true },
  neck: { outChannels: 16, numOuts: 3 },
  head: { featChannels: 16, stackedConvs: 1, gnGroups: 4, type, iouBranch },
  anchors: { strides: [8, 16, 32], octaveBaseScale: 4 },
});
import { batch } from './fixture.js';

const cfg = (type: 'paa' | 'cop' | 'iop', iou: boolean) =>
  parseConfig({ name: 't', data: { root: 'u' }, model: section(type, iou) });

test('LAD with a COP / IOP teacher: PAA on the teacher probabilities; every head type trains with self-assignment', () => {
  const anchors = new AnchorCache(buildAnchorGenerator(cfg('paa', true).model));
  const input = batch();
  for (const [type, iou] of [
    ['cop', true],
    ['cop', false],
    ['iop', true],
    ['iop', false],
  ] as const) {
    manualSeed(1);
    const teacher = buildDetector(cfg(type, iou).model, 3);
    const student = buildDetector(cfg('paa', true).model, 3);
    const lad = new TeacherStrategy('lad', student, teacher, buildAssigner(cfg('paa', true)), anchors, {}, {});
    tidy(() => {
      const viaLad = lad.teacherAssignment(input);
      teacher.eval();
      const flat = noGrad(() => flattenHeadOutputs(teacher.forward(input.images), 3));
      assert.equal(flat.clsKind, 'probs');
      assert.equal(flat.iou === null, !iou);
      const t = assignTargets(
        anchors,
        [
          [8, 8],
          [4, 4],
          [2, 2],
        ],
        input.targets,
        input.metas,
        3,
      );
      const direct = buildAssigner(cfg('paa', true)).assign(t, {
        clsLogits: flat.cls,
        regDeltas: flat.reg,
        clsKind: 'probs',
      });
      assert.ok(direct.numPos > 0);
      assert.ok(viaLad.posInds.equal(direct.posInds) && viaLad.labels.equal(direct.labels));
      disposeAssignment(viaLad);
      disposeAssignment(direct);
      // the student learns from it; a COP / IOP student self-assigns and trains too
      assert.ok(Number.isFinite(sumLosses(lad.step(input).losses).item()));
      teacher.train();
      const self = new SelfAssignStrategy(teacher, buildAssigner(cfg(type, iou)), anchors, {}).step(input);
      const selfTotal = sumLosses(self.losses);
      assert.ok(Number.isFinite(selfTotal.item()) && self.logs.num_pos! > 0);
      if (!iou) assert.equal(self.losses.loss_iou!.item(), 0);
      selfTotal.backward();
    });
    assert.throws(() => new TeacherStrategy('kd', student, teacher, buildAssigner(cfg('paa', true)), anchors, {}, {}), {
      message:
        "distill.strategy 'kd': soft-label distillation needs logit heads (model.head.type paa) for teacher and student",
    });
    teacher.dispose();
    student.dispose();
  }
  anchors.dispose();
});
