// The necks a detector can use between backbone and head: the model description's `neck.type` -> constructor.
// Only mmdetection's FPN today; a new neck is its file plus one line here (and a kernel in ladet/runtime to run
// there). The config's `model.neck` section has no `type` yet: absent means 'fpn'.
import type { Module } from '../../nn/index.js';
import type { Tensor } from '../../torch/index.js';
import type { NeckSpec } from '../spec.js';
import { FPN, type FPNOptions } from './fpn.js';

/** What the detector needs of a neck: the backbone's maps in, numOuts pyramid maps out (caller owns both). */
export interface Neck extends Module {
  forward(inputs: Tensor[]): Tensor[];
}

export const NECKS = {
  fpn: FPN,
} as const satisfies Record<NeckSpec['type'], new (o: FPNOptions) => Neck>;

/** The neck a resolved spec describes over backbone maps of the given channels. */
export function createNeck(spec: NeckSpec, inChannels: readonly number[]): Neck {
  const { type, ...options } = spec;
  if (!Object.hasOwn(NECKS, type)) throw new Error(`unknown neck type '${String(type)}' (registered: fpn)`);
  return new NECKS[type]({ inChannels, ...options });
}
