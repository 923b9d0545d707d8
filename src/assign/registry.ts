// The assigners a config can name (`assigner.type`): adding one is its file in src/assign/ (the class and its spec:
// options schema, whether it reads network outputs, how to build it) plus one line here. The config schema's
// `assigner` section and src/build are made from this list.
import { z } from 'zod';
import type { AssignerContext, Assigner } from './assignment.js';
import { paaAssigner } from './paa.js';
import { maxIouAssigner } from './max_iou.js';
import { atssAssigner } from './atss.js';

export const ASSIGNERS = {
  paa: paaAssigner,
  maxiou: maxIouAssigner,
  atss: atssAssigner,
} as const;

export type AssignerType = keyof typeof ASSIGNERS;
type Specs = typeof ASSIGNERS;
/** A validated `assigner:` section (defaults filled): the union of every registered assigner's options. */
export type AssignerOptions = { [K in AssignerType]: z.output<Specs[K]['options']> }[AssignerType];
export type AssignerOptionsInput = { [K in AssignerType]: z.input<Specs[K]['options']> }[AssignerType];

/** The `assigner:` section's schema: one member per registered assigner, told apart by `type`. */
export const AssignerSchema = z.discriminatedUnion(
  'type',
  Object.values(ASSIGNERS).map((s) => s.options) as unknown as [
    Specs[AssignerType]['options'],
    ...Specs[AssignerType]['options'][],
  ],
) as unknown as z.ZodType<AssignerOptions, AssignerOptionsInput>;

/** Builds the assigner a validated `assigner:` section names. */
export function createAssigner(options: AssignerOptions, ctx: AssignerContext): Assigner {
  const spec = ASSIGNERS[options.type] as { create(o: AssignerOptions, ctx: AssignerContext): Assigner };
  return spec.create(options, ctx);
}

/** Whether the named assigner reads network outputs (PAA) or only geometry (max-IoU, ATSS). */
export function readsOutputs(type: AssignerType): boolean {
  return ASSIGNERS[type].readsOutputs;
}
