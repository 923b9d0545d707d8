// Config overrides as `key.sub=value` pairs (the CLI's and the API's `overrides`): values parsed as JSON where that
// works, applied onto the raw config before validation.
import { UsageError } from './usage_error.js';

export type Overrides = Record<string, unknown>;

export function parseValue(raw: string): unknown {
  const t = raw.trim();
  if (t === '') return '';
  if (/^(true|false|null|-?\d+(\.\d+)?([eE][-+]?\d+)?)$/.test(t) || t.startsWith('[') || t.startsWith('{')) {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      return raw;
    }
  }
  return raw;
}

/** Applies flat dotted overrides onto a nested object (copying along the path). */
export function applyOverrides<T extends Record<string, unknown>>(base: T, kv: Overrides): T {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [key, value] of Object.entries(kv)) {
    const parts = key.split('.');
    // `__proto__.x=1` would otherwise walk onto Object.prototype and change every object in the process.
    const unsafe = parts.find((p) => p === '__proto__' || p === 'constructor' || p === 'prototype' || p === '');
    if (unsafe !== undefined) throw new UsageError(`override '${key}': '${unsafe}' is not a config key`);
    let node: Record<string, unknown> = out;
    for (const p of parts.slice(0, -1)) {
      const next = Object.hasOwn(node, p) ? node[p] : undefined;
      if (next === undefined || next === null || typeof next !== 'object' || Array.isArray(next)) node[p] = {};
      node = node[p] as Record<string, unknown>;
    }
    node[parts[parts.length - 1] as string] = value;
  }
  return out as T;
}
