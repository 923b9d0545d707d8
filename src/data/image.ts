// Image files through sharp (libvips): JPEG, PNG, WebP (and whatever else libvips reads), EXIF orientation applied,
// grey and alpha images turned into 8-bit RGB (alpha dropped, as OpenCV's colour read does for mmdetection).
import { readFile } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';

/** 8-bit RGB pixels, row-major HWC: data[(y * width + x) * 3 + c]. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface ImageHeader {
  /** Size after EXIF orientation (what the decoded pixels have). */
  width: number;
  height: number;
  /** Size as stored, before orientation. */
  storedWidth: number;
  storedHeight: number;
  /** EXIF orientation 1..8 (1 when absent). */
  orientation: number;
  format: string;
}

/** Resampling kernel of sharp's resize; 'linear' is closest to mmdetection's cv2 bilinear. */
export type ResizeKernel = 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';

/** An image file's path, or its encoded bytes (JPEG, PNG, ...) already in memory. */
export type ImageSource = string | Uint8Array;

/** How errors name an image: its path, or `(image bytes)` for bytes in memory. */
export function sourceName(source: ImageSource): string {
  return typeof source === 'string' ? source : '(image bytes)';
}

/** An image that could not be read or decoded; names the file. */
export class ImageError extends Error {
  override name = 'ImageError';
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

/**
 * The most pixels (width x height, as stored) an image may have to be decoded: 100 megapixels, 300 MB of RGB. A
 * small file can hold a huge image (a 746 KB PNG of 16000x16000 takes 1.3 GB to decode), so the size is checked
 * from the header before decoding. Raised per call (DecodeOptions.maxPixels) or per run (data.maxImagePixels).
 */
export const DEFAULT_MAX_IMAGE_PIXELS = 100_000_000;

export interface DecodeOptions {
  /** Refuse images with more pixels than this (width x height), before decoding; 0 = no limit. */
  maxPixels?: number;
}

/**
 * Throws an ImageError naming the file, its size and the limit when width x height exceeds `maxPixels`
 * (0 = no limit). `raise` says how to raise the limit.
 */
export function checkImagePixels(
  source: ImageSource,
  width: number,
  height: number,
  maxPixels: number = DEFAULT_MAX_IMAGE_PIXELS,
  raise = 'data.maxImagePixels=N in the config, or the maxPixels decode option; 0 = no limit',
): void {
  if (!(Number.isInteger(maxPixels) && maxPixels >= 0)) throw new RangeError(`maxPixels must be a non-negative integer (got ${maxPixels})`);
  if (maxPixels === 0 || width * height <= maxPixels) return;
  const mp = (n: number): string => `${(n / 1e6).toFixed(1)} megapixels`;
  throw new ImageError(
    sourceName(source),
    `the image is ${width}x${height} (${mp(width * height)}), over the limit of ${mp(maxPixels)} (${maxPixels} pixels) ` +
      `for a decoded image; not decoded (raise it with ${raise})`,
  );
}

/** Reads just the header of an image (size, orientation, format). */
export async function readImageHeader(source: ImageSource): Promise<ImageHeader> {
  const bytes = await readBytes(source);
  try {
    return headerOf(await sharp(bytes).metadata());
  } catch (e) {
    throw new ImageError(sourceName(source), `not a readable image (${(e as Error).message})`);
  }
}

function headerOf(m: Metadata): ImageHeader {
  if (!m.width || !m.height) throw new Error('the image has no size');
  const orientation = m.orientation ?? 1;
  const swap = orientation >= 5 && orientation <= 8;
  return {
    width: swap ? m.height : m.width,
    height: swap ? m.width : m.height,
    storedWidth: m.width,
    storedHeight: m.height,
    orientation,
    format: m.format ?? 'unknown',
  };
}

/**
 * Decodes an image (a file, or encoded bytes) to RGB, optionally resized. `size(width, height)` receives the oriented size and returns
 * the wanted output size (return the same size for none); decoding and resizing run in one libvips pipeline,
 * so a large JPEG is shrunk while it is decoded. With `expected` (the size an annotation file gives) and no
 * resize wanted for it, the header is not read first: the decoded size is reported and the caller compares.
 * Returns the pixels and the oriented original size. An image of more than `opts.maxPixels` pixels (default
 * DEFAULT_MAX_IMAGE_PIXELS) is refused from its header, before any pixel is decoded.
 */
export async function decodeImage(
  source: ImageSource,
  size?: (width: number, height: number) => { width: number; height: number },
  kernel: ResizeKernel = 'linear',
  expected?: { width: number; height: number },
  opts: DecodeOptions = {},
): Promise<RgbImage & { originalWidth: number; originalHeight: number }> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_IMAGE_PIXELS;
  checkImagePixels(source, 1, 1, maxPixels); // validates the option before any I/O
  const bytes = await readBytes(source);
  // libvips checks the same limit from the header when the pipeline starts (the fast path below reads no header
  // itself); sharp's own default (0x3FFF², 268 MP) is replaced by ours.
  const limitInputPixels = maxPixels === 0 ? false : maxPixels;
  try {
    const img = sharp(bytes, { failOn: 'warning', limitInputPixels });
    const guess = expected && size ? size(expected.width, expected.height) : null;
    if (expected && (!size || (guess && guess.width === expected.width && guess.height === expected.height))) {
      // the common case of training at the stored size (the 160 px canvases): one libvips call instead of two
      const { data, info } = await img.autoOrient().removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
      if (info.width === expected.width && info.height === expected.height) {
        return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, originalWidth: info.width, originalHeight: info.height };
      }
      // another size than expected: fall through to the general path so the caller sees the real size
    }
    const header = headerOf(await img.metadata());
    checkImagePixels(source, header.width, header.height, maxPixels);
    const sized = sharp(bytes, { failOn: 'warning', limitInputPixels }).autoOrient().removeAlpha().toColourspace('srgb');
    const want = size ? size(header.width, header.height) : { width: header.width, height: header.height };
    const same = want.width === header.width && want.height === header.height;
    const up = !same && want.width >= header.width && want.height >= header.height;
    if (!same && !up) sized.resize(want.width, want.height, { fit: 'fill', kernel });
    if (up) sized.extend({ left: 1, top: 1, right: 1, bottom: 1, extendWith: 'copy' });
    const first = await sized.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    const out = up ? await upscale(first.data, header.width, header.height, want.width, want.height, kernel) : first.data;
    if (first.info.channels !== 3 || out.length !== want.width * want.height * 3) {
      throw new Error(`decoded to ${first.info.width}x${first.info.height}x${first.info.channels}, expected ${want.width}x${want.height}x3`);
    }
    return {
      data: new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
      width: want.width,
      height: want.height,
      originalWidth: header.width,
      originalHeight: header.height,
    };
  } catch (e) {
    if (e instanceof ImageError) throw e;
    if (/pixel limit/i.test((e as Error).message)) {
      // libvips refused it in the fast path: say so with the size, as the header check does
      const m = await sharp(bytes, { limitInputPixels: false }).metadata().catch(() => null);
      if (m?.width && m.height) {
        const h = headerOf(m);
        checkImagePixels(source, h.width, h.height, maxPixels);
      }
    }
    throw new ImageError(sourceName(source), `cannot decode the image (${(e as Error).message})`);
  }
}

/**
 * Enlarges RGB pixels (given with a one-pixel replicated border) to width x height by an affine map with
 * OpenCV's pixel-centre convention: output pixel X samples input (X + 0.5) / s - 0.5, edges replicated. (sharp's
 * resize shifts enlarged content by about half an output pixel, which would misalign boxes; its reductions are
 * centred and antialiased, so only enlargements come here.)
 */
async function upscale(padded: Buffer, w: number, h: number, width: number, height: number, kernel: ResizeKernel): Promise<Buffer> {
  const interpolator = kernel === 'nearest' ? 'nearest' : kernel === 'linear' ? 'bilinear' : 'bicubic';
  // idx/idy -0.5 (not +0.5) because the border shifts the input by one pixel; measured to match OpenCV exactly
  const { data, info } = await sharp(padded, { raw: { width: w + 2, height: h + 2, channels: 3 } })
    .affine([[width / w, 0], [0, height / h]], { interpolator, idx: -0.5, idy: -0.5, odx: -0.5, ody: -0.5 })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width === width && info.height === height) return data;
  if (info.width < width || info.height < height) throw new Error(`enlarged to ${info.width}x${info.height}, expected at least ${width}x${height}`);
  // the border enlarges too (right and bottom): keep the top-left width x height
  const out = Buffer.allocUnsafe(width * height * 3);
  for (let y = 0; y < height; y++) data.copy(out, y * width * 3, y * info.width * 3, (y * info.width + width) * 3);
  return out;
}

async function readBytes(source: ImageSource): Promise<Buffer> {
  if (typeof source !== 'string') return Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  const file = source;
  try {
    return await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageError(file, code === 'ENOENT' ? 'image file not found' : `cannot read the image file (${(e as Error).message})`);
  }
}

/**
 * Encodes RGB pixels as PNG (deterministic bytes for the same pixels and sharp version). Adaptive row filters
 * make noisy synthetic canvases about a third smaller for twice the (small) encoding time.
 */
export async function encodePng(img: RgbImage, compressionLevel = 6): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png({ compressionLevel, adaptiveFiltering: true })
    .toBuffer();
}

/** Encodes RGB pixels as JPEG. */
export async function encodeJpeg(img: RgbImage, quality = 90): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality }).toBuffer();
}
