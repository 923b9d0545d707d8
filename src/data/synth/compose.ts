// Placing objects on a canvas. An object is a stencil (a binary mask with a shade per pixel) painted opaquely in
// one tint; an owner map records which object is on top at each pixel, so each box is the tight bounds of the
// pixels where that object is visible. Placements are rejected when they would overlap another object's box by
// more than maxIou or hide too much of an object already placed.
import type { RgbImage } from '../image.js';
import type { Rng } from '../rng.js';
import { luma } from './canvas.js';

/** A cropped object mask: mask[y*width+x] is 1 where the object is, shade (0..1) modulates its tint there. */
export interface Stencil {
  width: number;
  height: number;
  mask: Uint8Array;
  shade: Float32Array;
}

/** Box in pixel edges: x1, y1 inclusive first pixel; x2, y2 one past the last pixel. */
export type Box = [number, number, number, number];

export interface PlacedObject {
  label: number;
  box: Box;
  /** Visible pixels of the object. */
  pixels: number;
}

export interface PlaceOptions {
  /** Largest IoU allowed between any two boxes. */
  maxIou: number;
  /** Fraction of an object's pixels that must stay visible when later objects cover it. */
  minVisible: number;
  /** Positions tried before giving up on an object. */
  attempts: number;
}

/** Crops a w x h mask/shade to the tight bounds of the mask; null when the mask is empty. */
export function tightStencil(width: number, height: number, mask: Uint8Array, shade: Float32Array): Stencil | null {
  let x1 = width;
  let y1 = height;
  let x2 = -1;
  let y2 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!mask[y * width + x]) continue;
      if (x < x1) x1 = x;
      if (x > x2) x2 = x;
      if (y < y1) y1 = y;
      if (y > y2) y2 = y;
    }
  }
  if (x2 < 0) return null;
  const w = x2 - x1 + 1;
  const h = y2 - y1 + 1;
  const m = new Uint8Array(w * h);
  const s = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      m[y * w + x] = mask[(y + y1) * width + x + x1] as number;
      s[y * w + x] = shade[(y + y1) * width + x + x1] as number;
    }
  }
  return { width: w, height: h, mask: m, shade: s };
}

/** IoU of two pixel-edge boxes. */
export function boxIou(a: Box, b: Box): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/** A tint whose luma differs from `background`'s by at least `minContrast` (so the object stays visible). */
export function contrastingTint(rng: Rng, background: readonly number[], minContrast = 60): [number, number, number] {
  const c: [number, number, number] = [rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255)];
  const bl = luma(background);
  const darker = bl - minContrast >= 10 && (bl + minContrast > 235 || rng.chance(0.5));
  const l = Math.max(1, luma(c));
  if (darker) {
    const target = rng.uniform(Math.max(0, bl - minContrast - 110), bl - minContrast);
    const k = Math.min(1, target / l);
    return [c[0] * k, c[1] * k, c[2] * k];
  }
  const target = rng.uniform(Math.min(255, bl + minContrast), Math.min(255, bl + minContrast + 110));
  const k = l >= 255 ? 0 : Math.max(0, (255 - target) / (255 - l));
  return [255 - (255 - c[0]) * k, 255 - (255 - c[1]) * k, 255 - (255 - c[2]) * k];
}

interface Placed {
  label: number;
  box: Box;
  full: number;
  visible: number;
}

export class Composer {
  /** Index of the object on top at each pixel, -1 for background. */
  readonly owner: Int16Array;
  private readonly objects: Placed[] = [];

  constructor(readonly canvas: RgbImage) {
    this.owner = new Int16Array(canvas.width * canvas.height).fill(-1);
  }

  /** The objects with their final visible boxes. */
  placed(): PlacedObject[] {
    return this.objects.map((o) => ({ label: o.label, box: [...o.box] as Box, pixels: o.visible }));
  }

  /**
   * Tries random positions for `stencil`; on success paints it with a tint from `tintFor(mean colour under it)`
   * plus a little pixel noise, and returns true.
   */
  tryPlace(stencil: Stencil, label: number, rng: Rng, opts: PlaceOptions, tintFor: (under: number[]) => readonly number[]): boolean {
    const { width: W, height: H } = this.canvas;
    const { width: w, height: h, mask } = stencil;
    if (w > W || h > H) return false;
    let full = 0;
    for (let i = 0; i < mask.length; i++) full += mask[i] as number;
    for (let attempt = 0; attempt < opts.attempts; attempt++) {
      const x0 = rng.int(0, W - w);
      const y0 = rng.int(0, H - h);
      const box: Box = [x0, y0, x0 + w, y0 + h];
      if (this.objects.some((o) => boxIou(o.box, box) > opts.maxIou)) continue;
      const covered = new Int32Array(this.objects.length);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          if (!mask[y * w + x]) continue;
          const o = this.owner[(y0 + y) * W + x0 + x] as number;
          if (o >= 0) covered[o] = (covered[o] as number) + 1;
        }
      }
      if (this.objects.some((o, i) => o.visible - (covered[i] as number) < opts.minVisible * o.full)) continue;
      const boxes = this.objects.map((o, i) => (covered[i] ? this.visibleBox(i, stencil, x0, y0) : o.box));
      boxes.push(box);
      if (!pairsOk(boxes, covered, opts.maxIou)) continue;
      this.paint(stencil, x0, y0, rng, tintFor);
      this.objects.forEach((o, i) => {
        o.visible -= covered[i] as number;
        o.box = boxes[i] as Box;
      });
      this.objects.push({ label, box, full, visible: full });
      return true;
    }
    return false;
  }

  /** Tight box of object i's pixels that stay visible once `s` is painted at (x0, y0). */
  private visibleBox(i: number, s: Stencil, x0: number, y0: number): Box {
    const W = this.canvas.width;
    const o = this.objects[i] as Placed;
    let bx1 = Infinity;
    let by1 = Infinity;
    let bx2 = -Infinity;
    let by2 = -Infinity;
    for (let y = o.box[1]; y < o.box[3]; y++) {
      for (let x = o.box[0]; x < o.box[2]; x++) {
        if (this.owner[y * W + x] !== i) continue;
        const sx = x - x0;
        const sy = y - y0;
        if (sx >= 0 && sy >= 0 && sx < s.width && sy < s.height && s.mask[sy * s.width + sx]) continue;
        if (x < bx1) bx1 = x;
        if (y < by1) by1 = y;
        if (x + 1 > bx2) bx2 = x + 1;
        if (y + 1 > by2) by2 = y + 1;
      }
    }
    return [bx1, by1, bx2, by2];
  }

  private paint(s: Stencil, x0: number, y0: number, rng: Rng, tintFor: (under: number[]) => readonly number[]): void {
    const { width: W, data } = this.canvas;
    const under = [0, 0, 0];
    let n = 0;
    for (let y = 0; y < s.height; y++) {
      for (let x = 0; x < s.width; x++) {
        if (!s.mask[y * s.width + x]) continue;
        const p = ((y0 + y) * W + x0 + x) * 3;
        for (let c = 0; c < 3; c++) under[c] = (under[c] as number) + (data[p + c] as number);
        n++;
      }
    }
    const tint = tintFor(under.map((v) => v / Math.max(1, n)));
    const noise = rng.uniform(1, 6);
    const k = this.objects.length;
    for (let y = 0; y < s.height; y++) {
      for (let x = 0; x < s.width; x++) {
        const i = y * s.width + x;
        if (!s.mask[i]) continue;
        const q = (y0 + y) * W + x0 + x;
        const shade = s.shade[i] as number;
        for (let c = 0; c < 3; c++) {
          const v = (tint[c] as number) * shade + (rng.next() - rng.next()) * noise;
          data[q * 3 + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
        }
        this.owner[q] = k;
      }
    }
  }
}

/** Every pair involving the new box (last) or a changed box keeps IoU <= maxIou. */
function pairsOk(boxes: readonly Box[], covered: Int32Array, maxIou: number): boolean {
  const last = boxes.length - 1;
  for (let i = 0; i < boxes.length; i++) {
    const changed = i === last || (covered[i] as number) > 0;
    if (!changed) continue;
    for (let j = 0; j < boxes.length; j++) {
      if (j !== i && boxIou(boxes[i] as Box, boxes[j] as Box) > maxIou) return false;
    }
  }
  return true;
}
