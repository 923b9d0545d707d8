// Per-batch assignment inputs: the anchors of the padded batch (cached per feature-map layout), each image's valid
// flags and its GT boxes/labels as tensors.
import { type Tensor, tensor, keep, dispose } from '../torch/index.js';
import type { AnchorGenerator, Size } from '../det/anchors.js';
import type { AssignTargets } from './assignment.js';
import type { SampleTargets } from '../data/batch.js';
import type { ImageMeta } from '../data/transforms.js';

interface CachedAnchors {
  anchors: Tensor;
  perLevel: Tensor[];
  levelStarts: number[];
}

/** Anchors depend only on the feature-map sizes, which repeat from batch to batch: build each layout once. */
export class AnchorCache {
  readonly #cache = new Map<string, CachedAnchors>();

  constructor(
    readonly generator: AnchorGenerator,
    readonly device = 'cpu',
  ) {}

  get(featSizes: readonly Size[]): CachedAnchors {
    const key = featSizes.map(([h, w]) => `${h}x${w}`).join(',');
    let c = this.#cache.get(key);
    if (c === undefined) {
      const anchors = keep(this.generator.gridAnchors(featSizes, this.device));
      const levelStarts = this.generator.levelStarts(featSizes);
      const perLevel = levelStarts
        .slice(0, -1)
        .map((s, l) => keep(anchors.narrow(0, s, (levelStarts[l + 1] as number) - s)));
      c = { anchors, perLevel, levelStarts };
      this.#cache.set(key, c);
    }
    return c;
  }

  dispose(): void {
    for (const c of this.#cache.values()) dispose([c.anchors, c.perLevel]);
    this.#cache.clear();
  }
}

/** Assignment inputs of a batch; the returned tensors (except the cached anchors) belong to the caller's scope. */
export function assignTargets(
  cache: AnchorCache,
  featSizes: readonly Size[],
  targets: readonly SampleTargets[],
  metas: readonly ImageMeta[],
  numClasses: number,
): AssignTargets & { perLevelAnchors: Tensor[] } {
  const { anchors, perLevel, levelStarts } = cache.get(featSizes);
  const validFlags = cache.generator.validFlags(
    featSizes,
    metas.map((m) => m.padShape),
    cache.device,
  );
  const gtBoxes = targets.map((t) => tensor(t.boxes, [t.labels.length, 4], { device: cache.device }));
  const gtLabels = targets.map((t) =>
    tensor(
      BigInt64Array.from(t.labels, (l) => BigInt(l)),
      [t.labels.length],
      { device: cache.device },
    ),
  );
  return { anchors, levelStarts, validFlags, gtBoxes, gtLabels, numClasses, perLevelAnchors: perLevel };
}
