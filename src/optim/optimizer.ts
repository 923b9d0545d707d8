// The optimizer base: parameter groups, per-parameter state, step / zeroGrad, and a state dict that is a flat map
// of tensors plus JSON-able meta, so it can be stored in a safetensors file (tensors + "__metadata__").
//
// Semantics follow torch.optim: groups carry their own hyper-parameters (the defaults fill the rest), a parameter
// whose grad is null is skipped, state is created on a parameter's first step, and state-dict parameters are
// numbered across groups in order, so a state dict applies to any optimizer built over the same parameter list.
import { keep, noGrad, zerosLike, type Tensor } from '../torch/index.js';

/** A hyper-parameter value: JSON-able and checked by type on load. */
export type HyperValue = number | boolean | readonly [number, number];

/** Every optimizer has at least a learning rate per group (the LR scheduler sets it). */
export interface BaseHyper {
  lr: number;
}

export type ParamGroup<H extends BaseHyper> = H & { params: Tensor[] };

/** A group as given by the user: its parameters and any hyper-parameters that differ from the defaults. */
export type ParamGroupInput<H extends BaseHyper> = Partial<H> & { params: readonly Tensor[] };

/** Either one list of parameters (a single group) or a list of groups. */
export type Params<H extends BaseHyper> = readonly Tensor[] | readonly ParamGroupInput<H>[];

/** What an optimizer keeps per parameter. */
export interface ParamState {
  /** steps taken for this parameter (the first step sees 1) */
  step: number;
  /** named buffers shaped like the parameter (momentum_buffer, exp_avg, ...) */
  buffers: Map<string, Tensor>;
}

/** One group in a state dict: its hyper-parameters and the indices of its parameters. */
export interface OptimizerGroupMeta {
  params: number[];
  [hyper: string]: HyperValue | number[];
}

export interface OptimizerStateMeta {
  /** optimizer class, checked on load */
  type: string;
  /** hyper-parameters of each group and the indices of its parameters */
  groups: OptimizerGroupMeta[];
  /** per parameter index with state: its step count */
  state: Record<string, { step: number }>;
}

/** Tensors are named `state.<paramIndex>.<buffer>`; they are fresh copies owned by the caller. */
export interface OptimizerStateDict {
  tensors: Record<string, Tensor>;
  meta: OptimizerStateMeta;
}

/** Anything with groups that hold an lr (what LR schedulers drive). */
export interface HasParamGroups {
  readonly paramGroups: readonly { lr: number }[];
}

function isPair(v: unknown): v is readonly [number, number] {
  return Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

function sameKind(v: unknown, like: HyperValue): boolean {
  if (typeof like === 'number') return typeof v === 'number' && Number.isFinite(v);
  if (typeof like === 'boolean') return typeof v === 'boolean';
  return isPair(v);
}

function fmtShape(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

const STATE_NAME = /^state\.(0|[1-9]\d*)\.([A-Za-z_]\w*)$/;

export abstract class Optimizer<H extends BaseHyper> implements HasParamGroups {
  readonly paramGroups: ParamGroup<H>[] = [];
  protected readonly state = new Map<Tensor, ParamState>();
  readonly #type: string;
  readonly #defaults: H;

  protected constructor(type: string, params: Params<H>, defaults: H) {
    this.#type = type;
    this.#defaults = defaults;
    this.validate(defaults, `${type}`);
    const groups: readonly ParamGroupInput<H>[] =
      params.length > 0 && !('params' in (params[0] as object))
        ? [{ params: params as readonly Tensor[] } as ParamGroupInput<H>]
        : (params as readonly ParamGroupInput<H>[]);
    if (groups.length === 0) throw new Error(`${type}: got an empty parameter list`);
    for (const g of groups) this.addParamGroup(g);
  }

  /** Names of the hyper-parameters (the keys of the defaults). */
  get hyperNames(): string[] {
    return Object.keys(this.#defaults);
  }

  /** Adds a group; missing hyper-parameters come from the defaults. */
  addParamGroup(input: ParamGroupInput<H>): void {
    const gi = this.paramGroups.length;
    const where = `${this.#type} group ${gi}`;
    if (!Array.isArray(input.params)) throw new TypeError(`${where}: params must be an array of tensors`);
    const seen = new Set<Tensor>(this.paramGroups.flatMap((g) => g.params));
    input.params.forEach((p, i) => {
      if (seen.has(p)) throw new Error(`${where}: parameter ${i} appears twice (in this or another group)`);
      seen.add(p);
      if (p.dtype !== 'float32' && p.dtype !== 'float64' && p.dtype !== 'float16' && p.dtype !== 'bfloat16') {
        throw new TypeError(`${where}: parameter ${i} has dtype ${p.dtype}; only floating tensors can be optimized`);
      }
      if (!p.isLeaf) throw new Error(`${where}: parameter ${i} is not a leaf tensor (optimize the leaves)`);
    });
    const group = { ...this.#defaults } as Record<string, unknown>;
    for (const k of this.hyperNames) {
      const v = (input as Record<string, unknown>)[k];
      if (v === undefined) continue;
      if (!sameKind(v, (this.#defaults as unknown as Record<string, HyperValue>)[k] as HyperValue)) {
        throw new TypeError(
          `${where}: ${k} must be like ${JSON.stringify((this.#defaults as Record<string, unknown>)[k])}, got ${JSON.stringify(v)}`,
        );
      }
      group[k] = Array.isArray(v) ? [...(v as number[])] : v;
    }
    for (const k of Object.keys(input)) {
      if (k !== 'params' && !(k in group))
        throw new TypeError(`${where}: unknown option '${k}' (have: ${this.hyperNames.join(', ')})`);
    }
    this.validate(group as unknown as H, where);
    this.paramGroups.push({ ...(group as unknown as H), params: [...input.params] });
  }

  /** Checks a group's hyper-parameters; throws with `where` in the message. */
  protected abstract validate(h: H, where: string): void;

  /** Applies one step to parameter p with gradient g (already counted in state.step). Runs under noGrad. */
  protected abstract update(p: Tensor, g: Tensor, group: ParamGroup<H>, state: ParamState): void;

  /** Buffer names a parameter's state may hold, and those it must hold once it has taken a step. */
  protected abstract bufferNames(h: H): { allowed: readonly string[]; required: readonly string[] };

  /** One optimization step over every parameter that has a gradient. */
  step(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const p of group.params) {
          const g = p.grad;
          if (g === null) continue;
          try {
            this.update(p, g, group, this.stepState(p));
          } finally {
            g.dispose();
          }
        }
      }
    });
  }

  /** p's state (made on its first step) with its step count advanced: what `update` receives. */
  protected stepState(p: Tensor): ParamState {
    let st = this.state.get(p);
    if (st === undefined) this.state.set(p, (st = { step: 0, buffers: new Map() }));
    st.step += 1;
    return st;
  }

  /** Sets every parameter's grad to null (so the next backward starts fresh and skipped params stay skipped). */
  zeroGrad(): void {
    for (const group of this.paramGroups) for (const p of group.params) p.grad = null;
  }

  /** A zero buffer like p that survives the caller's tidy scopes (state lives as long as the optimizer). */
  protected zerosLikeParam(p: Tensor): Tensor {
    return keep(zerosLike(p));
  }

  #hyperOf(group: ParamGroup<H>): Record<string, HyperValue> {
    const out: Record<string, HyperValue> = {};
    for (const k of this.hyperNames) {
      const v = (group as unknown as Record<string, HyperValue>)[k] as HyperValue;
      out[k] = Array.isArray(v) ? ([...v] as [number, number]) : v;
    }
    return out;
  }

  /** Copies of the state buffers plus the meta (type, group hyper-parameters, step counts). */
  stateDict(): OptimizerStateDict {
    const tensors: Record<string, Tensor> = {};
    const state: Record<string, { step: number }> = {};
    const groups: OptimizerStateMeta['groups'] = [];
    let i = 0;
    for (const group of this.paramGroups) {
      const indices: number[] = [];
      for (const p of group.params) {
        const st = this.state.get(p);
        if (st !== undefined) {
          state[String(i)] = { step: st.step };
          for (const [name, buf] of st.buffers) tensors[`state.${i}.${name}`] = buf.clone();
        }
        indices.push(i++);
      }
      groups.push({ ...this.#hyperOf(group), params: indices });
    }
    return { tensors, meta: { type: this.#type, groups, state } };
  }

  /**
   * Restores a state dict made by stateDict() of an optimizer of the same type over the same parameters
   * (same group sizes). Group hyper-parameters are replaced by the saved ones, as torch.optim does. Tensors are
   * copied (and cast to each parameter's dtype); the inputs stay the caller's. Everything is checked before
   * anything changes.
   */
  loadStateDict(tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>, meta: unknown): void {
    const fail = (msg: string): never => {
      throw new Error(`${this.#type}.loadStateDict: ${msg}`);
    };
    if (meta === null || typeof meta !== 'object') fail('meta must be an object');
    const m = meta as Record<string, unknown>;
    if (m.type !== this.#type) fail(`the state is for ${JSON.stringify(m.type)}, this optimizer is ${this.#type}`);
    if (!Array.isArray(m.groups)) fail('meta.groups must be an array');
    const mg = m.groups as unknown[];
    if (mg.length !== this.paramGroups.length)
      fail(`the state has ${mg.length} parameter groups, this optimizer ${this.paramGroups.length}`);
    const params: Tensor[] = [];
    const groupOf: H[] = [];
    const newHyper: H[] = [];
    mg.forEach((g, gi) => {
      if (g === null || typeof g !== 'object') fail(`group ${gi} must be an object`);
      const rec = g as Record<string, unknown>;
      const mine = this.paramGroups[gi] as ParamGroup<H>;
      const idx = rec.params;
      if (!Array.isArray(idx) || idx.length !== mine.params.length) {
        fail(
          `group ${gi} has ${Array.isArray(idx) ? idx.length : 'no'} parameters in the state, ${mine.params.length} here`,
        );
      }
      (idx as unknown[]).forEach((v, j) => {
        if (v !== params.length + j)
          fail(`group ${gi} parameter ${j}: index ${JSON.stringify(v)}, expected ${params.length + j}`);
      });
      const h = {} as Record<string, unknown>;
      for (const k of this.hyperNames) {
        const like = (this.#defaults as unknown as Record<string, HyperValue>)[k] as HyperValue;
        if (!sameKind(rec[k], like))
          fail(`group ${gi}: ${k} must be like ${JSON.stringify(like)}, got ${JSON.stringify(rec[k])}`);
        h[k] = Array.isArray(rec[k]) ? [...(rec[k] as number[])] : rec[k];
      }
      this.validate(h as unknown as H, `${this.#type}.loadStateDict: group ${gi}`);
      newHyper.push(h as unknown as H);
      for (const p of mine.params) {
        params.push(p);
        groupOf.push(h as unknown as H);
      }
    });
    if (m.state === null || typeof m.state !== 'object' || Array.isArray(m.state)) fail('meta.state must be an object');
    const steps = new Map<number, number>();
    for (const [k, v] of Object.entries(m.state as Record<string, unknown>)) {
      const i = Number(k);
      if (!/^(0|[1-9]\d*)$/.test(k) || i >= params.length)
        fail(`state key '${k}' is not a parameter index below ${params.length}`);
      const step = (v as { step?: unknown } | null)?.step;
      if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0)
        fail(`state ${k}: step must be a non-negative integer, got ${JSON.stringify(step)}`);
      steps.set(i, step as number);
    }
    const entries: [string, Tensor][] =
      tensors instanceof Map
        ? [...(tensors as ReadonlyMap<string, Tensor>).entries()]
        : Object.entries(tensors as Record<string, Tensor>);
    const buffers = new Map<number, Map<string, Tensor>>();
    for (const [name, t] of entries) {
      const match = STATE_NAME.exec(name);
      if (match === null) fail(`tensor '${name}' is not named state.<index>.<buffer>`);
      const i = Number((match as RegExpExecArray)[1]);
      const buf = (match as RegExpExecArray)[2] as string;
      if (!steps.has(i)) fail(`tensor '${name}' belongs to parameter ${i}, which has no entry in meta.state`);
      const p = params[i] as Tensor;
      const { allowed } = this.bufferNames(groupOf[i] as H);
      if (!allowed.includes(buf))
        fail(`tensor '${name}': '${buf}' is not a ${this.#type} buffer (have: ${allowed.join(', ')})`);
      if (t.shape.length !== p.shape.length || t.shape.some((d, j) => d !== p.shape[j])) {
        fail(`tensor '${name}' has shape ${fmtShape(t.shape)} but parameter ${i} has shape ${fmtShape(p.shape)}`);
      }
      let bufs = buffers.get(i);
      if (bufs === undefined) buffers.set(i, (bufs = new Map()));
      bufs.set(buf, t);
    }
    for (const [i, step] of steps) {
      if (step === 0) continue;
      for (const r of this.bufferNames(groupOf[i] as H).required) {
        if (!buffers.get(i)?.has(r))
          fail(`parameter ${i} has taken ${step} steps but tensor 'state.${i}.${r}' is missing`);
      }
    }
    // All checked: replace hyper-parameters and state.
    this.disposeState();
    newHyper.forEach((h, gi) => Object.assign(this.paramGroups[gi] as ParamGroup<H>, h));
    noGrad(() => {
      for (const [i, step] of steps) {
        const p = params[i] as Tensor;
        const st: ParamState = { step, buffers: new Map() };
        for (const [name, src] of buffers.get(i) ?? []) st.buffers.set(name, this.zerosLikeParam(p).copy_(src));
        this.state.set(p, st);
      }
    });
  }

  /** Frees the state buffers (the optimizer starts afresh on its next step). */
  disposeState(): void {
    for (const st of this.state.values()) for (const b of st.buffers.values()) b.dispose();
    this.state.clear();
  }
}

/** Any optimizer, for code that only steps, zeroes and saves (engine, checkpoints). */
export type AnyOptimizer = Optimizer<BaseHyper>;
