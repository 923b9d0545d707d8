import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readCoco, type CocoDataset } from '../../src/data/coco.js';
import { DataLoader, type Batch, type LoaderOptions } from '../../src/data/loader.js';
import { Rng } from '../../src/data/rng.js';
import { mapBoxesBack, trainPipeline } from '../../src/data/transforms.js';
import type { SkippedSample } from '../../src/data/batch.js';
import { tempDir, writeImage, writeJson } from './fixtures.js';

const dir = tempDir();
const N = 11;

/** 11 images of different sizes, each with 1-3 boxes over coloured rectangles. */
async function makeDataset(): Promise<CocoDataset> {
  const rng = new Rng(3);
  const images: Record<string, unknown>[] = [];
  const annotations: Record<string, unknown>[] = [];
  for (let i = 0; i < N; i++) {
    const w = rng.int(40, 90);
    const h = rng.int(30, 70);
    const rects: number[][] = [];
    for (let k = rng.int(1, 3); k > 0; k--) {
      const x = rng.int(0, w - 10);
      const y = rng.int(0, h - 10);
      const bw = rng.int(4, w - x);
      const bh = rng.int(4, h - y);
      rects.push([x, y, bw, bh]);
      annotations.push({ id: annotations.length + 1, image_id: i + 1, category_id: 1 + (k % 2), bbox: [x, y, bw, bh], area: bw * bh, iscrowd: 0 });
    }
    await writeImage(join(dir, `${i}.png`), w, h, (x, y) => {
      const inside = rects.findIndex(([rx, ry, rw, rh]) => x >= rx! && x < rx! + rw! && y >= ry! && y < ry! + rh!);
      return inside < 0 ? [(x * 5) % 256, (y * 7) % 256, 90] : [250 - inside * 60, 40, 30 + inside * 80];
    });
    images.push({ id: i + 1, file_name: `${i}.png`, width: w, height: h });
  }
  const categories = [
    { id: 1, name: 'a' },
    { id: 2, name: 'b' },
  ];
  return readCoco(writeJson(dir, 'ann.json', { images, annotations, categories }));
}

const datasetPromise = makeDataset();

interface Snapshot {
  shape: number[];
  data: number[];
  indices: number[];
  targets: { boxes: number[]; labels: number[] }[];
  metas: unknown[];
}

function snapshot(b: Batch): Snapshot {
  const s = {
    shape: b.images.shape.slice(),
    data: Array.from(b.images.toTypedArray() as Float32Array),
    indices: b.indices,
    targets: b.targets.map((t) => ({ boxes: [...t.boxes], labels: [...t.labels] })),
    metas: b.metas,
  };
  b.images.dispose();
  return s;
}

async function collect(options: Partial<LoaderOptions>, epochs: number[]): Promise<Snapshot[][]> {
  const dataset = await datasetPromise;
  const loader = new DataLoader({
    dataset,
    imageDir: dir,
    batchSize: 3,
    pipeline: trainPipeline([[96, 64], [128, 96]]),
    seed: 5,
    ...options,
  });
  try {
    const out: Snapshot[][] = [];
    for (const e of epochs) {
      const batches: Snapshot[] = [];
      for await (const b of loader.epoch(e)) batches.push(snapshot(b));
      out.push(batches);
    }
    return out;
  } finally {
    await loader.close();
  }
}

test('the batch sequence is the same for 0, 1 and 2 workers', async () => {
  const inline = await collect({ workers: 0 }, [0, 1]);
  const one = await collect({ workers: 1 }, [0, 1]);
  const two = await collect({ workers: 2, prefetch: 3 }, [0, 1]);
  assert.deepEqual(one, inline);
  assert.deepEqual(two, inline);
  // 11 images in batches of 3: 4 batches, every image once per epoch
  for (const epoch of inline) {
    assert.deepEqual(epoch.map((b) => b.indices.length), [3, 3, 3, 2]);
    assert.deepEqual(epoch.flatMap((b) => b.indices).sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i));
  }
  // epochs are shuffled differently; flips and scales vary
  assert.notDeepEqual(inline[0]!.flatMap((b) => b.indices), inline[1]!.flatMap((b) => b.indices));
  const metas = inline.flat().flatMap((b) => b.metas as { flip: boolean; imgShape: number[] }[]);
  assert.ok(metas.some((m) => m.flip) && metas.some((m) => !m.flip));
  assert.ok(new Set(metas.map((m) => m.imgShape.join('x'))).size > 5);
});

test('another seed gives another order', async () => {
  const a = await collect({ workers: 0, seed: 1 }, [0]);
  const b = await collect({ workers: 0, seed: 2 }, [0]);
  assert.notDeepEqual(a[0]!.flatMap((x) => x.indices), b[0]!.flatMap((x) => x.indices));
  const plain = await collect({ workers: 0, shuffle: false }, [0]);
  assert.deepEqual(plain[0]!.flatMap((x) => x.indices), Array.from({ length: N }, (_, i) => i));
});

test('batches are padded to the largest image, then to the size divisor; targets map back to the annotations', async () => {
  const dataset = await datasetPromise;
  const [epoch] = await collect({ workers: 0 }, [3]);
  for (const b of epoch!) {
    const metas = b.metas as { imageId: number; imgShape: [number, number]; padShape: [number, number]; oriShape: [number, number]; scaleFactor: [number, number, number, number]; flip: boolean; file: string }[];
    const H = Math.max(...metas.map((m) => m.padShape[0]));
    const W = Math.max(...metas.map((m) => m.padShape[1]));
    assert.deepEqual(b.shape, [metas.length, 3, H, W]);
    assert.equal(H % 32, 0);
    assert.equal(W % 32, 0);
    metas.forEach((m, i) => {
      // the resized image fits its range scale: long edge <= 128, short edge <= 96
      assert.ok(Math.max(...m.imgShape) <= 128 && Math.min(...m.imgShape) <= 96);
      const expected = dataset.targets(m.imageId).boxes;
      const back = mapBoxesBack(b.targets[i]!.boxes, m);
      assert.equal(back.length, expected.length);
      for (let k = 0; k < back.length; k++) assert.ok(Math.abs((back[k] as number) - (expected[k] as number)) < 1e-4);
      assert.deepEqual(b.targets[i]!.labels, [...dataset.targets(m.imageId).labels]);
      // padding right of the image is zero in every channel
      const plane = H * W;
      const base = i * 3 * plane;
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < H; y++) {
          for (let x = m.imgShape[1]; x < W; x++) assert.equal(b.data[base + c * plane + y * W + x], 0);
        }
      }
    });
  }
});

test('an unreadable image is skipped, reported and counted, the same way for any worker count', async () => {
  const broken = join(dir, 'broken');
  const { mkdirSync, copyFileSync } = await import('node:fs');
  mkdirSync(broken, { recursive: true });
  for (let i = 0; i < N; i++) copyFileSync(join(dir, `${i}.png`), join(broken, `${i}.png`));
  const png = readFileSync(join(dir, '4.png'));
  writeFileSync(join(broken, '4.png'), png.subarray(0, png.length / 2));
  const runs: { skipped: SkippedSample[]; batches: Snapshot[] }[] = [];
  for (const workers of [0, 2]) {
    const skipped: SkippedSample[] = [];
    const dataset = await datasetPromise;
    const loader = new DataLoader({ dataset, imageDir: broken, batchSize: 4, pipeline: trainPipeline([[96, 64]]), workers, onSkip: (s) => skipped.push(s) });
    const batches: Snapshot[] = [];
    for await (const b of loader) batches.push(snapshot(b));
    assert.equal(loader.skippedCount, 1);
    await loader.close();
    runs.push({ skipped, batches });
  }
  const [inline, pooled] = runs as [(typeof runs)[0], (typeof runs)[0]];
  assert.equal(inline.skipped.length, 1);
  assert.equal(inline.skipped[0]!.file, join(broken, '4.png'));
  assert.equal(inline.skipped[0]!.imageId, 5);
  assert.match(inline.skipped[0]!.reason, /^cannot decode the image \(/);
  assert.equal(inline.batches.flatMap((b) => b.indices).length, N - 1);
  assert.ok(!inline.batches.flatMap((b) => b.indices).includes(4));
  assert.deepEqual(pooled.batches, inline.batches);
  // libvips words the same decode failure differently on different threads: compare all but the wording
  assert.deepEqual(pooled.skipped.map((s) => ({ ...s, reason: '' })), inline.skipped.map((s) => ({ ...s, reason: '' })));
  assert.match(pooled.skipped[0]!.reason, /^cannot decode the image \(/);
});

test('breaking out of an epoch, iterating by default epochs, and closing', async () => {
  const dataset = await datasetPromise;
  const loader = new DataLoader({ dataset, imageDir: dir, batchSize: 2, pipeline: trainPipeline([[96, 64]]), workers: 1, prefetch: 4, seed: 9 });
  // for await over the loader runs epoch 0, then 1
  let first: Snapshot | null = null;
  for await (const b of loader) {
    first = snapshot(b);
    break; // leaves batches in flight
  }
  const rest: Snapshot[] = [];
  for await (const b of loader) rest.push(snapshot(b));
  await loader.close();
  await loader.close(); // twice is fine
  assert.equal(loader.length, 6);
  const fresh = await collect({ workers: 0, batchSize: 2, pipeline: trainPipeline([[96, 64]]), seed: 9 }, [0, 1]);
  assert.deepEqual(first, fresh[0]![0]);
  assert.deepEqual(rest, fresh[1]);
  await assert.rejects(async () => {
    for await (const b of loader.epoch(2)) b.images.dispose();
  }, /DataLoader: closed/);
});

test('data-parallel ranks split each epoch into equal, complete shares', async () => {
  const shares = [];
  for (const rank of [0, 1, 2]) {
    const [epoch] = await collect({ workers: 0, rank, worldSize: 3, batchSize: 2 }, [0]);
    shares.push(epoch!.flatMap((b) => b.indices));
  }
  // 11 samples over 3 ranks: 4 each, the 12th wraps around to the first of the order
  assert.deepEqual(shares.map((s) => s.length), [4, 4, 4]);
  assert.deepEqual([...new Set(shares.flat())].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i));
});

test('bad loader options are refused', async () => {
  const dataset = await datasetPromise;
  const base = { dataset, imageDir: dir, pipeline: trainPipeline() };
  assert.throws(() => new DataLoader({ ...base, batchSize: 0 }), /DataLoader: batchSize must be a positive integer \(got 0\)/);
  assert.throws(() => new DataLoader({ ...base, batchSize: 2, workers: -1 }), /DataLoader: workers must be a non-negative integer \(got -1\)/);
  assert.throws(() => new DataLoader({ ...base, batchSize: 2, rank: 2, worldSize: 2 }), /DataLoader: bad rank 2 of worldSize 2/);
  assert.throws(() => new DataLoader({ ...base, batchSize: 2, pipeline: { ...trainPipeline(), sizeDivisor: 0 } }), /pipeline: sizeDivisor must be a positive integer \(got 0\)/);
});

test('a training loader (filterEmpty) over a split without a usable box throws naming the annotation file', () => {
  const file = writeJson(dir, 'empty.json', {
    images: [
      { id: 1, file_name: '0.png', width: 40, height: 30 },
      { id: 2, file_name: '1.png', width: 40, height: 30 },
    ],
    annotations: [],
    categories: [{ id: 1, name: 'a' }],
  });
  const dataset = readCoco(file);
  const base = { dataset, imageDir: dir, batchSize: 2, pipeline: trainPipeline([[96, 64]]), workers: 0 };
  // Before: a loader of length 0, and the trainer failed later with "lr schedule: itersPerEpoch must be a positive integer, got 0".
  assert.throws(() => new DataLoader({ ...base, filterEmpty: true }), {
    message: `${file}: no training image has an annotation (2 images, 0 boxes); nothing to train on`,
  });
  // Without filterEmpty (evaluation, prediction) the images are still served.
  assert.equal(new DataLoader(base).length, 1);
});

test('the pipeline\'s maxImagePixels skips a larger image, naming its size, the limit and the key (inline and in workers)', async () => {
  const dataset = await datasetPromise;
  // the images are 40-90 x 30-70; a limit of 3000 pixels leaves some out
  const limit = 3000;
  const over = dataset.images.filter((im) => im.width * im.height > limit);
  assert.ok(over.length > 0 && over.length < N);
  for (const workers of [0, 1]) {
    const skipped: SkippedSample[] = [];
    const loader = new DataLoader({
      dataset,
      imageDir: dir,
      batchSize: 4,
      pipeline: { ...trainPipeline([[96, 64]]), maxImagePixels: limit },
      workers,
      onSkip: (s) => skipped.push(s),
    });
    let served = 0;
    for await (const b of loader.epoch(0)) {
      served += b.indices.length;
      b.images.dispose();
    }
    await loader.close();
    assert.equal(served, N - over.length);
    assert.deepEqual(skipped.map((s) => s.imageId).sort((a, b) => a - b), over.map((im) => im.id));
    const im = over[0]!;
    const s = skipped.find((k) => k.imageId === im.id)!;
    assert.equal(s.file, join(dir, im.fileName));
    assert.equal(
      s.reason,
      `the image is ${im.width}x${im.height} (${((im.width * im.height) / 1e6).toFixed(1)} megapixels), over the limit of 0.0 megapixels (3000 pixels) ` +
        'for a decoded image; not decoded (raise it with data.maxImagePixels=N in the config, or the maxPixels decode option; 0 = no limit)',
    );
  }
  assert.throws(() => new DataLoader({ dataset, imageDir: dir, batchSize: 1, pipeline: { ...trainPipeline(), maxImagePixels: 1.5 } }), /pipeline: maxImagePixels must be a non-negative integer \(got 1\.5\)/);
});
