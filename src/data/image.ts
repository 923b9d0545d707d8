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

/** Reads just the header of an image file (size, orientation, format). */
export async function readImageHeader(file: string): Promise<ImageHeader> {
  const bytes = await readBytes(file);
  try {
    return headerOf(await sharp(bytes).metadata());
  } catch (e) {
    throw new ImageError(file, `not a readable image (${(e as Error).message})`);
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
 * Decodes an image file to RGB, optionally resized. `size(width, height)` receives the oriented size and returns
 * the wanted output size (return the same size for none); decoding and resizing run in one libvips pipeline,
 * so a large JPEG is shrunk while it is decoded.
 * Returns the pixels and the oriented original size.
 */
export async function decodeImage(
  file: string,
  size?: (width: number, height: number) => { width: number; height: number },
  kernel: ResizeKernel = 'linear',
): Promise<RgbImage & { originalWidth: number; originalHeight: number }> {
  const bytes = await readBytes(file);
  try {
    const img = sharp(bytes, { failOn: 'warning' });
    const header = headerOf(await img.metadata());
    img.autoOrient();
    const want = size ? size(header.width, header.height) : { width: header.width, height: header.height };
    if (want.width !== header.width || want.height !== header.height) {
      img.resize(want.width, want.height, { fit: 'fill', kernel });
    }
    const { data, info } = await img.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== want.width || info.height !== want.height) {
      throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${want.width}x${want.height}x3`);
    }
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      width: info.width,
      height: info.height,
      originalWidth: header.width,
      originalHeight: header.height,
    };
  } catch (e) {
    throw new ImageError(file, `cannot decode the image (${(e as Error).message})`);
  }
}

async function readBytes(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageError(file, code === 'ENOENT' ? 'image file not found' : `cannot read the image file (${(e as Error).message})`);
  }
}

/** Encodes RGB pixels as PNG (deterministic bytes for the same pixels and sharp version). */
export async function encodePng(img: RgbImage, compressionLevel = 6): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png({ compressionLevel, adaptiveFiltering: false })
    .toBuffer();
}

/** Encodes RGB pixels as JPEG. */
export async function encodeJpeg(img: RgbImage, quality = 90): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality }).toBuffer();
}
