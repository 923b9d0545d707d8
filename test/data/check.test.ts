import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { checkDataset, formatReport } from '../../src/data/check.js';
import { guessImageDir } from '../../src/data/layout.js';
import { smallCoco, tempDir, whiteRect, writeImage, writeJson } from './fixtures.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');
const dir = tempDir();

function ladet(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('check finds missing, corrupt and wrongly sized images and summarises the rest', async () => {
  const images = join(dir, 'imgs');
  mkdirSync(images);
  const coco = smallCoco();
  coco.images.push({ id: 3, file_name: 'c.png', width: 64, height: 48 }, { id: 4, file_name: 'd.jpg', width: 64, height: 48 }, { id: 5, file_name: 'e.jpg', width: 48, height: 64 });
  coco.annotations.push({ id: 13, image_id: 5, category_id: 7, bbox: [40, 10, 20, 5], area: 100, iscrowd: 0 }); // 40 + 20 > 48: clipped
  const ann = writeJson(dir, 'ann.json', coco);
  await writeImage(join(images, 'a.png'), 64, 48, whiteRect(4, 6, 24, 16));
  // b.png missing; c.png corrupt; d.jpg 60x48; e.jpg stored 48x64 with EXIF orientation 6 (shown 64x48)
  const good = readFileSync(join(images, 'a.png'));
  writeFileSync(join(images, 'c.png'), good.subarray(0, 60));
  await writeImage(join(images, 'd.jpg'), 60, 48, whiteRect(0, 0, 1, 1));
  await sharp({ create: { width: 48, height: 64, channels: 3, background: { r: 9, g: 9, b: 9 } } }).jpeg().withMetadata({ orientation: 6 }).toFile(join(images, 'e.jpg'));

  const r = await checkDataset(ann, { imageDir: images });
  assert.deepEqual(
    r.problems.map((p) => `${p.severity} ${p.kind} ${p.where}: ${p.message.replace(/ \(.*\)$/, ' (...)')}`),
    [
      'warning clipped annotations[3] (id 13): bbox [40, 10, 20, 5] extends outside the 48x64 image; clipped to [40, 10, 8, 5]',
      `error missing-image images[1] (id 2): image file ${join(images, 'b.png')} not found`,
      `error corrupt-image images[2] (id 3): image file ${join(images, 'c.png')} is corrupt or not an image (...)`,
      `error image-size images[3] (id 4): image file ${join(images, 'd.jpg')} is 60x48 but the JSON says 64x48`,
      `error image-size images[4] (id 5): image file ${join(images, 'e.jpg')} is 64x48 but the JSON says 48x64 (...)`,
    ],
  );
  assert.match(r.problems[4]!.message, /\(the JSON has the size before EXIF orientation 6, which ladet applies\)$/);
  assert.equal(r.errors, 4);
  assert.equal(r.warnings, 1);
  assert.equal(r.images, 5);
  assert.equal(r.imagesWithBoxes, 2);
  assert.equal(r.crowd, 1);
  assert.deepEqual(r.classes, [
    { id: 3, name: 'three', boxes: 1, images: 1 },
    { id: 7, name: 'seven', boxes: 2, images: 2 },
  ]);
  // sqrt(w*h): 14.1 (8-16), 13.9 (8-16), 10 (8-16); crowd boxes are not counted
  assert.deepEqual(r.sizeHistogram, [0, 3, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(r.coco, { small: 3, medium: 0, large: 0 });
  const text = formatReport(r, 2);
  assert.match(text, /^images: 5 \(2 with boxes, 3 without\)$/m);
  assert.match(text, /^problems: 4 errors, 1 warning \(1 warning clipped, 1 error missing-image, 1 error corrupt-image, 2 error image-size\)$/m);
  assert.match(text, /^ {2}\.\.\. and 3 more$/m);
});

test('the image folder is guessed from the COCO layout', () => {
  const root = join(dir, 'layout');
  mkdirSync(join(root, 'annotations'), { recursive: true });
  mkdirSync(join(root, 'train2017'));
  assert.equal(guessImageDir(join(root, 'annotations', 'instances_train2017.json')), join(root, 'train2017'));
  assert.equal(guessImageDir(join(root, 'annotations', 'other.json')), join(root, 'annotations'));
});

test('ladet data make and data check from the command line', () => {
  const out = join(dir, 'cli-shapes');
  const made = ladet(['data', 'make', 'shapes', `out=${out}`, 'train=6', 'val=2', 'seed=3', 'workers=1']);
  assert.equal(made.status, 0, made.stderr);
  assert.match(made.stdout, new RegExp(`^made shapes in ${out} `));
  assert.match(made.stdout, /^ {2}train: 6 images, \d+ boxes /m);
  const checked = ladet(['data', 'check', join(out, 'annotations', 'instances_train.json')]);
  assert.equal(checked.status, 0, checked.stderr);
  assert.match(checked.stdout, /^images: 6 \(6 with boxes, 0 without\)$/m);
  assert.match(checked.stdout, /^no problems found$/m);

  const bad = writeJson(dir, 'bad.json', { ...smallCoco(), annotations: [{ id: 1, image_id: 1, category_id: 7, bbox: [1, 2, -3, 4] }] });
  const failed = ladet(['data', 'check', bad, `images=${dir}`, 'decode=false']);
  assert.equal(failed.status, 1);
  assert.match(failed.stdout, new RegExp(`^ {2}error: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: annotations\\[0\\] \\(id 1\\): bbox has negative width$`, 'm'));

  const unknown = ladet(['data', 'make', 'shapes', 'colour=red']);
  assert.equal(unknown.status, 1);
  assert.equal(unknown.stderr, 'ladet data make: unknown argument colour (expected: out, seed, workers, force, train, val, size, minItems, maxItems, minSide, maxSide, maxIou)\n');
  const missing = ladet(['data', 'make', 'fashion-det', `out=${join(dir, 'fd')}`], { LADET_FASHION_MNIST: join(dir, 'nowhere') });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^ladet data make fashion-det: Fashion-MNIST not found \(missing .*\); install the Debian package dataset-fashion-mnist/);
  assert.match(missing.stderr, /`ladet data make shapes` needs no external data/);
});

test('an image that is a symlink leading out of the image folder is refused, by the loader and by check', async () => {
  const { symlinkSync } = await import('node:fs');
  const { readCoco } = await import('../../src/data/coco.js');
  const { DataLoader } = await import('../../src/data/loader.js');
  const { trainPipeline } = await import('../../src/data/transforms.js');
  const images = join(dir, 'linked');
  const outside = join(dir, 'outside');
  mkdirSync(images);
  mkdirSync(outside);
  await writeImage(join(images, 'a.png'), 64, 48, whiteRect(4, 6, 24, 16));
  await writeImage(join(outside, 'b.png'), 64, 48, whiteRect(4, 6, 24, 16));
  symlinkSync(join(outside, 'b.png'), join(images, 'b.png'));
  const ann = writeJson(dir, 'linked.json', smallCoco());
  const message = `image file "b.png" (${join(images, 'b.png')}) resolves to ${join(outside, 'b.png')}, outside ${images}: a symlink leads out of it`;
  const dataset = readCoco(ann);
  assert.throws(() => new DataLoader({ dataset, imageDir: images, batchSize: 2, pipeline: trainPipeline([[64, 48]]), workers: 0 }), { message });
  const r = await checkDataset(ann, { imageDir: images });
  assert.deepEqual(r.problems.map((p) => `${p.kind} ${p.where}: ${p.message}`), [`outside-folder images[1] (id 2): ${message}`]);
});

test('check reports an image over the pixel limit without decoding it', async () => {
  const images = join(dir, 'large');
  mkdirSync(images);
  await writeImage(join(images, 'a.png'), 64, 48, whiteRect(4, 6, 24, 16));
  await writeImage(join(images, 'b.png'), 64, 48, whiteRect(4, 6, 24, 16));
  const ann = writeJson(dir, 'large.json', smallCoco());
  const r = await checkDataset(ann, { imageDir: images, maxPixels: 64 * 48 - 1 });
  assert.deepEqual(r.problems.map((p) => `${p.kind} ${p.where}`), ['too-large images[0] (id 1)', 'too-large images[1] (id 2)']);
  assert.equal(
    r.problems[0]!.message,
    `image file ${join(images, 'a.png')}: the image is 64x48 (0.0 megapixels), over the limit of 0.0 megapixels (3071 pixels) for a decoded image; ` +
      'not decoded (raise it with maxPixels (data.maxImagePixels=N in a training config); 0 = no limit)',
  );
  assert.equal((await checkDataset(ann, { imageDir: images })).errors, 0);
});
