// The IDX format of MNIST / Fashion-MNIST (optionally gzipped): magic 0x00 0x00 TYPE NDIMS, then NDIMS big-endian
// uint32 sizes, then the values. Only unsigned bytes (TYPE 0x08) are needed here.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Reads an IDX file of unsigned bytes; `.gz` files are decompressed. Errors name the file. */
export function readIdx(file: string): IdxArray {
  let bytes: Uint8Array = readFileSync(file);
  if (file.endsWith('.gz')) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new Error(`${file}: not a valid gzip file (${(e as Error).message})`, { cause: e });
    }
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new Error(`${file}: not an IDX file (bad magic number)`);
  if (bytes[2] !== 0x08) throw new Error(`${file}: IDX value type 0x${(bytes[2] ?? 0).toString(16)} is not supported (only unsigned bytes)`);
  const ndims = bytes[3] as number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 + 4 * ndims) throw new Error(`${file}: truncated IDX header`);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * ndims;
  if (bytes.length - start !== count) {
    throw new Error(`${file}: IDX data has ${bytes.length - start} bytes but the header says ${dims.join('x')} = ${count}`);
  }
  return { dims, data: bytes.subarray(start) };
}

/** Where Debian's dataset-fashion-mnist package puts the files; LADET_FASHION_MNIST overrides it. */
export function fashionMnistDir(): string {
  return process.env.LADET_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';
}

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

export interface MnistSplit {
  /** [count, rows, cols] grey values, 0 = background. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
}

function splitFiles(dir: string, split: 'train' | 't10k'): [string, string] {
  return [join(dir, `${split}-images-idx3-ubyte.gz`), join(dir, `${split}-labels-idx1-ubyte.gz`)];
}

/** Why Fashion-MNIST cannot be read from `dir`, or null when all four files are there. */
export function fashionMnistMissing(dir = fashionMnistDir()): string | null {
  const missing = [...splitFiles(dir, 'train'), ...splitFiles(dir, 't10k')].filter((f) => !existsSync(f));
  if (missing.length === 0) return null;
  return `Fashion-MNIST not found (missing ${missing.join(', ')}); install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or set LADET_FASHION_MNIST to a folder with the four IDX .gz files`;
}

/** Loads the 60k training ('train') or 10k test ('t10k') items. */
export function readFashionMnist(split: 'train' | 't10k', dir = fashionMnistDir()): MnistSplit {
  const why = fashionMnistMissing(dir);
  if (why) throw new Error(why);
  const [imgFile, labelFile] = splitFiles(dir, split);
  const images = readIdx(imgFile);
  const labels = readIdx(labelFile);
  if (images.dims.length !== 3 || labels.dims.length !== 1) throw new Error(`${imgFile}: expected [N, rows, cols] images and [N] labels`);
  const [count, rows, cols] = images.dims as [number, number, number];
  if (labels.dims[0] !== count) throw new Error(`${labelFile}: ${labels.dims[0]} labels for ${count} images`);
  for (let i = 0; i < count; i++) {
    if ((labels.data[i] as number) >= FASHION_MNIST_CLASSES.length) throw new Error(`${labelFile}: label ${labels.data[i]} at item ${i} is not a class 0..9`);
  }
  return { images: images.data, labels: labels.data, count, rows, cols };
}
