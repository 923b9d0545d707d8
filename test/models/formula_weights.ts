// Fills a module's state dict from the closed formula that test/fixtures/models/make_fixtures.py uses, so ladet and
// PyTorch run the same weights without committing them. Keep the two in step.
import { readFileSync } from 'node:fs';
import { Module } from '../../src/nn/index.js';
import { Tensor, tensor } from '../../src/torch/index.js';

export const FIXTURES = new URL('../../../test/fixtures/models/', import.meta.url);

export function readFixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as T;
}

function phase(name: string): number {
  let s = 0;
  for (let i = 0; i < name.length; i++) s += name.charCodeAt(i) * (i + 1);
  return (s % 997) / 97;
}

export function formulaValues(name: string, shape: readonly number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const ph = phase(name);
  const leaf = name.slice(name.lastIndexOf('.') + 1);
  let f: (v: number) => number;
  if (leaf === 'weight' && shape.length === 4) {
    const k = Math.sqrt(2 / ((shape[1] as number) * (shape[2] as number) * (shape[3] as number)));
    f = (v) => v * k;
  } else if (leaf === 'weight') f = (v) => 1 + 0.2 * v;
  else if (leaf === 'bias' || leaf === 'running_mean') f = (v) => 0.1 * v;
  else if (leaf === 'running_var') f = (v) => 0.75 + 0.25 * v;
  else if (leaf === 'scale') f = (v) => 1 + 0.1 * v;
  else throw new Error(`formulaValues: no rule for ${name}`);
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) out[j] = f(Math.sin(0.61 * j + ph));
  return out;
}

/** Loads formula values into every parameter and buffer except num_batches_tracked. */
export function fillFormula(m: Module): void {
  const sd = new Map<string, Tensor>();
  for (const [k, t] of m.stateDict()) {
    if (k.endsWith('num_batches_tracked')) sd.set(k, t.clone());
    else sd.set(k, tensor(formulaValues(k, t.shape), t.shape));
  }
  m.loadStateDict(sd);
  for (const t of sd.values()) t.dispose();
}

/** The input image of the fixtures: sin(0.37 j) over the flat index. */
export function formulaImage(shape: readonly number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let j = 0; j < n; j++) v[j] = Math.sin(0.37 * j);
  return tensor(v, shape);
}

export interface Sampled {
  shape: number[];
  sum: number;
  absSum: number;
  index: number[];
  values: number[];
}

/** Compares a tensor with a fixture's sum and sampled values; tolerance relative to the fixture's mean |x|. */
export function checkSampled(t: Tensor, ref: Sampled, what: string, rtol = 2e-4): void {
  const shape = t.shape;
  if (shape.length !== ref.shape.length || shape.some((d, i) => d !== ref.shape[i])) {
    throw new Error(`${what}: shape [${shape.join(', ')}] vs reference [${ref.shape.join(', ')}]`);
  }
  const flat = t.detach().double().flatten();
  const data = flat.toArray();
  flat.dispose();
  const scale = ref.absSum / data.length;
  const sum = data.reduce((a, b) => a + b, 0);
  const absSum = data.reduce((a, b) => a + Math.abs(b), 0);
  const tol = rtol * Math.max(scale, 1e-3);
  if (Math.abs(sum - ref.sum) > tol * data.length) throw new Error(`${what}: sum ${sum} vs reference ${ref.sum}`);
  if (Math.abs(absSum - ref.absSum) > tol * data.length)
    throw new Error(`${what}: sum |x| ${absSum} vs reference ${ref.absSum}`);
  ref.index.forEach((i, k) => {
    const v = data[i] as number;
    const e = ref.values[k] as number;
    if (Math.abs(v - e) > tol) throw new Error(`${what}: element ${i} is ${v}, reference ${e} (tol ${tol})`);
  });
}
