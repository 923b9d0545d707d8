// Opening a config's dataset: absolute data paths, and a training split with nothing to train on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/schema.js';
import { dataPath, ensureDataset, openSplit } from '../../src/engine/data_setup.js';
import { valSplitFiles } from '../../src/engine/open_detector.js';

const categories = [{ id: 1, name: 'a' }];
const images = [
  { id: 1, file_name: '1.png', width: 32, height: 32 },
  { id: 2, file_name: '2.png', width: 32, height: 32 },
  { id: 3, file_name: '3.png', width: 32, height: 32 },
];

function withDir(f: (dir: string) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ladet-setup-'));
    try {
      await f(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function configFor(data: Record<string, unknown>) {
  return parseConfig({ name: 'x', data, model: { backbone: { depth: 18 } } });
}

test(
  'an absolute data.trainAnn / valAnn / trainImages / valImages is used as it is, not joined under data.root',
  withDir((dir) => {
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    const ann = { images, annotations: [{ id: 1, image_id: 2, category_id: 1, bbox: [1, 1, 10, 10] }], categories };
    writeFileSync(join(elsewhere, 'train.json'), JSON.stringify(ann));
    writeFileSync(join(elsewhere, 'val.json'), JSON.stringify(ann));
    const c = configFor({
      root: join(dir, 'root'),
      trainAnn: join(elsewhere, 'train.json'),
      valAnn: join(elsewhere, 'val.json'),
      trainImages: join(elsewhere, 'imgs'),
      valImages: 'relative/val',
    });
    assert.equal(dataPath(c.data, 'trainAnn'), join(elsewhere, 'train.json'));
    assert.equal(dataPath(c.data, 'valImages'), join(dir, 'root', 'relative', 'val'));
    const train = openSplit(c, 'train');
    assert.equal(train.annotations, join(elsewhere, 'train.json'));
    assert.equal(train.images, join(elsewhere, 'imgs'));
    assert.equal(train.dataset.images.length, 3);
    assert.deepEqual(valSplitFiles(c, 'c.yaml'), {
      annotations: join(elsewhere, 'val.json'),
      images: join(dir, 'root', 'relative', 'val'),
    });
    // A missing absolute file is named with its own key, not data.root.
    const gone = configFor({ root: join(dir, 'root'), valAnn: join(elsewhere, 'missing.json') });
    assert.throws(
      () => valSplitFiles(gone, 'c.yaml'),
      new RegExp(`^UsageError: data\\.valAnn: ${join(elsewhere, 'missing.json')} not found`),
    );
  }),
);

test(
  'ensureDataset names the key of a missing absolute annotation file',
  withDir(async (dir) => {
    const c = configFor({ root: dir, trainAnn: join(dir, 'nope', 'train.json'), builtin: 'shapes' });
    await assert.rejects(ensureDataset(c), (e: Error) => {
      assert.match(e.message, new RegExp(`^data\\.trainAnn: ${join(dir, 'nope', 'train.json')} not found`));
      return true;
    });
  }),
);

test(
  'a train split without a usable annotation is an error naming the annotation file when it is opened',
  withDir((dir) => {
    mkdirSync(join(dir, 'annotations'));
    const file = join(dir, 'annotations', 'instances_train.json');
    writeFileSync(file, JSON.stringify({ images, annotations: [], categories }));
    writeFileSync(
      join(dir, 'annotations', 'instances_val.json'),
      JSON.stringify({ images, annotations: [], categories }),
    );
    const c = configFor({ root: dir });
    assert.throws(
      () => openSplit(c, 'train'),
      (e: Error) => {
        assert.equal(
          e.message,
          `${file}: no training image has an annotation (3 images, 0 boxes); nothing to train on`,
        );
        return true;
      },
    );
    // An empty val split is fine (evaluation reports it).
    assert.equal(openSplit(c, 'val').dataset.annotations.length, 0);
    // Boxes that are all crowd or below the minimum size are not usable either; the message says why.
    writeFileSync(
      file,
      JSON.stringify({
        images,
        annotations: [
          { id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], iscrowd: 1 },
          { id: 2, image_id: 2, category_id: 1, bbox: [0, 0, 0.5, 10] },
        ],
        categories,
      }),
    );
    assert.throws(() => openSplit(c, 'train'), {
      message: `${file}: no training image has an annotation (3 images, 2 boxes: 1 crowd, 1 smaller than 1 px or outside their image); nothing to train on`,
    });
    // data.trainLimit keeping only images without boxes: said so.
    writeFileSync(
      file,
      JSON.stringify({
        images,
        annotations: [{ id: 1, image_id: 3, category_id: 1, bbox: [0, 0, 10, 10] }],
        categories,
      }),
    );
    assert.equal(openSplit(c, 'train').dataset.images.length, 3);
    assert.throws(() => openSplit(configFor({ root: dir, trainLimit: 2 }), 'train'), {
      message: `${file}: no training image has an annotation (2 images, 0 boxes) (data.trainLimit=2 keeps the first 2 of 3 images); nothing to train on`,
    });
  }),
);
