// Fuzz target: COCO annotation files through the readers `ladet train` / `ladet test` / `ladet data check` use:
// readCoco (training data and test sets, with the training targets it serves), checkCocoFile and checkDataset (the
// data check, every problem listed) and readCocoGt (the evaluator's ground truth). The base is a valid dataset
// generated here; mutations are structural (see mutate.ts).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import fc from 'fast-check';
import { checkCocoFile, imagePath, readCoco } from '../../../src/data/coco.js';
import { checkDataset } from '../../../src/data/check.js';
import { readCocoGt } from '../../../src/eval/coco_gt.js';
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

interface Coco {
  images: { id: number; file_name: string; width: number; height: number }[];
  annotations: { id: number; image_id: number; category_id: number; bbox: number[]; area?: number; iscrowd?: number }[];
  categories: { id: number; name: string }[];
}

/** A valid dataset: unique ids, boxes of positive size (inside the image or sticking out of it), optional area / iscrowd. */
export const cocoArb: fc.Arbitrary<Coco> = fc
  .record({
    imageIds: fc.uniqueArray(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 5 }),
    catIds: fc.uniqueArray(fc.integer({ min: 1, max: 90 }), { minLength: 1, maxLength: 3 }),
    sizes: fc.array(fc.tuple(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 1, max: 2000 })), {
      minLength: 5,
      maxLength: 5,
    }),
    boxes: fc.array(
      fc.record({
        img: fc.nat(),
        cat: fc.nat(),
        box: fc.tuple(
          fc.double({ min: -50, max: 1500, noNaN: true }),
          fc.double({ min: -50, max: 1500, noNaN: true }),
          fc.double({ min: 0.5, max: 800, noNaN: true }),
          fc.double({ min: 0.5, max: 800, noNaN: true }),
        ),
        area: fc.option(fc.double({ min: 0, max: 1e6, noNaN: true }), { nil: undefined }),
        crowd: fc.option(fc.constantFrom(0, 1), { nil: undefined }),
      }),
      { maxLength: 8 },
    ),
    names: fc.array(fc.string({ maxLength: 8 }), { minLength: 3, maxLength: 3 }),
  })
  .map(({ imageIds, catIds, sizes, boxes, names }) => ({
    images: imageIds.map((id, i) => ({ id, file_name: `img_${id}.jpg`, width: sizes[i]![0], height: sizes[i]![1] })),
    categories: catIds.map((id, i) => ({ id, name: names[i]! })),
    annotations: boxes.map((b, i) => ({
      id: i + 1,
      image_id: imageIds[b.img % imageIds.length]!,
      category_id: catIds[b.cat % catIds.length]!,
      bbox: b.box,
      ...(b.area === undefined ? {} : { area: b.area }),
      ...(b.crowd === undefined ? {} : { iscrowd: b.crowd }),
    })),
  }));

interface Case {
  file: string;
  base: Coco;
  m: Mutations;
  /** also run checkDataset (async, reads the image folder) */
  check: boolean;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  file: fc.constantFrom('instances.json', 'ann file.json', 'ünï [val].json'),
  base: cocoArb,
  m: mutations,
  check: fc.boolean(),
});

const finite = (xs: ArrayLike<number>): boolean => Array.prototype.every.call(xs, (x: number) => Number.isFinite(x));

export const cocoTarget: FuzzTarget = {
  name: 'coco',
  known: [],
  ciRuns: 3000,
  property: ({ dir, onCase }) =>
    fc.asyncProperty(caseArb, async (c) => {
      const tree = applyTreeMutations(c.base as unknown as Tree, c.m.tree);
      const bytes = applyByteMutations(Buffer.from(toJson(tree), 'utf8'), c.m.bytes);
      const path = join(dir, c.file);
      writeFileSync(path, bytes);
      onCase(`${c.file} ${preview(bytes)}`);
      const valid = isUnmutated(c.m);
      await checkCall({
        path,
        dir,
        label: 'readCoco',
        call: () => readCoco(path),
        expectOk: valid,
        verify: (ds) => {
          // what training reads from it: sizes, boxes and labels, all finite and of positive size
          for (const im of ds.images)
            assert.ok(
              Number.isInteger(im.width) && im.width > 0 && Number.isInteger(im.height) && im.height > 0,
              `image ${im.id}: size ${im.width}x${im.height}`,
            );
          for (const a of ds.annotations) {
            assert.ok(
              a.bbox[2] > 0 && a.bbox[3] > 0,
              `annotation ${a.id}: bbox [${a.bbox.join(', ')}] of no size accepted`,
            );
            assert.ok(
              finite(a.bbox) && Number.isFinite(a.bbox[0] + a.bbox[2]) && Number.isFinite(a.bbox[1] + a.bbox[3]),
              `annotation ${a.id}: non-finite bbox [${a.bbox.join(', ')}] accepted`,
            );
            assert.ok(Number.isFinite(a.area) && a.area >= 0, `annotation ${a.id}: non-finite area ${a.area} accepted`);
          }
          for (const im of ds.images) {
            const t = ds.targets(im.id);
            assert.ok(finite(t.boxes), `image ${im.id}: non-finite training box`);
            for (let i = 0; i < t.labels.length; i++) {
              assert.ok(t.boxes[4 * i + 2]! > t.boxes[4 * i]! && t.boxes[4 * i + 3]! > t.boxes[4 * i + 1]!);
              assert.ok(t.labels[i]! >= 0 && t.labels[i]! < ds.labels.names.length);
            }
            assert.ok(finite(ds.crowdBoxes(im.id)), `image ${im.id}: non-finite crowd box`);
          }
          ds.trainImages({ filterEmpty: true });
          const images = join(dir, 'images');
          for (const im of ds.images)
            assert.ok(
              resolve(imagePath(images, im)).startsWith(images + sep),
              `image ${im.id}: file_name ${JSON.stringify(im.fileName)} escapes the image folder`,
            );
          if (valid) {
            assert.deepEqual(
              ds.images.map((im) => im.id),
              c.base.images.map((im) => im.id),
            );
            assert.deepEqual(
              ds.annotations.map((a) => a.bbox),
              c.base.annotations.map((a) => a.bbox.map((x) => x + 0)),
            ); // -0 is written 0
          }
        },
      });
      await checkCall({
        path,
        dir,
        label: 'checkCocoFile',
        call: () => checkCocoFile(path),
        verify: (r) => {
          for (const p of r.problems)
            assert.ok(
              typeof p.message === 'string' &&
                p.message.length > 0 &&
                (p.severity === 'error' || p.severity === 'warning'),
            );
          if (valid)
            assert.deepEqual(
              r.problems.filter((p) => p.severity === 'error'),
              [],
            );
        },
      });
      if (c.check) {
        await checkCall({
          path,
          dir,
          label: 'checkDataset',
          call: () => checkDataset(path, { imageDir: join(dir, 'no-images'), decode: false }),
          verify: (r) => {
            assert.ok(Number.isInteger(r.images) && r.errors >= 0 && r.warnings >= 0);
            assert.ok(r.sizeHistogram.every((n) => Number.isInteger(n) && n >= 0));
          },
        });
      }
      await checkCall({
        path,
        dir,
        label: 'readCocoGt',
        call: () => readCocoGt(path),
        expectOk: valid,
        verify: (gt) => {
          assert.ok(finite(gt.annBoxes) && finite(gt.annArea), 'non-finite ground truth accepted');
          for (let j = 0; j < gt.annIds.length; j++)
            assert.ok(gt.annBoxes[4 * j + 2]! >= 0 && gt.annBoxes[4 * j + 3]! >= 0 && gt.annArea[j]! >= 0);
          assert.ok(gt.imageIds.every((id, i) => i === 0 || id > gt.imageIds[i - 1]!));
          if (valid) assert.equal(gt.annIds.length, c.base.annotations.length);
        },
      });
    }),
};
