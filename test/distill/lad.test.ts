import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualSeed, noGrad, tidy, setNumThreads } from '../../src/torch/index.js';
import { parseConfig } from '../../src/config/schema.js';
import { buildAnchorGenerator, buildAssigner, buildDetector } from '../../src/build/model.js';
import { AnchorCache, assignTargets } from '../../src/assign/targets.js';
import { TeacherStrategy } from '../../src/distill/lad.js';
import { sumLosses } from '../../src/distill/strategy.js';
import { flattenHeadOutputs } from '../../src/models/heads/outputs.js';
import { disposeAssignment } from '../../src/assign/assignment.js';
import { SGD } from '../../src/optim/index.js';
import { saveCheckpoint } from '../../src/build/checkpoint.js';
import { loadTeacher } from '../../src/build/teacher.js';

import { batch, modelSection, sameAssignment } from './fixture.js';

setNumThreads(1);

const config = parseConfig({ name: 't', data: { root: 'unused' }, model: modelSection });

function build(seed: number) {
  manualSeed(seed);
  return buildDetector(config.model, 3);
}

test('LAD with the student as its own teacher gives exactly the PAA self-assignment', () => {
  const student = build(1);
  const teacher = build(2);
  teacher.loadStateDict(student.stateDict());
  const anchors = new AnchorCache(buildAnchorGenerator(config.model));
  const lad = new TeacherStrategy('lad', student, teacher, buildAssigner(config), anchors, {}, {});
  const input = batch();
  const fromTeacher = lad.teacherAssignment(input);
  // the self-assignment of the (train-mode) student
  student.train();
  const self = tidy(() => {
    const flat = flattenHeadOutputs(student.forward(input.images), 3);
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
    return noGrad(() => buildAssigner(config).assign(t, { clsLogits: flat.cls, regDeltas: flat.reg }));
  });
  sameAssignment(fromTeacher, self);
  disposeAssignment(fromTeacher);
  disposeAssignment(self);
});

test('the LAD assignment is PAA run on the teacher outputs alone, and differs from the student self-assignment', () => {
  const student = build(1);
  const teacher = build(3);
  const anchors = new AnchorCache(buildAnchorGenerator(config.model));
  const lad = new TeacherStrategy('lad', student, teacher, buildAssigner(config), anchors, {}, {});
  const input = batch();
  const viaStrategy = lad.teacherAssignment(input);
  const direct = tidy(() => {
    teacher.eval();
    const flat = noGrad(() => flattenHeadOutputs(teacher.forward(input.images), 3));
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
    return buildAssigner(config).assign(t, { clsLogits: flat.cls, regDeltas: flat.reg });
  });
  sameAssignment(viaStrategy, direct);
  // and it is not what the student would assign itself
  const own = tidy(() => {
    const flat = flattenHeadOutputs(student.forward(input.images), 3);
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
    return noGrad(() => buildAssigner(config).assign(t, { clsLogits: flat.cls, regDeltas: flat.reg }));
  });
  assert.ok(
    own.numPos !== direct.numPos || !own.posInds.equal(direct.posInds),
    'teacher and student assignments coincide',
  );
});

test('the teacher never gets a gradient, is not in the optimizer, and its weights stay put', () => {
  const student = build(1);
  const teacher = build(3);
  teacher.requiresGrad_(false);
  const before = teacher.stateDict().get('bbox_head.atss_cls.weight')!.clone();
  const anchors = new AnchorCache(buildAnchorGenerator(config.model));
  const solad = new TeacherStrategy('solad', student, teacher, buildAssigner(config), anchors, {}, {});
  const opt = new SGD(solad.trainable.parameters(), { lr: 0.1, momentum: 0.9 });
  const teacherParams = new Set(teacher.parameters());
  assert.ok(opt.paramGroups.every((g) => g.params.every((p) => !teacherParams.has(p))));
  const input = batch();
  for (let i = 0; i < 2; i++) {
    tidy(() => sumLosses(solad.step(input).losses).backward());
    opt.step();
    opt.zeroGrad();
  }
  for (const p of teacher.parameters()) assert.equal(p.grad, null);
  assert.ok(teacher.stateDict().get('bbox_head.atss_cls.weight')!.equal(before));
  assert.ok(!student.stateDict().get('bbox_head.atss_cls.weight')!.equal(before));
  // the student's state dict has no teacher entries
  assert.ok([...solad.trainable.stateDict().keys()].every((k) => !k.startsWith('teacher')));
});

test("SoLAD's total equals the sum of LAD's and soft-label KD's", () => {
  const student = build(1);
  const teacher = build(3);
  const anchors = new AnchorCache(buildAnchorGenerator(config.model));
  const kdOpts = { minIou: 0.5, clsWeight: 2 };
  const input = batch();
  const total = (mode: 'lad' | 'kd' | 'solad'): number =>
    tidy(() =>
      sumLosses(
        new TeacherStrategy(mode, student, teacher, buildAssigner(config), anchors, {}, kdOpts).step(input).losses,
      ).item(),
    );
  const solad = total('solad');
  assert.ok(Math.abs(solad - (total('lad') + total('kd'))) < 1e-5 * Math.max(1, solad));
});

test('a wrong teacher path or an incompatible teacher fails with a clear error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-teacher-'));
  const bad = parseConfig({ ...config, distill: { strategy: 'lad', teacher: { config: 'nope.yaml', weights: 'x' } } });
  assert.throws(() => loadTeacher(bad, 3), /distill\.teacher\.config: nope\.yaml not found/);
  // weights of another architecture
  const other = buildDetector({ ...config.model, head: { ...config.model.head, featChannels: 8, gnGroups: 4 } }, 3);
  const w = join(dir, 'other.safetensors');
  saveCheckpoint(w, other, { format: 'ladet-checkpoint', version: 1, kind: 'weights' });
  const cfgPath = join(dir, 'teacher.yaml');
  writeFileSync(cfgPath, JSON.stringify({ name: 'teacher', data: { root: 'unused' }, model: modelSection }));
  const mismatch = parseConfig({ ...config, distill: { strategy: 'lad', teacher: { config: cfgPath, weights: w } } });
  assert.throws(
    () => loadTeacher(mismatch, 3),
    /distill\.teacher\.weights: .*other\.safetensors: loadStateDict: 'neck\.|distill\.teacher\.weights: .*shape/,
  );
  // anchors that differ
  const cfg2 = join(dir, 'teacher2.yaml');
  writeFileSync(
    cfg2,
    JSON.stringify({
      name: 'teacher',
      data: { root: 'unused' },
      model: { ...modelSection, anchors: { strides: [8, 16, 32], octaveBaseScale: 8 } },
    }),
  );
  const anch = parseConfig({ ...config, distill: { strategy: 'lad', teacher: { config: cfg2, weights: w } } });
  assert.throws(() => loadTeacher(anch, 3), /the teacher's anchors .* differ from the student's/);
});
