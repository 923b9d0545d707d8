// Memory scopes in the TensorFlow.js style. Every tensor created while a scope is open belongs to it; when the
// scope ends, its tensors are disposed except those returned from it (moved to the enclosing scope) and those
// passed to keep(). The native finalizer frees anything that escapes all scopes, but only as a backstop: it runs
// whenever the GC decides, so code in hot loops must rely on scopes and dispose().
import { native } from './native.js';

export interface Tracked {
  dispose(): void;
  readonly isDisposed: boolean;
}

const scopes: Set<Tracked>[] = [];
const kept = new WeakSet<Tracked>();

/** Called by every new tensor. */
export function track(t: Tracked): void {
  const top = scopes[scopes.length - 1];
  if (top !== undefined) top.add(t);
}

/** Excludes t from disposal by the open scopes (and by those opened later). */
export function keep<T extends Tracked>(t: T): T {
  kept.add(t);
  for (const s of scopes) s.delete(t);
  return t;
}

/** Collects every tracked object reachable from `value` through arrays, Maps and plain objects. */
function collect(value: unknown, scope: Set<Tracked>, out: Set<Tracked>, seen: Set<object>): void {
  if (value === null || typeof value !== 'object') return;
  if (seen.has(value)) return;
  seen.add(value);
  if (scope.has(value as Tracked)) {
    out.add(value as Tracked);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, scope, out, seen);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, scope, out, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, scope, out, seen);
  }
}

/**
 * Runs fn in a new scope. Tensors created inside and not returned (or kept) are disposed when it returns,
 * also when it throws. fn must be synchronous: an async function would let the scope close before its work.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tracked>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new TypeError('tidy(fn): fn must be synchronous (it returned a Promise)');
  }
  const escaped = new Set<Tracked>();
  collect(result, scope, escaped, new Set());
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (escaped.has(t)) {
      if (parent !== undefined && !kept.has(t)) parent.add(t);
    } else {
      t.dispose();
    }
  }
  return result;
}

/** Disposes every tracked object reachable from value (a tensor, or arrays / objects / Maps of them). */
export function dispose(value: unknown): void {
  const visit = (v: unknown, seen: Set<object>): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (typeof (v as Partial<Tracked>).dispose === 'function' && 'isDisposed' in v) {
      (v as Tracked).dispose();
    } else if (Array.isArray(v)) {
      for (const x of v) visit(x, seen);
    } else if (v instanceof Map) {
      for (const x of v.values()) visit(x, seen);
    } else if (Object.getPrototypeOf(v) === Object.prototype) {
      for (const x of Object.values(v)) visit(x, seen);
    }
  };
  visit(value, new Set());
}

export interface MemoryInfo {
  /** live native tensor handles (views count separately) */
  numTensors: number;
  /** bytes of the distinct storages those handles reference */
  numBytes: number;
}

/** Live tensors and their bytes, counted on the native side. */
export function memory(): MemoryInfo {
  const [numTensors, numBytes] = native.memory();
  return { numTensors, numBytes };
}
