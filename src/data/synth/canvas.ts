// Cluttered backgrounds for the synthetic datasets: a smooth two-colour gradient, low-frequency colour blotches,
// an optional faint texture (stripes or checks), low-contrast distractor patches and pixel noise. Everything is
// drawn from the given Rng, in plain JS, so a seed gives the same pixels on every machine.
import type { Rng } from '../rng.js';
import type { RgbImage } from '../image.js';

export interface BackgroundStyle {
  /** Chance of a faint periodic texture. */
  textureProb: number;
  /** Distractor patches, inclusive range. */
  patches: [number, number];
  /** Pixel noise amplitude range (0..255 units). */
  noise: [number, number];
}

export const CLUTTERED: BackgroundStyle = { textureProb: 0.35, patches: [2, 6], noise: [2, 9] };

/** A random colour with channels in [lo, hi]. */
export function randomColor(rng: Rng, lo = 0, hi = 255): [number, number, number] {
  return [rng.uniform(lo, hi), rng.uniform(lo, hi), rng.uniform(lo, hi)];
}

/** Rec. 601 luma of an RGB colour. */
export function luma(c: readonly number[]): number {
  return 0.299 * (c[0] as number) + 0.587 * (c[1] as number) + 0.114 * (c[2] as number);
}

/** Paints a width x height background; returns 8-bit RGB. */
export function paintBackground(rng: Rng, width: number, height: number, style: BackgroundStyle = CLUTTERED): RgbImage {
  const n = width * height;
  const f = new Float32Array(n * 3);

  // 1. gradient between two colours of moderate brightness along a random direction
  const c0 = randomColor(rng, 30, 225);
  const c1 = randomColor(rng, 30, 225);
  const angle = rng.uniform(0, 2 * Math.PI);
  const dx = Math.cos(angle);
  const dy = Math.sin(angle);
  const span = Math.abs(dx) * width + Math.abs(dy) * height;
  const base = Math.min(0, dx * width) + Math.min(0, dy * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = (dx * x + dy * y - base) / span;
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) f[o + c] = (c0[c] as number) + ((c1[c] as number) - (c0[c] as number)) * t;
    }
  }

  // 2. low-frequency blotches: a coarse random grid per channel, bilinearly upsampled
  const g = rng.int(3, 6);
  const amp = rng.uniform(8, 28);
  const grid = new Float32Array((g + 1) * (g + 1) * 3);
  for (let i = 0; i < grid.length; i++) grid[i] = rng.uniform(-amp, amp);
  for (let y = 0; y < height; y++) {
    const gy = (y / height) * g;
    const iy = Math.min(g - 1, Math.floor(gy));
    const ty = gy - iy;
    for (let x = 0; x < width; x++) {
      const gx = (x / width) * g;
      const ix = Math.min(g - 1, Math.floor(gx));
      const tx = gx - ix;
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const a = grid[(iy * (g + 1) + ix) * 3 + c] as number;
        const b = grid[(iy * (g + 1) + ix + 1) * 3 + c] as number;
        const d = grid[((iy + 1) * (g + 1) + ix) * 3 + c] as number;
        const e = grid[((iy + 1) * (g + 1) + ix + 1) * 3 + c] as number;
        f[o + c] = (f[o + c] as number) + (a + (b - a) * tx) * (1 - ty) + (d + (e - d) * tx) * ty;
      }
    }
  }

  // 3. a faint texture
  if (rng.chance(style.textureProb)) {
    const kind = rng.int(0, 1);
    const period = rng.uniform(4, 16);
    const tamp = rng.uniform(4, 12);
    const ta = rng.uniform(0, Math.PI);
    const ux = Math.cos(ta);
    const uy = Math.sin(ta);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const p = ux * x + uy * y;
        const q = -uy * x + ux * y;
        const v =
          kind === 0
            ? Math.sin((2 * Math.PI * p) / period)
            : (Math.floor(p / period) + Math.floor(q / period)) % 2 === 0
              ? 1
              : -1;
        const o = (y * width + x) * 3;
        for (let c = 0; c < 3; c++) f[o + c] = (f[o + c] as number) + v * tamp;
      }
    }
  }

  // 4. low-contrast distractor patches: soft ellipses and rectangles a little off the local colour
  const patches = rng.int(style.patches[0], style.patches[1]);
  for (let k = 0; k < patches; k++) {
    const cx = rng.uniform(0, width);
    const cy = rng.uniform(0, height);
    const rx = rng.uniform(4, width / 4);
    const ry = rng.uniform(4, height / 4);
    const delta = [rng.uniform(-30, 30), rng.uniform(-30, 30), rng.uniform(-30, 30)];
    const ellipse = rng.chance(0.5);
    const x0 = Math.max(0, Math.floor(cx - rx));
    const x1 = Math.min(width - 1, Math.ceil(cx + rx));
    const y0 = Math.max(0, Math.floor(cy - ry));
    const y1 = Math.min(height - 1, Math.ceil(cy + ry));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const u = (x + 0.5 - cx) / rx;
        const v = (y + 0.5 - cy) / ry;
        const d = ellipse ? u * u + v * v : Math.max(Math.abs(u), Math.abs(v));
        if (d >= 1) continue;
        const w = Math.min(1, (1 - d) * 3); // soft edge
        const o = (y * width + x) * 3;
        for (let c = 0; c < 3; c++) f[o + c] = (f[o + c] as number) + (delta[c] as number) * w;
      }
    }
  }

  // 5. pixel noise (difference of two uniforms: triangular, cheap and symmetric)
  const na = rng.uniform(style.noise[0], style.noise[1]);
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n * 3; i++) {
    const v = (f[i] as number) + (rng.next() - rng.next()) * na;
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
  }
  return { data: out, width, height };
}
