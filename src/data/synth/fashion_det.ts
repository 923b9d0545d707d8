// fashion-det: Fashion-MNIST garments (28x28 grey) scaled to 12..96 px, tinted, on cluttered backgrounds.
// Train canvases draw only from the 60k training items, val canvases only from the 10k test items.
import { CLUTTERED } from './canvas.js';
import { tightStencil } from './compose.js';
import { renderCanvas, type Generator, type Split } from './generator.js';
import { FASHION_MNIST_CLASSES, fashionMnistMissing, readFashionMnist, type MnistSplit } from './idx.js';

/** Grey value (0..255) from which a resized item pixel belongs to the object. */
const INK = 40;

export const fashionDet: Generator = {
  name: 'fashion-det',
  description: 'Fashion-MNIST items (10 classes) on cluttered backgrounds; needs Debian dataset-fashion-mnist',
  classes: FASHION_MNIST_CLASSES,
  background: CLUTTERED,
  missing: () => fashionMnistMissing(),
  open(split: Split) {
    const source = readFashionMnist(split === 'train' ? 'train' : 't10k');
    return (seed, index, params) =>
      renderCanvas(seed, split, index, params, CLUTTERED, (rng, side) => {
        const item = rng.int(0, source.count - 1);
        const flip = rng.chance(0.5);
        const grey = resizeItem(source, item, side, flip);
        const mask = new Uint8Array(side * side);
        const shade = new Float32Array(side * side);
        for (let i = 0; i < grey.length; i++) {
          const v = grey[i] as number;
          mask[i] = v >= INK ? 1 : 0;
          shade[i] = 0.55 + (0.45 * v) / 255;
        }
        const stencil = tightStencil(side, side, mask, shade);
        return stencil ? { stencil, label: source.labels[item] as number } : null;
      });
  },
};

/** Bilinear resize (pixel centres aligned) of item `i` to side x side, optionally mirrored. */
export function resizeItem(src: MnistSplit, i: number, side: number, flip: boolean): Float32Array {
  const { rows, cols } = src;
  const base = i * rows * cols;
  const out = new Float32Array(side * side);
  const sy = rows / side;
  const sx = cols / side;
  for (let y = 0; y < side; y++) {
    const fy = Math.min(rows - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(rows - 1, y0 + 1);
    const ty = fy - y0;
    for (let x = 0; x < side; x++) {
      const xx = flip ? side - 1 - x : x;
      const fx = Math.min(cols - 1, Math.max(0, (xx + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(cols - 1, x0 + 1);
      const tx = fx - x0;
      const a = src.images[base + y0 * cols + x0] as number;
      const b = src.images[base + y0 * cols + x1] as number;
      const c = src.images[base + y1 * cols + x0] as number;
      const d = src.images[base + y1 * cols + x1] as number;
      out[y * side + x] = (a + (b - a) * tx) * (1 - ty) + (c + (d - c) * tx) * ty;
    }
  }
  return out;
}
