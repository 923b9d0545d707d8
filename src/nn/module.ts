// Module: a tree of named parameters, buffers and children with PyTorch's dotted names
// (`layer1.0.conv1.weight`), so state dicts move to and from PyTorch/mmdetection by name.
import { Tensor, keep, noGrad, sameDevice } from '../torch/index.js';

export type StateDict = Map<string, Tensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export abstract class Module {
  /** Training mode (affects BatchNorm); set with train()/eval(). */
  training = true;
  readonly #params = new Map<string, Tensor | null>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  /** Registers a parameter: kept out of memory scopes, requiring grad. null registers an absent optional one. */
  protected registerParameter(name: string, t: Tensor | null): Tensor | null {
    this.#checkName(name);
    if (t !== null) {
      keep(t);
      if (!t.requiresGrad) t.requiresGrad = true;
    }
    this.#params.set(name, t);
    return t;
  }

  protected param(name: string, t: Tensor): Tensor {
    return this.registerParameter(name, t) as Tensor;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.#checkName(name);
    this.#buffers.set(name, keep(t));
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.#checkName(name);
    this.#children.set(name, m);
    return m;
  }

  #checkName(name: string): void {
    if (name === '' || name.includes('.')) throw new Error(`invalid module attribute name '${name}'`);
    if (this.#params.has(name) || this.#buffers.has(name) || this.#children.has(name)) {
      throw new Error(`'${name}' is already registered on ${this.constructor.name}`);
    }
  }

  /** Replaces a registered buffer's tensor (e.g. a recomputed one), disposing the old one. */
  protected setBuffer(name: string, t: Tensor): void {
    const old = this.#buffers.get(name);
    if (old === undefined) throw new Error(`no buffer '${name}' on ${this.constructor.name}`);
    if (old !== t) old.dispose();
    this.#buffers.set(name, keep(t));
  }

  /** Direct children in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.#children.entries()];
  }

  child(name: string): Module | undefined {
    return this.#children.get(name);
  }

  /** This module and all descendants, depth first, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, m] of this.#children) out.push(...m.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** Parameters in PyTorch order: own first (registration order), then each child's. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, m] of this.namedModules(prefix)) {
      for (const [pname, p] of m.#params) if (p !== null) out.push([name ? `${name}.${pname}` : pname, p]);
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, m] of this.namedModules(prefix)) {
      for (const [bname, b] of m.#buffers) out.push([name ? `${name}.${bname}` : bname, b]);
    }
    return out;
  }

  /** Number of parameter elements (trainable only, if asked). */
  numParameters(trainableOnly = false): number {
    let n = 0;
    for (const [, p] of this.namedParameters()) if (!trainableOnly || p.requiresGrad) n += p.numel;
    return n;
  }

  /** Sets training mode recursively. Subclasses that pin a mode (frozen BN) override `train`. */
  train(on = true): this {
    this.training = on;
    for (const m of this.#children.values()) m.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Moves every parameter and buffer to `device` ('cpu', 'cuda', 'cuda:1') in place, as torch's module.to(device):
   * each tensor keeps its handle (layers hold them) and takes a copy's storage on the device. Gradients are dropped.
   */
  toDevice(device: string): this {
    noGrad(() => {
      for (const t of [...this.parameters(), ...this.namedBuffers().map(([, b]) => b)]) {
        if (sameDevice(t.device, device)) continue;
        t.grad = null;
        const moved = t.toDevice(device);
        t.setData_(moved);
        moved.dispose();
      }
    });
    return this;
  }

  /** Turns gradient recording on or off for every parameter (freezing). */
  requiresGrad_(on: boolean): this {
    for (const p of this.parameters()) p.requiresGrad = on;
    return this;
  }

  /**
   * Parameters then buffers by dotted name, as PyTorch's state_dict. The tensors are the module's own (not copies):
   * do not dispose them.
   */
  stateDict(): StateDict {
    const sd: StateDict = new Map();
    for (const [name, m] of this.namedModules()) {
      const pre = name ? `${name}.` : '';
      for (const [k, p] of m.#params) if (p !== null) sd.set(pre + k, p);
      for (const [k, b] of m.#buffers) sd.set(pre + k, b);
    }
    return sd;
  }

  /**
   * Copies values into the module's tensors (in place, so optimizer references stay valid). Strict mode throws
   * on missing or unexpected keys; non-strict returns them. A shape mismatch always throws, naming the key.
   */
  loadStateDict(sd: ReadonlyMap<string, Tensor> | Record<string, Tensor>, strict = true): LoadResult {
    const src = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !src.has(k));
    const unexpectedKeys = [...src.keys()].filter((k) => !own.has(k));
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      const parts: string[] = [];
      if (missingKeys.length) parts.push(`missing keys: ${missingKeys.join(', ')}`);
      if (unexpectedKeys.length) parts.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
      throw new Error(`loadStateDict: ${parts.join('; ')}`);
    }
    noGrad(() => {
      for (const [k, dst] of own) {
        const v = src.get(k);
        if (v === undefined) continue;
        const a = dst.shape;
        const b = v.shape;
        if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
          throw new Error(`loadStateDict: '${k}' has shape [${b.join(', ')}], the module expects [${a.join(', ')}]`);
        }
        dst.copy_(v);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Frees every parameter and buffer of the tree. The module is unusable afterwards. */
  dispose(): void {
    for (const [, m] of this.namedModules()) {
      for (const p of m.#params.values()) p?.dispose();
      for (const b of m.#buffers.values()) b.dispose();
    }
  }
}

/** A module with one tensor in and one out, usable in Sequential. */
export interface Layer extends Module {
  forward(x: Tensor): Tensor;
}
