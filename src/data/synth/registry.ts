// The built-in dataset generators by name.
import { fashionDet } from './fashion_det.js';
import type { Generator } from './generator.js';
import { shapes } from './shapes.js';

export const GENERATORS: Readonly<Record<string, Generator>> = { 'fashion-det': fashionDet, shapes };

export function generator(name: string): Generator {
  const g = GENERATORS[name];
  if (!g) throw new Error(`no built-in dataset '${name}' (have: ${Object.keys(GENERATORS).join(', ')})`);
  return g;
}
