// Fuzz target: COCO results (detections) files through readDetections(path, gt), as `ladet eval` reads them. The
// ground truth is a fixed valid file; the base results are valid detections of its images and categories.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { readCocoGt, type CocoGroundTruth } from '../../../src/eval/coco_gt.js';
import { readDetections } from '../../../src/eval/detections.js';
import { checkCall, preview, type FuzzTarget } from '../harness.js';
import {
  applyByteMutations,
  applyTreeMutations,
  isUnmutated,
  mutations,
  toJson,
  type Mutations,
  type Tree,
} from '../mutate.js';

const IMAGES = [1, 2, 3, 5, 1000];
const CATEGORIES = [1, 2, 7];

const groundTruth = {
  images: IMAGES.map((id) => ({ id, file_name: `${id}.jpg`, width: 640, height: 480 })),
  categories: CATEGORIES.map((id) => ({ id, name: `c${id}` })),
  annotations: [
    { id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 50, 40], area: 2000, iscrowd: 0 },
    { id: 2, image_id: 2, category_id: 7, bbox: [0, 0, 640, 480], area: 307200, iscrowd: 1 },
  ],
};

interface Det {
  image_id: number;
  category_id: number;
  bbox: number[];
  score: number;
}

const detArb: fc.Arbitrary<Det> = fc.record({
  image_id: fc.constantFrom(...IMAGES),
  category_id: fc.constantFrom(...CATEGORIES),
  bbox: fc.tuple(
    fc.double({ min: -100, max: 700, noNaN: true }),
    fc.double({ min: -100, max: 500, noNaN: true }),
    fc.double({ min: 0, max: 700, noNaN: true }),
    fc.double({ min: 0, max: 500, noNaN: true }),
  ),
  score: fc.double({ min: 0, max: 1, noNaN: true }),
});

interface Case {
  file: string;
  dets: Det[];
  m: Mutations;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  file: fc.constantFrom('results.json', 'bbox results.json', 'ünï [r].json'),
  dets: fc.array(detArb, { maxLength: 12 }),
  m: mutations,
});

export const detectionsTarget: FuzzTarget = {
  name: 'detections',
  ciRuns: 5000,
  property: ({ dir, onCase }) => {
    const gtPath = join(dir, 'gt', 'instances.json');
    let gt: CocoGroundTruth | null = null;
    return fc.asyncProperty(caseArb, async (c) => {
      if (gt === null) {
        // made on the first case: the folder is the run's
        mkdirSync(join(dir, 'gt'), { recursive: true });
        writeFileSync(gtPath, JSON.stringify(groundTruth));
        gt = readCocoGt(gtPath);
      }
      const g = gt;
      const tree = applyTreeMutations(c.dets as unknown as Tree, c.m.tree);
      const bytes = applyByteMutations(Buffer.from(toJson(tree), 'utf8'), c.m.bytes);
      const path = join(dir, c.file);
      writeFileSync(path, bytes);
      onCase(`${c.file} ${preview(bytes)}`);
      const valid = isUnmutated(c.m);
      await checkCall({
        path,
        dir,
        label: 'readDetections',
        call: () => readDetections(path, g),
        expectOk: valid,
        verify: (d) => {
          assert.equal(d.groundTruth, g);
          assert.equal(d.image.length, d.count);
          assert.equal(d.boxes.length, 4 * d.count);
          for (let i = 0; i < d.count; i++) {
            assert.ok(
              d.image[i]! >= 0 &&
                d.image[i]! < g.imageIds.length &&
                d.category[i]! >= 0 &&
                d.category[i]! < g.categoryIds.length,
            );
            assert.ok(Number.isFinite(d.scores[i]), `score ${d.scores[i]} accepted`);
            for (let k = 0; k < 4; k++) assert.ok(Number.isFinite(d.boxes[4 * i + k]), `box ${i} non-finite`);
            assert.ok(d.boxes[4 * i + 2]! >= 0 && d.boxes[4 * i + 3]! >= 0, `box ${i} of negative size`);
          }
          if (valid) {
            assert.equal(d.count, c.dets.length);
            c.dets.forEach((det, i) => {
              assert.equal(g.imageIds[d.image[i]!], det.image_id);
              assert.equal(g.categoryIds[d.category[i]!], det.category_id);
              assert.equal(d.scores[i], det.score + 0);
              assert.deepEqual(
                [...d.boxes.subarray(4 * i, 4 * i + 4)],
                det.bbox.map((x) => x + 0),
              ); // -0 is written 0
            });
          }
        },
      });
    });
  },
};
