import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { crc32, createDeflate } from 'node:zlib';
import { DEFAULT_MAX_IMAGE_PIXELS, decodeImage, ImageError, readImageHeader } from '../../src/data/image.js';
import { pixels, tempDir } from './fixtures.js';

const dir = tempDir();
const W = 8;
const H = 6;
const pattern = (x: number, y: number): number[] => [x * 30, y * 40, 200 - x * 10 - y * 5];
const raw = Buffer.from(pixels(W, H, pattern));

test('PNG and lossless WebP decode to the exact RGB pixels', async () => {
  for (const ext of ['png', 'webp']) {
    const file = join(dir, `p.${ext}`);
    const img = sharp(raw, { raw: { width: W, height: H, channels: 3 } });
    await (ext === 'png' ? img.png() : img.webp({ lossless: true })).toFile(file);
    const d = await decodeImage(file);
    assert.equal(d.width, W);
    assert.equal(d.height, H);
    assert.deepEqual(Buffer.from(d.data), raw, ext);
  }
});

test('JPEG decodes close to the encoded pixels', async () => {
  const file = join(dir, 'p.jpg');
  await sharp(raw, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).toFile(file);
  const d = await decodeImage(file);
  let worst = 0;
  for (let i = 0; i < raw.length; i++) worst = Math.max(worst, Math.abs((d.data[i] as number) - (raw[i] as number)));
  assert.ok(worst <= 6, `largest JPEG error ${worst}`);
});

test('grey images become RGB with equal channels', async () => {
  const file = join(dir, 'grey.png');
  const grey = Buffer.from(Array.from({ length: W * H }, (_, i) => (i * 5) % 256));
  await sharp(grey, { raw: { width: W, height: H, channels: 1 } }).toColourspace('b-w').png().toFile(file);
  assert.equal((await sharp(file).metadata()).channels, 1, 'the fixture must really be single-channel');
  const d = await decodeImage(file);
  for (let i = 0; i < W * H; i++) assert.deepEqual([...d.data.subarray(i * 3, i * 3 + 3)], [grey[i], grey[i], grey[i]]);
});

test('RGBA images lose their alpha channel (not composited)', async () => {
  const file = join(dir, 'rgba.png');
  const rgba = Buffer.alloc(W * H * 4);
  for (let i = 0; i < W * H; i++) rgba.set([raw[i * 3]!, raw[i * 3 + 1]!, raw[i * 3 + 2]!, (i * 7) % 256], i * 4);
  await sharp(rgba, { raw: { width: W, height: H, channels: 4 } }).png().toFile(file);
  assert.equal((await sharp(file).metadata()).channels, 4);
  const d = await decodeImage(file);
  assert.deepEqual(Buffer.from(d.data), raw);
});

test('EXIF orientation is applied (6: rotate 90 degrees clockwise)', async () => {
  const file = join(dir, 'exif.jpg');
  // stored 40x20, red in the stored top-left 20x10 quarter, blue elsewhere
  const stored = pixels(40, 20, (x, y) => (x < 20 && y < 10 ? [255, 0, 0] : [0, 0, 255]));
  await sharp(Buffer.from(stored), { raw: { width: 40, height: 20, channels: 3 } })
    .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
    .withMetadata({ orientation: 6 })
    .toFile(file);
  const header = await readImageHeader(file);
  assert.deepEqual(header, { width: 20, height: 40, storedWidth: 40, storedHeight: 20, orientation: 6, format: 'jpeg' });
  const d = await decodeImage(file);
  assert.deepEqual([d.width, d.height], [20, 40]);
  // rotated clockwise, the stored top-left quarter becomes the top-right one: x in [10, 20), y in [0, 20)
  const red = (x: number, y: number): boolean => (d.data[(y * 20 + x) * 3] as number) > 128 && (d.data[(y * 20 + x) * 3 + 2] as number) < 128;
  assert.deepEqual([red(15, 5), red(15, 15), red(5, 5), red(5, 15), red(15, 25), red(5, 35)], [true, true, false, false, false, false]);
});

test('decoding can resize in the same pipeline, given the oriented size', async () => {
  const file = join(dir, 'p.png');
  let seen: number[] = [];
  const d = await decodeImage(file, (w, h) => {
    seen = [w, h];
    return { width: 16, height: 12 };
  });
  assert.deepEqual(seen, [W, H]);
  assert.deepEqual([d.width, d.height, d.originalWidth, d.originalHeight, d.data.length], [16, 12, W, H, 16 * 12 * 3]);
});

/** OpenCV's INTER_LINEAR (pixel centres, replicated edges) of channel c at output (X, Y): the reference. */
function cvBilinear(src: Uint8Array, w: number, h: number, W: number, H: number, X: number, Y: number, c: number): number {
  const sx = Math.max(0, ((X + 0.5) * w) / W - 0.5);
  const sy = Math.max(0, ((Y + 0.5) * h) / H - 0.5);
  const x0 = Math.min(w - 1, Math.floor(sx));
  const y0 = Math.min(h - 1, Math.floor(sy));
  const x1 = Math.min(w - 1, x0 + 1);
  const y1 = Math.min(h - 1, y0 + 1);
  const tx = Math.min(1, sx - x0);
  const ty = Math.min(1, sy - y0);
  const g = (x: number, y: number): number => src[(y * w + x) * 3 + c] as number;
  return (g(x0, y0) * (1 - tx) + g(x1, y0) * tx) * (1 - ty) + (g(x0, y1) * (1 - tx) + g(x1, y1) * tx) * ty;
}

test('enlarging matches OpenCV bilinear (as mmdetection resizes) to rounding, borders included', async () => {
  const w = 20;
  const h = 15;
  const src = pixels(w, h, (x, y) => [(x * 97 + y * 13) % 256, (x * 31 + y * 71) % 256, (x * y * 7) % 256]);
  const file = join(dir, 'noise.png');
  await sharp(Buffer.from(src), { raw: { width: w, height: h, channels: 3 } }).png().toFile(file);
  for (const [W, H] of [[50, 38], [26, 20], [21, 16], [33, 15]] as const) {
    const d = await decodeImage(file, () => ({ width: W, height: H }));
    let worst = 0;
    for (let Y = 0; Y < H; Y++) {
      for (let X = 0; X < W; X++) {
        for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(cvBilinear(src, w, h, W, H, X, Y, c) - (d.data[(Y * W + X) * 3 + c] as number)));
      }
    }
    assert.ok(worst <= 1, `${W}x${H}: largest difference ${worst}`);
  }
});

test('reducing keeps content centred', async () => {
  // a white band [10, 22) of 40 lands at [2.5, 5.5) when reduced 4x: centre 4
  const file = join(dir, 'column.png');
  await sharp(Buffer.from(pixels(40, 4, (x) => (x >= 10 && x < 22 ? [255, 255, 255] : [0, 0, 0]))), { raw: { width: 40, height: 4, channels: 3 } })
    .png()
    .toFile(file);
  const d = await decodeImage(file, () => ({ width: 10, height: 1 }));
  let mass = 0;
  let moment = 0;
  for (let x = 0; x < 10; x++) {
    mass += d.data[x * 3] as number;
    moment += (x + 0.5) * (d.data[x * 3] as number);
  }
  assert.ok(Math.abs(moment / mass - 4) < 0.05, `centroid ${moment / mass}`);
});

test('missing and corrupt files give an ImageError naming the file', async () => {
  const missing = join(dir, 'missing.png');
  await assert.rejects(decodeImage(missing), (e: Error) => e instanceof ImageError && e.message === `${missing}: image file not found`);
  const truncated = join(dir, 'truncated.png');
  const png = readFileSync(join(dir, 'p.png'));
  writeFileSync(truncated, png.subarray(0, png.length - 30));
  await assert.rejects(decodeImage(truncated), (e: Error) => e instanceof ImageError && e.message.startsWith(`${truncated}: cannot decode the image (`));
  const text = join(dir, 'text.png');
  writeFileSync(text, 'not an image');
  await assert.rejects(readImageHeader(text), (e: Error) => e.message.startsWith(`${text}: not a readable image (`));
});

/** A black RGB PNG of any size, deflated row by row (16000x16000: 746 KB on disk, 768 MB decoded). */
export async function writeBlackPng(file: string, width: number, height: number): Promise<void> {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const deflate = createDeflate();
  const parts: Buffer[] = [];
  deflate.on('data', (b: Buffer) => parts.push(b));
  const ended = new Promise((resolve) => deflate.on('end', resolve));
  const row = Buffer.alloc(1 + width * 3); // filter byte 0 + black pixels
  for (let y = 0; y < height; y++) if (!deflate.write(row)) await new Promise((resolve) => deflate.once('drain', resolve));
  deflate.end();
  await ended;
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  writeFileSync(file, Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', Buffer.concat(parts)), chunk('IEND', Buffer.alloc(0))]));
}

test('an image over the pixel limit is refused from its header, before decoding; the error names file, size, limit and key', async () => {
  const big = join(dir, 'big.png');
  await writeBlackPng(big, 16000, 16000);
  assert.ok(statSync(big).size < 1_000_000, 'a small file ...');
  assert.equal(DEFAULT_MAX_IMAGE_PIXELS, 100_000_000);
  const message =
    `${big}: the image is 16000x16000 (256.0 megapixels), over the limit of 100.0 megapixels (100000000 pixels) for a decoded image; ` +
    'not decoded (raise it with data.maxImagePixels=N in the config, or the maxPixels decode option; 0 = no limit)';
  const rss = process.memoryUsage().rss;
  const t0 = Date.now();
  // both paths: a resize wanted (the header is read first), and the loader's fast path (expected size, no header)
  await assert.rejects(decodeImage(big, (w, h) => ({ width: w / 100, height: h / 100 })), (e: Error) => e instanceof ImageError && e.message === message);
  await assert.rejects(decodeImage(big, undefined, 'linear', { width: 16000, height: 16000 }), (e: Error) => e instanceof ImageError && e.message === message);
  // ... that was never decoded: 768 MB of pixels would show in the resident memory and take seconds
  assert.ok(process.memoryUsage().rss - rss < 200e6, `resident memory grew by ${((process.memoryUsage().rss - rss) / 1e6).toFixed(0)} MB`);
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  rmSync(big);
  // the limit is per call: 6x4 = 24 pixels
  const small = join(dir, 'limit.png');
  await sharp(raw, { raw: { width: W, height: H, channels: 3 } }).png().toFile(small);
  await assert.rejects(decodeImage(small, undefined, 'linear', undefined, { maxPixels: 40 }), (e: Error) =>
    e.message.includes(`the image is ${W}x${H} (0.0 megapixels), over the limit of 0.0 megapixels (40 pixels)`));
  assert.equal((await decodeImage(small, undefined, 'linear', undefined, { maxPixels: W * H })).width, W);
  assert.equal((await decodeImage(small, undefined, 'linear', { width: W, height: H }, { maxPixels: 0 })).width, W); // 0: no limit
  await assert.rejects(decodeImage(small, undefined, 'linear', undefined, { maxPixels: -1 }), /maxPixels must be a non-negative integer \(got -1\)/);
});
