// Contiguous class indices (0..K-1, what the network predicts) mapped from arbitrary COCO category ids and back.
// Indices follow ascending category id, as mmdetection's COCO dataset does for its default class list.

export interface Category {
  id: number;
  name: string;
}

export class LabelMap {
  /** Class names by label index. */
  readonly names: readonly string[];
  /** Category ids by label index. */
  readonly categoryIds: readonly number[];
  private readonly labelById: ReadonlyMap<number, number>;

  constructor(categories: readonly Category[]) {
    const sorted = [...categories].sort((a, b) => a.id - b.id);
    const byId = new Map<number, number>();
    sorted.forEach((c, i) => {
      if (byId.has(c.id)) throw new Error(`LabelMap: duplicate category id ${c.id}`);
      byId.set(c.id, i);
    });
    this.names = sorted.map((c) => c.name);
    this.categoryIds = sorted.map((c) => c.id);
    this.labelById = byId;
  }

  /** Number of classes K. */
  get size(): number {
    return this.names.length;
  }

  /** The label index of a category id; throws for an unknown id. */
  label(categoryId: number): number {
    const l = this.labelById.get(categoryId);
    if (l === undefined) throw new Error(`LabelMap: unknown category id ${categoryId}`);
    return l;
  }

  /** The category id of a label index; throws when out of range. */
  categoryId(label: number): number {
    const id = this.categoryIds[label];
    if (!Number.isInteger(label) || id === undefined) throw new Error(`LabelMap: label ${label} is outside 0..${this.size - 1}`);
    return id;
  }

  has(categoryId: number): boolean {
    return this.labelById.has(categoryId);
  }
}
