// Anchor generation (mmdetection's AnchorGenerator layout) with tensor outputs. The grid itself — anchor order,
// base anchors, feature-map sizes, valid flags as flat arrays — lives in anchor_grid.ts, in pure TypeScript, and is
// re-exported here.
import { Tensor, tensor } from '../torch/index.js';
import { AnchorGrid, type Size } from './anchor_grid.js';

export { AnchorGrid, PAA_ANCHORS, levelOfAnchors, type AnchorConfig, type Size } from './anchor_grid.js';

/** The anchor grid of anchor_grid.ts, plus its anchors and valid flags as tensors. */
export class AnchorGenerator extends AnchorGrid {
  /** All anchors, (A_tot, 4) float32, levels concatenated. */
  gridAnchors(featSizes: readonly Size[], device = 'cpu'): Tensor {
    const a = this.gridAnchorsArray(featSizes);
    return tensor(a, [a.length / 4, 4], { device });
  }

  /** Valid flags of a batch: (B, A_tot) bool, one row per image pad shape. */
  validFlags(featSizes: readonly Size[], imgPadShapes: readonly Size[], device = 'cpu'): Tensor {
    const rows = imgPadShapes.map((p) => this.validFlagsArray(featSizes, p));
    const n = rows[0]?.length ?? this.countsPerLevel(featSizes).reduce((a, b) => a + b, 0);
    const flat = new Uint8Array(rows.length * n);
    rows.forEach((r, i) => flat.set(r, i * n));
    return tensor(flat, [rows.length, n], { dtype: 'bool', device });
  }
}
