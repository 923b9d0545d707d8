// The heads a detector can end in: `model.head.type` -> constructor. All share PAA's towers and mmdetection's module
// names (PAAHead is the base), so the state dict layout is the same; the subclasses add their own output convs.
// Adding a head is its file plus one line here; the config schema's `head.type` reads this list. ladet/runtime has
// its own kernels per head type (src/runtime/network.ts) and refuses a type it does not run.
import type { HeadType } from '../spec.js';
import { PAAHead, type PAAHeadOptions } from './paa_head.js';
import { COPHead, type COPHeadOptions } from './cop_head.js';
import { IOPHead } from './iop_head.js';

/** Every head's constructor options (COP adds its neighbourhood size; the others ignore it). */
export type HeadOptions = PAAHeadOptions & COPHeadOptions;

// `satisfies Record<HeadType, ...>`: the model description's type union (spec.ts, import-free) and this list agree
export const HEADS = {
  paa: PAAHead,
  cop: COPHead,
  iop: IOPHead,
} as const satisfies Record<HeadType, new (o: HeadOptions) => PAAHead>;

/** The registered types, for the config schema and messages. */
export const HEAD_TYPES = Object.keys(HEADS) as [HeadType, ...HeadType[]];

/** The head of a given type. */
export function createHead(type: HeadType, options: HeadOptions): PAAHead {
  if (!Object.hasOwn(HEADS, type))
    throw new Error(`unknown head type '${String(type)}' (registered: ${HEAD_TYPES.join(', ')})`);
  return new HEADS[type](options);
}
