// Anchor generation with mmdetection's AnchorGenerator layout: per level, locations in row-major (y, x) order and
// the base anchors of one location innermost; levels concatenated finest first. With center_offset 0 an anchor is
// centred on its cell's top-left corner (x·s, y·s), not on the cell centre.
// Pure TypeScript with no imports (src/runtime uses it); anchors.ts adds the tensor forms (AnchorGenerator).

export interface AnchorConfig {
  /** feature strides per level, finest first */
  strides: readonly number[];
  /** height/width ratios */
  ratios: readonly number[];
  /** explicit scales; if absent, octaveBaseScale · 2^(i / scalesPerOctave), i < scalesPerOctave */
  scales?: readonly number[];
  octaveBaseScale?: number;
  scalesPerOctave?: number;
  /** base size per level (defaults to the strides) */
  baseSizes?: readonly number[];
  /** anchor centre within a cell, as a fraction of the stride (0 = top-left corner) */
  centerOffset?: number;
}

/** PAA / RetinaNet-style single square anchor of side 8·stride on P3..P7. */
export const PAA_ANCHORS: AnchorConfig = {
  strides: [8, 16, 32, 64, 128],
  ratios: [1],
  octaveBaseScale: 8,
  scalesPerOctave: 1,
  centerOffset: 0,
};

/** [height, width] of a feature map or an image. */
export type Size = readonly [number, number];

export class AnchorGrid {
  readonly strides: readonly number[];
  readonly ratios: readonly number[];
  readonly scales: readonly number[];
  readonly baseSizes: readonly number[];
  readonly centerOffset: number;

  constructor(cfg: AnchorConfig = PAA_ANCHORS) {
    if (cfg.strides.length === 0) throw new Error('AnchorGrid: strides must not be empty');
    if (cfg.ratios.length === 0) throw new Error('AnchorGrid: ratios must not be empty');
    this.strides = [...cfg.strides];
    this.ratios = [...cfg.ratios];
    if (cfg.scales !== undefined) {
      if (cfg.octaveBaseScale !== undefined || cfg.scalesPerOctave !== undefined) {
        throw new Error('AnchorGrid: give either scales or octaveBaseScale/scalesPerOctave, not both');
      }
      this.scales = [...cfg.scales];
    } else {
      const base = cfg.octaveBaseScale ?? 8;
      const per = cfg.scalesPerOctave ?? 1;
      this.scales = Array.from({ length: per }, (_, i) => base * 2 ** (i / per));
    }
    this.baseSizes = cfg.baseSizes ? [...cfg.baseSizes] : [...cfg.strides];
    if (this.baseSizes.length !== this.strides.length) {
      throw new Error(`AnchorGrid: baseSizes has ${this.baseSizes.length} entries, strides ${this.strides.length}`);
    }
    this.centerOffset = cfg.centerOffset ?? 0;
  }

  get numLevels(): number {
    return this.strides.length;
  }

  /** Anchors per location (ratios × scales). */
  get numBaseAnchors(): number {
    return this.ratios.length * this.scales.length;
  }

  /**
   * The base anchors of one level around (offset·stride, offset·stride): (k, 4) x1,y1,x2,y2 as a flat array,
   * ratio-major then scale (mmdetection's scale_major ordering).
   */
  baseAnchors(level: number): Float64Array {
    const size = this.baseSizes[level];
    if (size === undefined) throw new RangeError(`AnchorGrid: level ${level} out of range (0..${this.numLevels - 1})`);
    const cx = this.centerOffset * size;
    const cy = this.centerOffset * size;
    const out = new Float64Array(this.numBaseAnchors * 4);
    let k = 0;
    for (const r of this.ratios) {
      const hr = Math.sqrt(r);
      const wr = 1 / hr;
      for (const s of this.scales) {
        const w = size * wr * s;
        const h = size * hr * s;
        out[k++] = cx - 0.5 * w;
        out[k++] = cy - 0.5 * h;
        out[k++] = cx + 0.5 * w;
        out[k++] = cy + 0.5 * h;
      }
    }
    return out;
  }

  /**
   * Feature-map sizes a stride-2 conv pyramid produces from a padded input [h, w]: ceil(h/s) × ceil(w/s)
   * (each 3x3 stride-2 pad-1 conv maps n to ceil(n/2)).
   */
  featmapSizes(padShape: Size): Size[] {
    return this.strides.map((s) => [Math.ceil(padShape[0] / s), Math.ceil(padShape[1] / s)] as const);
  }

  /** Anchors per level for the given feature-map sizes. */
  countsPerLevel(featSizes: readonly Size[]): number[] {
    this.#checkLevels(featSizes);
    return featSizes.map(([h, w]) => h * w * this.numBaseAnchors);
  }

  /** Start offset of each level in the concatenated anchor list, plus the total at the end (length L+1). */
  levelStarts(featSizes: readonly Size[]): number[] {
    const counts = this.countsPerLevel(featSizes);
    const starts = [0];
    for (const c of counts) starts.push((starts[starts.length - 1] as number) + c);
    return starts;
  }

  /** All anchors of all levels as a flat (A_tot·4) array (float32 values, as mmdetection computes them). */
  gridAnchorsArray(featSizes: readonly Size[]): Float32Array {
    const counts = this.countsPerLevel(featSizes);
    const out = new Float32Array(counts.reduce((a, b) => a + b, 0) * 4);
    let k = 0;
    featSizes.forEach(([h, w], level) => {
      const base = this.baseAnchors(level);
      const s = this.strides[level] as number;
      const nb = this.numBaseAnchors;
      for (let y = 0; y < h; y++) {
        const sy = y * s;
        for (let x = 0; x < w; x++) {
          const sx = x * s;
          for (let a = 0; a < nb; a++) {
            out[k++] = (base[4 * a] as number) + sx;
            out[k++] = (base[4 * a + 1] as number) + sy;
            out[k++] = (base[4 * a + 2] as number) + sx;
            out[k++] = (base[4 * a + 3] as number) + sy;
          }
        }
      }
    });
    return out;
  }

  /**
   * Valid flags for one image inside a padded batch: an anchor is valid iff its cell lies inside
   * ceil(imgPad_h/s) × ceil(imgPad_w/s), where imgPadShape is that image's own padded shape (≤ the batch's).
   * Returns a flat (A_tot) 0/1 array.
   */
  validFlagsArray(featSizes: readonly Size[], imgPadShape: Size): Uint8Array {
    const counts = this.countsPerLevel(featSizes);
    const out = new Uint8Array(counts.reduce((a, b) => a + b, 0));
    const nb = this.numBaseAnchors;
    let k = 0;
    featSizes.forEach(([h, w], level) => {
      const s = this.strides[level] as number;
      const vh = Math.min(Math.ceil(imgPadShape[0] / s), h);
      const vw = Math.min(Math.ceil(imgPadShape[1] / s), w);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const v = y < vh && x < vw ? 1 : 0;
          for (let a = 0; a < nb; a++) out[k++] = v;
        }
      }
    });
    return out;
  }

  #checkLevels(featSizes: readonly Size[]): void {
    if (featSizes.length !== this.numLevels) {
      throw new Error(`AnchorGrid: got ${featSizes.length} feature-map sizes for ${this.numLevels} levels`);
    }
  }
}

/** Level of each flat anchor index given level starts (length L+1), as an Int32Array. */
export function levelOfAnchors(levelStarts: readonly number[]): Int32Array {
  const total = levelStarts[levelStarts.length - 1] ?? 0;
  const out = new Int32Array(total);
  for (let l = 0; l + 1 < levelStarts.length; l++) out.fill(l, levelStarts[l], levelStarts[l + 1]);
  return out;
}
