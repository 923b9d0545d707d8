// scripts/assign_overlap.ts: the overlap measure by hand, and on a tiny LAD preset: a student holding the teacher's
// own weights, run as the teacher is (eval mode), assigns exactly the teacher's labels; at random init it does not.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tensor } from '../../src/torch/index.js';
import { assignOverlap, jaccard, positivePairs } from '../../scripts/assign_overlap.js';
import { preparePreset } from '../../scripts/soak.js';

const work = mkdtempSync(join(tmpdir(), 'ladet-assign-overlap-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('jaccard and positivePairs by hand', () => {
  assert.equal(jaccard(new Set([1, 2, 3]), new Set([2, 3, 4])), 0.5);
  assert.equal(jaccard(new Set([1]), new Set([2])), 0);
  assert.equal(jaccard(new Set(), new Set()), 1);
  const posInds = tensor(BigInt64Array.from([3n, 7n, 7n]), [3]);
  const posGtInds = tensor(BigInt64Array.from([0n, 1n, 2n]), [3]);
  // anchor · gts + gt with 3 GTs: 9, 22, 23
  assert.deepEqual(
    [...positivePairs({ posInds, posGtInds }, 3)].sort((a, b) => a - b),
    [9, 22, 23],
  );
  posInds.dispose();
  posGtInds.dispose();
});

test("a student holding the teacher's weights in eval mode assigns the teacher's labels; a fresh one does not", async () => {
  const config = await preparePreset(work, 'lad', 1);
  const teacherRun = join(work, 'runs', 'teacher');
  const same = await assignOverlap(config, { student: teacherRun, mode: 'eval', batches: 3 });
  assert.equal(same.length, 3);
  for (const r of same) {
    assert.ok(r.teacher > 0, JSON.stringify(r));
    assert.deepEqual(r, { teacher: r.teacher, student: r.teacher, overlap: 1 });
  }
  const fresh = await assignOverlap(config, { batches: 3 });
  assert.deepEqual(
    fresh.map((r) => r.teacher),
    same.map((r) => r.teacher),
    "the teacher's side does not depend on the student",
  );
  assert.ok(
    fresh.some((r) => r.overlap < 1),
    JSON.stringify(fresh),
  );
});
