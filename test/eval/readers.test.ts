import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  detectionsFromColumns,
  detectionsFromList,
  evaluateCoco,
  parseCocoGt,
  readCocoGt,
  readDetections,
} from '../../src/eval/index.js';

const base = () => ({
  images: [{ id: 3 }, { id: 1 }],
  categories: [
    { id: 7, name: 'cat' },
    { id: 2, name: 'dog' },
  ],
  annotations: [
    { id: 10, image_id: 1, category_id: 7, bbox: [0, 0, 4, 5], area: 18, iscrowd: 0 },
    { id: 11, image_id: 3, category_id: 2, bbox: [1, 2, 3, 4], iscrowd: 1 },
  ],
});

test('ground truth: ids sorted, columns filled, area defaults to w*h', () => {
  const gt = parseCocoGt(base(), 'g.json');
  assert.deepEqual(gt.imageIds, [1, 3]);
  assert.deepEqual(gt.categoryIds, [2, 7]);
  assert.deepEqual(gt.categoryNames, ['dog', 'cat']);
  assert.deepEqual([...gt.annImage], [0, 1]);
  assert.deepEqual([...gt.annCategory], [1, 0]);
  assert.deepEqual([...gt.annArea], [18, 12]);
  assert.deepEqual([...gt.annCrowd], [0, 1]);
  assert.deepEqual([...gt.annBoxes], [0, 0, 4, 5, 1, 2, 3, 4]);
});

test('ground truth: bad input names the file and the entry', () => {
  const bad = (mutate: (g: ReturnType<typeof base>) => unknown, message: string): void => {
    const g = base();
    const out = mutate(g) ?? g;
    assert.throws(() => parseCocoGt(out, 'g.json'), { message });
  };
  bad((g) => ({ ...g, images: undefined }), 'g.json: images: Invalid input: expected array, received undefined');
  bad(
    (g) => void (g.annotations[1]!.bbox = [0, 0, -1, 2]),
    'g.json: annotations[1].bbox: width and height must be >= 0',
  );
  bad(
    (g) => void (g.annotations[1]!.bbox = [0, 0, 1e200, 1e200]),
    'g.json: annotations[1].bbox: too large: its corner (x + w, y + h) or area (w * h) overflows',
  );
  bad(
    (g) => void (g.annotations[0]!.bbox = [0, 0, 1]),
    'g.json: annotations[0].bbox: Too small: expected array to have >=4 items',
  );
  bad((g) => void (g.annotations[0]!.image_id = 5), 'g.json: annotations[0].image_id: unknown image id 5');
  bad((g) => void (g.annotations[1]!.category_id = 5), 'g.json: annotations[1].category_id: unknown category id 5');
  bad((g) => void (g.annotations[1]!.id = 10), 'g.json: annotations[1].id: duplicate annotation id 10');
  bad((g) => void g.images.push({ id: 3 }), 'g.json: images[2].id: duplicate image id 3');
  bad((g) => void g.categories.push({ id: 2, name: 'x' }), 'g.json: categories[2].id: duplicate category id 2');
  bad((g) => void (g.annotations[0]!.iscrowd = 2), 'g.json: annotations[0].iscrowd: Invalid input');
});

test('detections: bad entries name the file, the index and the field', () => {
  const gt = parseCocoGt(base(), 'g.json');
  const ok = { image_id: 1, category_id: 7, bbox: [0, 0, 4, 5], score: 0.5 };
  const bad = (entry: unknown, message: string): void => {
    assert.throws(() => detectionsFromList([ok, entry], gt, 'd.json'), { message });
  };
  bad({ ...ok, image_id: 99 }, 'd.json: [1].image_id: unknown image id 99 (not in g.json)');
  bad({ ...ok, category_id: 3 }, 'd.json: [1].category_id: unknown category id 3 (not in g.json)');
  bad({ ...ok, score: NaN }, 'd.json: [1].score: must be a finite number (got NaN)');
  bad({ ...ok, score: '0.5' }, 'd.json: [1].score: must be a finite number (got 0.5)');
  bad({ ...ok, bbox: [0, 0, 5, -1] }, 'd.json: [1].bbox: width and height must be >= 0 (got 5 x -1)');
  bad({ ...ok, bbox: [0, 0, 5] }, 'd.json: [1].bbox: expected [x, y, w, h]');
  bad({ ...ok, bbox: [0, null, 5, 5] }, 'd.json: [1].bbox[1]: must be a finite number (got null)');
  bad(7, 'd.json: [1]: expected an object {image_id, category_id, bbox, score}');
  assert.throws(() => detectionsFromList({ annotations: [] }, gt, 'd.json'), {
    message: 'd.json: expected a JSON array of detections {image_id, category_id, bbox, score}',
  });
  assert.throws(
    () => detectionsFromColumns({ imageIds: [1], categoryIds: [7], scores: [0.5, 0.4], boxes: [0, 0, 1, 1] }, gt),
    { message: 'detections: column lengths disagree (imageIds 1, categoryIds 1, scores 2, boxes 4 = 4 x 1)' },
  );
  // Validated detections belong to their ground truth.
  const other = parseCocoGt(base(), 'other.json');
  assert.throws(() => evaluateCoco(other, detectionsFromList([ok], gt, 'd.json')), {
    message: 'detections were validated against g.json, not other.json',
  });
  // The programmatic entry point validates too.
  assert.throws(() => evaluateCoco(gt, [{ ...ok, score: NaN }]), {
    message: 'detections: [0].score: must be a finite number (got NaN)',
  });
});

test('files: JSON errors name the file and hint at NaN', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-eval-'));
  try {
    const g = join(dir, 'g.json');
    writeFileSync(g, JSON.stringify(base()));
    const gt = readCocoGt(g);
    const d = join(dir, 'd.json');
    writeFileSync(d, '[{"image_id": 1, "category_id": 7, "bbox": [0, 0, 4, 5], "score": NaN}]');
    assert.throws(
      () => readDetections(d, gt),
      (e: Error) =>
        e.message.startsWith(`${d}: not valid JSON (it contains NaN or Infinity, which JSON cannot hold): `),
    );
    writeFileSync(d, '[{"image_id": 1, "category_id": 7, "bbox": [0, 0, 4, 5], "score": 0.5}]');
    const dets = readDetections(d, gt);
    assert.equal(dets.count, 1);
    assert.deepEqual([dets.image[0], dets.category[0], dets.scores[0]], [0, 1, 0.5]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
