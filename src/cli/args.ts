// `key=value` / `key.sub=value` arguments, as the DESIGN's CLI convention. Values are parsed as JSON where that
// works (numbers, booleans, arrays, null) and kept as strings otherwise (parseValue, src/config/overrides.ts).
import { parseValue, type Overrides } from '../config/overrides.js';
import { UsageError } from '../config/usage_error.js';
import type { Precision } from '../torch/index.js';

/** Splits positional arguments into plain ones and key=value pairs (kept flat: 'a.b' stays a key). */
export function splitArgs(args: readonly string[]): { positional: string[]; kv: Overrides } {
  const positional: string[] = [];
  const kv: Overrides = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq > 0 && /^[A-Za-z_][\w.-]*$/.test(a.slice(0, eq))) {
      kv[a.slice(0, eq)] = parseValue(a.slice(eq + 1));
    } else {
      positional.push(a);
    }
  }
  return { positional, kv };
}

/** Throws a usage error listing the unexpected keys. */
export function rejectUnknown(kv: Overrides, allowed: readonly string[], command: string): void {
  const bad = Object.keys(kv).filter((k) => !allowed.includes(k));
  if (bad.length) {
    throw new UsageError(
      `ladet ${command}: unknown argument${bad.length > 1 ? 's' : ''} ${bad.join(', ')} (expected: ${allowed.join(', ')})`,
    );
  }
}

/**
 * Splits key=value arguments into a command's own keys and config overrides (whose first part is a key of the
 * config, e.g. `eval.scoreThr=0.1`; the schema then checks the rest). Anything else is a usage error naming it.
 */
export function splitOwnKeys(
  kv: Overrides,
  own: readonly string[],
  configKeys: readonly string[],
  command: string,
): { own: Overrides; overrides: Overrides } {
  const mine: Overrides = {};
  const overrides: Overrides = {};
  const bad: string[] = [];
  for (const [k, v] of Object.entries(kv)) {
    if (own.includes(k)) mine[k] = v;
    else if (configKeys.includes(k.split('.')[0] as string)) overrides[k] = v;
    else bad.push(k);
  }
  if (bad.length) {
    throw new UsageError(
      `ladet ${command}: unknown argument${bad.length > 1 ? 's' : ''} ${bad.join(', ')} ` +
        `(expected: ${own.join(', ')}, or config overrides such as eval.scoreThr=0.1)`,
    );
  }
  return { own: mine, overrides };
}

/**
 * The value of a command's own `key=PATH` argument: undefined when absent, or a usage error when `required` (its
 * text is the usage line). A value that is not a non-empty string (`key=`, `key=3`) is a usage error.
 */
export function pathArg(kv: Overrides, key: string, command: string, required: { usage: string }): string;
export function pathArg(kv: Overrides, key: string, command: string): string | undefined;
export function pathArg(kv: Overrides, key: string, command: string, required?: { usage: string }): string | undefined {
  const v = kv[key];
  if (v === undefined) {
    if (required) throw new UsageError(`ladet ${command}: missing ${key}= (usage: ${required.usage})`);
    return undefined;
  }
  if (typeof v !== 'string' || v === '')
    throw new UsageError(`ladet ${command}: ${key}= needs a path (got ${JSON.stringify(v)})`);
  return v;
}

/** `net=1|2`, the network of a CoLAD run to use; undefined when absent. */
export function netArg(kv: Overrides, command: string): 1 | 2 | undefined {
  const v = kv.net;
  if (v === undefined) return undefined;
  if (v !== 1 && v !== 2)
    throw new UsageError(
      `ladet ${command}: net= must be 1 or 2, the network of a CoLAD run (got ${JSON.stringify(v)})`,
    );
  return v;
}

/** `net=1|2|both` where a command can go over both networks of a CoLAD run; undefined when absent. */
export function netsArg(kv: Overrides, command: string): 1 | 2 | 'both' | undefined {
  const v = kv.net;
  if (v === undefined) return undefined;
  if (v !== 1 && v !== 2 && v !== 'both')
    throw new UsageError(
      `ladet ${command}: net= must be 1, 2 or both, the network(s) of a CoLAD run (got ${JSON.stringify(v)})`,
    );
  return v;
}

/**
 * Arguments joined into one POSIX shell command line that gives them back unchanged: a word of safe characters is
 * left as it is, anything else is single-quoted (a quote inside becomes '\'').
 */
export function shellJoin(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/**
 * `precision=fp32|bf16|fp16|auto` of test / predict (absent: fp32, the precision a run's recorded AP was measured
 * in; fp16 on CUDA only).
 */
export function precisionArg(kv: Overrides, command: string): Precision | undefined {
  const v = kv.precision;
  if (v === undefined) return undefined;
  if (v !== 'fp32' && v !== 'bf16' && v !== 'fp16' && v !== 'auto')
    throw new UsageError(`ladet ${command}: precision= must be fp32, bf16, fp16 or auto (got ${JSON.stringify(v)})`);
  return v;
}
