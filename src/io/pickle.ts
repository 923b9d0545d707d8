// A restricted unpickler: reads Python pickles (protocols 0-5, the opcodes torch.save and Python's pickle emit for
// data) into JS values and NEVER executes anything. References: PEP 307 (protocol 2), PEP 3154 (protocol 4),
// CPython's Lib/pickletools.py (every opcode's encoding) and Lib/pickle.py (the Unpickler's semantics).
//
// Values: None null, bool boolean, int number (bigint past 2^53), float number, str string, bytes Uint8Array,
// list and tuple arrays, dict / OrderedDict / defaultdict Map, set / frozenset Set, tensors RawTensor (made by the
// caller's hooks). Instance attributes of a dict (BUILD on it, as a state dict's `_metadata`) are dropped.
//
// Globals (GLOBAL, STACK_GLOBAL, INST), the one rule (the lists are in pickle_globals.ts):
//  1. implemented callables (the caller's hooks: torch's tensor rebuilders; pickle_globals.ts: OrderedDict,
//     defaultdict, dict, set, frozenset, _codecs.encode, bytes, bytearray) run as TypeScript that only builds values;
//  2. a global of a module that runs code (os, posix, nt, subprocess, sys, shutil, socket, importlib, pickle, runpy,
//     ctypes, functools, operator, ...; builtins other than inert types) is an error as soon as it is named;
//  3. a global of a known-inert metadata module (numpy, mmengine, mmcv, mmdet, collections, datetime, argparse,
//     pathlib, ...) or an inert builtin type (slice, complex, range, ...) may be called: the call (REDUCE, NEWOBJ,
//     OBJ, INST) gives an inert placeholder, a PickleObject {global, args, state, items};
//  4. any other global may appear as a value (a PickleGlobal) but calling it is an error naming it.
// A placeholder must not hold a tensor (checked over the whole result): a tensor inside a class ladet does not
// know would be silently misread.
//
// Guards: every read is bounds-checked; the work is linear in the pickle's length (each opcode reads at least one
// byte; containers are built iteratively); a result that contains itself or nests deeper than MAX_DEPTH is an
// error, so callers may walk results recursively.
import type { RawTensor } from './safetensors_raw.js';
import { PthError } from './pth_error.js';
import { builtinCallable, isDangerousGlobal, isInertGlobal } from './pickle_globals.js';

/** A dict key: what Python hashes (str, int, float, bool, None, tuple, bytes, frozenset); not checked. */
export type PickleKey = PickleValue;

/** An unpickled value. */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | RawTensor
  | PickleValue[]
  | Map<PickleKey, PickleValue>
  | Set<PickleKey>
  | PickleObject
  | PickleGlobal;

/** A global named but not called (a class or function as a value). */
export class PickleGlobal {
  /** 'module.name' */
  readonly global: string;
  constructor(
    readonly module: string,
    readonly name: string,
  ) {
    this.global = `${module}.${name}`;
  }
}

/** An inert placeholder for an object of a known-metadata class ladet does not model. */
export class PickleObject {
  /** the class or function called, 'module.name' */
  readonly global: string;
  /** the call's arguments (NEWOBJ_EX's keyword arguments, when any, follow as one Map) */
  args: PickleValue[];
  /** what BUILD set (Python's __setstate__ argument or __dict__), if anything */
  state: PickleValue | undefined;
  /** what APPEND(S) added, and [key, value] pairs that SETITEM(S) added */
  items: PickleValue[];
  constructor(global: string, args: PickleValue[]) {
    this.global = global;
    this.args = args;
    this.state = undefined;
    this.items = [];
  }
}

/** A callable implemented here: builds a value from the call's arguments, or throws PthError. */
export type PickleCallable = (args: PickleValue[]) => PickleValue;

export interface UnpickleHooks {
  /** the value of a persistent id (BINPERSID / PERSID) */
  persistentLoad(pid: PickleValue): PickleValue;
  /** an implementation of `module.name`, or undefined to apply the rule above */
  callable(module: string, name: string): PickleCallable | undefined;
  /** a value that a placeholder may not hold (tensors) */
  forbiddenInPlaceholder(v: PickleValue): boolean;
}

/** How deep containers may nest in a result. */
export const MAX_DEPTH = 500;

const utf8 = new TextDecoder('utf-8', { fatal: true });

// ---- the machine -------------------------------------------------------------------------------------------------

const OP_NAMES: Record<number, string> = {
  0x28: 'MARK',
  0x2e: 'STOP',
  0x80: 'PROTO',
};

/**
 * Unpickles the pickle starting at `start` in `bytes`. `what` names it in messages ("data.pkl"). Returns the value
 * and the position just past its STOP opcode.
 */
export function unpickle(
  bytes: Uint8Array,
  start: number,
  source: string,
  what: string,
  hooks: UnpickleHooks,
): { value: PickleValue; end: number } {
  return new Machine(bytes, start, source, what, hooks).run();
}

class Machine {
  private pos: number;
  private stack: PickleValue[] = [];
  private marks: number[] = [];
  private memo = new Map<number, PickleValue>();
  private readonly view: DataView;
  private readonly tuples = new WeakSet<PickleValue[]>();
  private readonly impls = new WeakMap<PickleGlobal, PickleCallable>();
  private readonly placeholders: PickleObject[] = [];
  private opAt = 0;

  constructor(
    private readonly b: Uint8Array,
    start: number,
    private readonly source: string,
    private readonly what: string,
    private readonly hooks: UnpickleHooks,
  ) {
    this.pos = start;
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  fail(message: string): never {
    throw new PthError(this.source, `${this.what}: ${message} (opcode at byte ${this.opAt})`);
  }

  private need(n: number): number {
    if (n > this.b.byteLength - this.pos) this.fail(`pickle ends early: ${n} bytes needed, truncated`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number {
    return this.b[this.need(1)] as number;
  }
  private u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  private u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  private i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  private u64(): number {
    const x = this.view.getBigUint64(this.need(8), true);
    if (x > BigInt(this.b.byteLength)) this.fail(`length ${x} runs past the end of the pickle`);
    return Number(x);
  }
  private slice(n: number): Uint8Array {
    const at = this.need(n);
    return this.b.subarray(at, at + n);
  }
  private text(n: number): string {
    try {
      return utf8.decode(this.slice(n));
    } catch (e) {
      if (e instanceof PthError) throw e;
      return this.fail('string is not valid UTF-8');
    }
  }
  /** A protocol-0 argument: the bytes up to the next newline. */
  private line(): string {
    const nl = this.b.indexOf(0x0a, this.pos);
    if (nl < 0) this.fail('pickle ends early: no newline after a text argument, truncated');
    const s = Buffer.from(this.b.subarray(this.pos, nl)).toString('latin1');
    this.pos = nl + 1;
    return s;
  }

  private push(v: PickleValue): void {
    this.stack.push(v);
  }
  private pop(): PickleValue {
    const floor = this.marks.length ? (this.marks[this.marks.length - 1] as number) : 0;
    if (this.stack.length <= floor) this.fail('pickle stack underflow: corrupt');
    return this.stack.pop() as PickleValue;
  }
  private top(): PickleValue {
    const floor = this.marks.length ? (this.marks[this.marks.length - 1] as number) : 0;
    if (this.stack.length <= floor) this.fail('pickle stack underflow: corrupt');
    return this.stack[this.stack.length - 1] as PickleValue;
  }
  /** The items pushed since the last MARK, which is removed. */
  private popMark(): PickleValue[] {
    const m = this.marks.pop();
    if (m === undefined) this.fail('no MARK to pop: corrupt pickle');
    return this.stack.splice(m);
  }
  private tuple(items: PickleValue[]): PickleValue[] {
    this.tuples.add(items);
    return items;
  }

  private int(v: bigint): number | bigint {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  /** A little-endian two's-complement integer of n bytes (LONG1 / LONG4). */
  private long(n: number): number | bigint {
    if (n === 0) return 0;
    const b = this.slice(n);
    let hex = '';
    for (let i = n - 1; i >= 0; i--) hex += (b[i] as number).toString(16).padStart(2, '0');
    let x = BigInt(`0x${hex}`);
    if ((b[n - 1] as number) & 0x80) x -= 1n << BigInt(8 * n);
    return this.int(x);
  }

  private global(module: string, name: string): PickleGlobal {
    const g = new PickleGlobal(module, name);
    const impl = this.hooks.callable(module, name) ?? builtinCallable(module, name, (m) => this.fail(m));
    if (impl !== undefined) this.impls.set(g, impl);
    else if (isDangerousGlobal(module, name)) this.fail(`pickle imports global ${g.global}, which ladet does not run`);
    return g;
  }

  /** A call of a global (REDUCE, NEWOBJ, OBJ, INST) by the rule in the header. */
  private call(fn: PickleValue, args: PickleValue[]): PickleValue {
    if (!(fn instanceof PickleGlobal)) this.fail(`pickle calls a ${kindOf(fn)}, not a global`);
    const impl = this.impls.get(fn);
    if (impl !== undefined) return impl(args);
    if (!isInertGlobal(fn.module, fn.name)) {
      const hint = fn.module.startsWith('torch.nn') ? ' (a pickled module: save its state_dict() instead)' : '';
      this.fail(`pickle calls global ${fn.global}, which ladet does not run${hint}`);
    }
    const o = new PickleObject(fn.global, args);
    this.placeholders.push(o);
    return o;
  }

  private setItems(target: PickleValue, kv: PickleValue[]): void {
    if (kv.length % 2) this.fail('SETITEMS with an odd number of items: corrupt');
    if (target instanceof Map) {
      for (let i = 0; i < kv.length; i += 2) target.set(kv[i] as PickleValue, kv[i + 1] as PickleValue);
    } else if (target instanceof PickleObject) {
      for (let i = 0; i < kv.length; i += 2) target.items.push([kv[i] as PickleValue, kv[i + 1] as PickleValue]);
    } else this.fail(`SETITEM on a ${kindOf(target)}`);
  }

  private append(target: PickleValue, items: PickleValue[]): void {
    if (Array.isArray(target) && !this.tuples.has(target)) for (const x of items) target.push(x);
    else if (target instanceof PickleObject) for (const x of items) target.items.push(x);
    else this.fail(`APPEND on a ${kindOf(target)}`);
  }

  private build(target: PickleValue, state: PickleValue): void {
    if (target instanceof PickleObject) {
      if (target.state instanceof Map && state instanceof Map) for (const [k, v] of state) target.state.set(k, v);
      else target.state = state;
    } else if (!(target instanceof Map)) this.fail(`BUILD on a ${kindOf(target)}`);
  }

  run(): { value: PickleValue; end: number } {
    for (;;) {
      this.opAt = this.pos;
      const op = this.u8();
      switch (op) {
        case 0x80: // PROTO
          if (this.u8() > 5) this.fail('pickle protocol above 5');
          break;
        case 0x95: // FRAME: a buffering hint
          this.u64();
          break;
        case 0x2e: {
          // STOP
          const value = this.pop();
          this.validate(value);
          return { value, end: this.pos };
        }
        case 0x28: // MARK
          this.marks.push(this.stack.length);
          break;
        case 0x30: // POP
          if (this.marks.length && this.marks[this.marks.length - 1] === this.stack.length) this.popMark();
          else this.pop();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.push(this.top());
          break;
        case 0x4e: // NONE
          this.push(null);
          break;
        case 0x88: // NEWTRUE
          this.push(true);
          break;
        case 0x89: // NEWFALSE
          this.push(false);
          break;
        case 0x4a: // BININT
          this.push(this.i32());
          break;
        case 0x4b: // BININT1
          this.push(this.u8());
          break;
        case 0x4d: // BININT2
          this.push(this.u16());
          break;
        case 0x8a: // LONG1
          this.push(this.long(this.u8()));
          break;
        case 0x8b: {
          // LONG4
          const n = this.i32();
          if (n < 0) this.fail('LONG4 with a negative length');
          this.push(this.long(n));
          break;
        }
        case 0x49: {
          // INT (text): 01 / 00 are True / False
          const s = this.line().trim();
          if (s === '01' || s === '00') this.push(s === '01');
          else if (/^[-+]?\d{1,4300}$/.test(s)) this.push(this.int(BigInt(s)));
          else this.fail('INT with a malformed number');
          break;
        }
        case 0x4c: {
          // LONG (text)
          const s = this.line().trim().replace(/L$/, '');
          // Python refuses int strings past 4300 digits too (sys.int_info.default_max_str_digits)
          if (!/^[-+]?\d{1,4300}$/.test(s)) this.fail('LONG with a malformed number');
          this.push(this.int(BigInt(s)));
          break;
        }
        case 0x46: {
          // FLOAT (text)
          const s = this.line().trim();
          const x = Number(s);
          if (s === '' || (Number.isNaN(x) && !/^[-+]?nan$/i.test(s))) this.fail('FLOAT with a malformed number');
          this.push(x);
          break;
        }
        case 0x47: // BINFLOAT: big-endian
          this.push(this.view.getFloat64(this.need(8), false));
          break;
        case 0x58: // BINUNICODE
          this.push(this.text(this.u32()));
          break;
        case 0x56: // UNICODE (text, raw-unicode-escape)
          this.push(
            this.line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u: string, U: string) => {
              const c = parseInt(u ?? U, 16);
              if (c > 0x10ffff) this.fail('UNICODE with an escape past U+10FFFF');
              return String.fromCodePoint(c);
            }),
          );
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.push(this.text(this.u8()));
          break;
        case 0x8d: // BINUNICODE8
          this.push(this.text(this.u64()));
          break;
        case 0x54: {
          // BINSTRING (Python 2 str; torch.load decodes these as UTF-8)
          const n = this.i32();
          if (n < 0) this.fail('BINSTRING with a negative length');
          this.push(this.text(n));
          break;
        }
        case 0x55: // SHORT_BINSTRING
          this.push(this.text(this.u8()));
          break;
        case 0x42: // BINBYTES
          this.push(this.slice(this.u32()));
          break;
        case 0x43: // SHORT_BINBYTES
          this.push(this.slice(this.u8()));
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          this.push(this.slice(this.u64()));
          break;
        case 0x29: // EMPTY_TUPLE
          this.push(this.tuple([]));
          break;
        case 0x85: // TUPLE1
          this.push(this.tuple([this.pop()]));
          break;
        case 0x86: {
          // TUPLE2
          const b = this.pop();
          this.push(this.tuple([this.pop(), b]));
          break;
        }
        case 0x87: {
          // TUPLE3
          const c = this.pop();
          const b = this.pop();
          this.push(this.tuple([this.pop(), b, c]));
          break;
        }
        case 0x74: // TUPLE
          this.push(this.tuple(this.popMark()));
          break;
        case 0x5d: // EMPTY_LIST
          this.push([]);
          break;
        case 0x6c: // LIST
          this.push(this.popMark());
          break;
        case 0x61: {
          // APPEND
          const x = this.pop();
          this.append(this.top(), [x]);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = this.popMark();
          this.append(this.top(), items);
          break;
        }
        case 0x7d: // EMPTY_DICT
          this.push(new Map());
          break;
        case 0x64: {
          // DICT
          const m = new Map<PickleKey, PickleValue>();
          this.setItems(m, this.popMark());
          this.push(m);
          break;
        }
        case 0x73: {
          // SETITEM
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case 0x75: {
          // SETITEMS
          const kv = this.popMark();
          this.setItems(this.top(), kv);
          break;
        }
        case 0x8f: // EMPTY_SET
          this.push(new Set());
          break;
        case 0x90: {
          // ADDITEMS
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof Set)) this.fail(`ADDITEMS on a ${kindOf(s)}`);
          for (const x of items) s.add(x);
          break;
        }
        case 0x91: // FROZENSET
          this.push(new Set(this.popMark()));
          break;
        case 0x70: // PUT (text)
          this.put(this.index(this.line()));
          break;
        case 0x71: // BINPUT
          this.put(this.u8());
          break;
        case 0x72: // LONG_BINPUT
          this.put(this.u32());
          break;
        case 0x94: // MEMOIZE
          this.put(this.memo.size);
          break;
        case 0x67: // GET (text)
          this.get(this.index(this.line()));
          break;
        case 0x68: // BINGET
          this.get(this.u8());
          break;
        case 0x6a: // LONG_BINGET
          this.get(this.u32());
          break;
        case 0x63: {
          // GLOBAL
          const module = this.line();
          this.push(this.global(module, this.line()));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.fail('STACK_GLOBAL of non-strings');
          this.push(this.global(module, name));
          break;
        }
        case 0x69: {
          // INST: module and name as text, arguments since the MARK
          const module = this.line();
          const g = this.global(module, this.line());
          this.push(this.call(g, this.popMark()));
          break;
        }
        case 0x6f: {
          // OBJ: class and arguments since the MARK
          const items = this.popMark();
          if (items.length === 0) this.fail('OBJ without a class');
          this.push(this.call(items[0] as PickleValue, items.slice(1)));
          break;
        }
        case 0x52: {
          // REDUCE
          const args = this.pop();
          const fn = this.pop();
          if (!Array.isArray(args)) this.fail(`REDUCE with ${kindOf(args)} arguments, not a tuple`);
          this.push(this.call(fn, args));
          break;
        }
        case 0x81: {
          // NEWOBJ
          const args = this.pop();
          const cls = this.pop();
          if (!Array.isArray(args)) this.fail(`NEWOBJ with ${kindOf(args)} arguments, not a tuple`);
          this.push(this.call(cls, args));
          break;
        }
        case 0x92: {
          // NEWOBJ_EX
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          if (!Array.isArray(args) || !(kwargs instanceof Map)) this.fail('NEWOBJ_EX with malformed arguments');
          this.push(this.call(cls, kwargs.size ? [...args, kwargs] : args));
          break;
        }
        case 0x62: {
          // BUILD
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        case 0x51: // BINPERSID
          this.push(this.hooks.persistentLoad(this.pop()));
          break;
        case 0x50: // PERSID (text)
          this.push(this.hooks.persistentLoad(this.line()));
          break;
        default:
          this.fail(
            `unsupported pickle opcode ${OP_NAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`}` +
              (op >= 0x82 && op <= 0x84 ? ' (extension registry)' : op >= 0x97 ? ' (out-of-band buffers)' : ''),
          );
      }
    }
  }

  private index(s: string): number {
    if (!/^\d{1,10}$/.test(s)) this.fail('malformed memo index');
    return Number(s);
  }
  private put(i: number): void {
    this.memo.set(i, this.top());
  }
  private get(i: number): void {
    const v = this.memo.get(i);
    if (v === undefined) this.fail(`memo entry ${i} was never stored: corrupt`);
    this.push(v);
  }

  /**
   * Checks the result once, iteratively: no container contains itself, nesting stays within MAX_DEPTH, and no
   * placeholder holds a value the hooks forbid (tensors). Linear in the number of distinct containers.
   */
  private validate(root: PickleValue): void {
    const done = new Set<object>();
    const open = new Set<object>();
    const walk: { v: PickleValue; exit: boolean; depth: number }[] = [{ v: root, exit: false, depth: 0 }];
    while (walk.length) {
      const { v, exit, depth } = walk.pop() as { v: PickleValue; exit: boolean; depth: number };
      const kids = childrenOf(v);
      if (kids === null) continue;
      const o = v as object;
      if (exit) {
        open.delete(o);
        done.add(o);
        continue;
      }
      if (done.has(o)) continue;
      if (open.has(o)) this.fail('pickle builds a container that contains itself, which ladet does not read');
      if (depth >= MAX_DEPTH) this.fail(`containers nest deeper than ${MAX_DEPTH} levels`);
      open.add(o);
      walk.push({ v, exit: true, depth });
      for (const k of kids) walk.push({ v: k, exit: false, depth: depth + 1 });
    }
    // whatever a placeholder reaches (shared with other placeholders: each container once)
    const seen = new Set<object>();
    const reach: PickleValue[] = [];
    for (const p of this.placeholders) for (const k of childrenOf(p) as PickleValue[]) reach.push(k);
    while (reach.length) {
      const v = reach.pop() as PickleValue;
      if (this.hooks.forbiddenInPlaceholder(v)) {
        const holder = this.placeholders.find((p) => reaches(p, v));
        this.fail(
          `pickle builds ${holder?.global ?? 'an object of a class ladet does not know'} around a tensor, which ladet does not run`,
        );
      }
      const kids = childrenOf(v);
      if (kids === null || seen.has(v as object)) continue;
      seen.add(v as object);
      for (const k of kids) reach.push(k);
    }
  }
}

/** The values a container holds (keys included), or null for a leaf. */
function childrenOf(v: PickleValue): PickleValue[] | null {
  if (Array.isArray(v)) return v;
  if (v instanceof Map) {
    const out: PickleValue[] = [];
    for (const [k, x] of v) out.push(k, x);
    return out;
  }
  if (v instanceof Set) return [...v];
  if (v instanceof PickleObject)
    return v.state === undefined ? [...v.args, ...v.items] : [...v.args, v.state, ...v.items];
  return null;
}

/** Whether `target` is reachable from `from` (only for the error message; the result is acyclic by then). */
function reaches(from: PickleValue, target: PickleValue): boolean {
  const seen = new Set<object>();
  const todo = [from];
  while (todo.length) {
    const v = todo.pop() as PickleValue;
    if (v === target) return true;
    const kids = childrenOf(v);
    if (kids === null || seen.has(v as object)) continue;
    seen.add(v as object);
    for (const k of kids) todo.push(k);
  }
  return false;
}

/** A value's kind for messages. */
export function kindOf(v: PickleValue | undefined): string {
  if (v === undefined) return 'missing value';
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list or tuple';
  if (v instanceof Map) return 'dict';
  if (v instanceof Set) return 'set';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PickleObject) return `${v.global} object`;
  if (v instanceof PickleGlobal) return `global ${v.global}`;
  if (typeof v === 'object') return 'tensor';
  return typeof v === 'bigint' ? 'int' : typeof v === 'number' ? 'number' : typeof v;
}
