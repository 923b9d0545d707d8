// Which Python globals a pickle may name and call in ladet's restricted unpickler (pickle.ts states the rule), and
// the few plain-Python callables it implements: OrderedDict, defaultdict, dict, set, frozenset, bytes, bytearray,
// _codecs.encode (how protocol 2 writes bytes). Reference: CPython's Lib/pickle.py and Lib/_compat_pickle.py
// (Python 2 names such as __builtin__).
import type { PickleCallable, PickleKey, PickleValue } from './pickle.js';

const DANGEROUS_MODULES = (
  'os posix nt posixpath ntpath subprocess sys shutil socket importlib pickle _pickle cPickle ' +
  'pickletools copyreg copy_reg marshal runpy code codeop ctypes multiprocessing pty signal webbrowser ' +
  'commands popen2 platform tempfile io _io glob functools operator _operator types inspect gc ' +
  'threading _thread asyncio http urllib ftplib smtplib telnetlib requests pip setuptools distutils ' +
  'timeit pdb bdb trace profile cProfile zipimport pkgutil site torch.hub'
).split(' ');

const INERT_MODULES =
  'numpy mmengine mmcv mmdet collections datetime decimal fractions argparse pathlib uuid enum'.split(' ');

/** Builtins that are plain types: inert as values, calls give placeholders (unless implemented). */
const INERT_BUILTINS = new Set(
  (
    'set frozenset slice complex range int float str bool bytes bytearray list tuple dict object NoneType ' +
    'Ellipsis NotImplemented'
  ).split(' '),
);

const inModule = (module: string, list: readonly string[]): boolean =>
  list.some((m) => module === m || module.startsWith(`${m}.`));

function isBuiltins(module: string): boolean {
  return module === 'builtins' || module === '__builtin__';
}

/** Whether naming `module.name` is an error by itself (rule 2). */
export function isDangerousGlobal(module: string, name: string): boolean {
  if (isBuiltins(module)) return !INERT_BUILTINS.has(name);
  return inModule(module, DANGEROUS_MODULES);
}

/** Whether calling `module.name` (not implemented) gives a placeholder (rule 3). */
export function isInertGlobal(module: string, name: string): boolean {
  if (isBuiltins(module)) return INERT_BUILTINS.has(name);
  return inModule(module, INERT_MODULES);
}

// ---- the implemented callables of rule 1 -------------------------------------------------------------------------

function mapOf(pairs: PickleValue | undefined, what: string, fail: (m: string) => never): Map<PickleKey, PickleValue> {
  const m = new Map<PickleKey, PickleValue>();
  if (pairs === undefined) return m;
  if (pairs instanceof Map) return new Map(pairs);
  if (!Array.isArray(pairs)) fail(`${what} takes a list of pairs`);
  for (const p of pairs) {
    if (!Array.isArray(p) || p.length !== 2) fail(`${what} takes a list of pairs`);
    m.set(p[0] as PickleValue, p[1] as PickleValue);
  }
  return m;
}

function bytesFromText(text: PickleValue, encoding: PickleValue, fail: (m: string) => never): Uint8Array {
  if (typeof text !== 'string') fail('_codecs.encode takes a str');
  const enc = typeof encoding === 'string' ? encoding.toLowerCase().replace('_', '-') : 'utf-8';
  if (enc === 'utf-8' || enc === 'utf8') return new TextEncoder().encode(text);
  if (enc !== 'latin1' && enc !== 'latin-1' && enc !== 'iso-8859-1' && enc !== 'ascii') {
    fail(`_codecs.encode with encoding ${JSON.stringify(String(encoding)).slice(0, 40)} is not supported`);
  }
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > (enc === 'ascii' ? 0x7f : 0xff)) fail(`_codecs.encode: character ${c} is not ${enc}`);
    out[i] = c;
  }
  return out;
}

export function builtinCallable(module: string, name: string, fail: (m: string) => never): PickleCallable | undefined {
  const g = `${isBuiltins(module) ? 'builtins' : module}.${name}`;
  switch (g) {
    case 'collections.OrderedDict':
    case 'builtins.dict':
      return (a) => mapOf(a[0], g, fail);
    case 'collections.defaultdict':
      // defaultdict(factory[, items]): the factory is dropped, the items kept
      return (a) => mapOf(a[1], g, fail);
    case 'builtins.set':
    case 'builtins.frozenset':
      return (a) => {
        if (a[0] !== undefined && !Array.isArray(a[0])) fail(`${g} takes a list`);
        return new Set(a[0] as PickleValue[] | undefined);
      };
    case '_codecs.encode':
      return (a) => bytesFromText(a[0] as PickleValue, a[1] as PickleValue, fail);
    case 'builtins.bytes':
    case 'builtins.bytearray':
      return (a) => {
        if (a.length === 0) return new Uint8Array(0);
        if (a[0] instanceof Uint8Array) return new Uint8Array(a[0]);
        if (typeof a[0] === 'string') return bytesFromText(a[0], a[1] ?? 'latin1', fail);
        return fail(`${g} takes bytes or a str with its encoding`);
      };
    default:
      return undefined;
  }
}
