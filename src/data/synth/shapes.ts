// shapes: procedural shapes (circle, square, triangle, star, ring, cross, hexagon, heart) with flat, striped or
// shaded fills on textured backgrounds. Needs no external data: the tests' dataset and fashion-det's fallback.
import type { Rng } from '../rng.js';
import { CLUTTERED } from './canvas.js';
import { tightStencil } from './compose.js';
import { renderCanvas, type Generator } from './generator.js';

export const SHAPE_CLASSES = ['circle', 'square', 'triangle', 'star', 'ring', 'cross', 'hexagon', 'heart'] as const;

const TEXTURED = { ...CLUTTERED, textureProb: 0.8 };
const SQRT3 = Math.sqrt(3);
const STAR = Array.from({ length: 10 }, (_, k) => {
  const r = k % 2 === 0 ? 1 : 0.45;
  const a = Math.PI / 2 + (k * Math.PI) / 5;
  return [r * Math.cos(a), r * Math.sin(a)] as const;
});

/** Whether (u, v) (y up, in [-1, 1]) is inside shape `label`. */
export function insideShape(label: number, u: number, v: number): boolean {
  switch (label) {
    case 0:
      return u * u + v * v <= 1;
    case 1:
      return Math.abs(u) <= 0.75 && Math.abs(v) <= 0.75;
    case 2: // equilateral, circumradius 1, pointing up
      return v >= -0.5 && SQRT3 * u + v <= 1 && -SQRT3 * u + v <= 1;
    case 3:
      return insidePolygon(STAR, u, v);
    case 4: {
      const r2 = u * u + v * v;
      return r2 <= 1 && r2 >= 0.3;
    }
    case 5:
      return (Math.abs(u) <= 0.3 && Math.abs(v) <= 0.95) || (Math.abs(v) <= 0.3 && Math.abs(u) <= 0.95);
    case 6:
      return Math.abs(v) <= SQRT3 / 2 && SQRT3 * Math.abs(u) + Math.abs(v) <= SQRT3;
    case 7: {
      const x = u * 1.15;
      const y = v * 1.15 + 0.1;
      const q = x * x + y * y - 1;
      return q * q * q - x * x * y * y * y <= 0;
    }
    default:
      throw new Error(`shapes: no shape ${label}`);
  }
}

function insidePolygon(poly: readonly (readonly [number, number])[], x: number, y: number): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i] as readonly [number, number];
    const [xj, yj] = poly[j] as readonly [number, number];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function makeShape(rng: Rng, side: number): { stencil: ReturnType<typeof tightStencil>; label: number } {
  const label = rng.int(0, SHAPE_CLASSES.length - 1);
  const angle = label === 0 || label === 4 ? 0 : rng.uniform(-0.3, 0.3);
  const ax = rng.uniform(0.85, 1.15);
  const ay = rng.uniform(0.85, 1.15);
  const fill = rng.int(0, 2);
  const period = rng.uniform(3, 8);
  const ca = Math.cos(angle);
  const sa = Math.sin(angle);
  const mask = new Uint8Array(side * side);
  const shade = new Float32Array(side * side);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      // 2x2 supersampling; a pixel belongs to the shape when at least half of it does
      let hits = 0;
      for (const oy of [0.25, 0.75]) {
        for (const ox of [0.25, 0.75]) {
          const px = ((x + ox) / side) * 2 - 1;
          const py = 1 - ((y + oy) / side) * 2;
          const u = (ca * px + sa * py) * ax;
          const v = (-sa * px + ca * py) * ay;
          if (insideShape(label, u, v)) hits++;
        }
      }
      const i = y * side + x;
      mask[i] = hits >= 2 ? 1 : 0;
      const r = Math.hypot(x / side - 0.5, y / side - 0.5) * 2;
      shade[i] = fill === 0 ? 1 : fill === 1 ? 0.85 + 0.15 * Math.sin((2 * Math.PI * (x + y)) / period) : 1 - 0.3 * Math.min(1, r);
    }
  }
  return { stencil: tightStencil(side, side, mask, shade), label };
}

export const shapes: Generator = {
  name: 'shapes',
  description: 'procedural shapes (8 classes) on textured backgrounds; no external data',
  classes: SHAPE_CLASSES,
  background: TEXTURED,
  missing: () => null,
  open(split) {
    return (seed, index, params) =>
      renderCanvas(seed, split, index, params, TEXTURED, (rng, side) => {
        const { stencil, label } = makeShape(rng, side);
        return stencil ? { stencil, label } : null;
      });
  },
};
