// SGD with momentum, dampening, Nesterov momentum and L2 weight decay, as torch.optim.SGD:
//   d = g + weightDecay * p
//   buf = d on the first step, then buf = momentum * buf + (1 - dampening) * d
//   d = d + momentum * buf (nesterov) or d = buf
//   p -= lr * d
// step() runs each group as multi-tensor ops (torch.optim.SGD's foreach=True: a handful of calls per group rather
// than several per parameter, which is what a GPU step is bound by); `update` is the per-parameter form of the same
// arithmetic, used with `foreach = false`, and on the CPU the two give bitwise the same weights.
import {
  dispose,
  foreachAdd,
  foreachAdd_,
  foreachMul_,
  foreachNeg,
  keep,
  noGrad,
  type Tensor,
} from '../torch/index.js';
import { Optimizer, type ParamGroup, type ParamState, type Params } from './optimizer.js';

export type SGDOptions = {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
  /** ascend instead of descend */
  maximize: boolean;
};

const DEFAULTS: Omit<SGDOptions, 'lr'> = {
  momentum: 0,
  dampening: 0,
  nesterov: false,
  weightDecay: 0,
  maximize: false,
};

export class SGD extends Optimizer<SGDOptions> {
  /** `params`: a tensor list or groups ({params, lr?, momentum?, ...}); `options` are the groups' defaults. */
  constructor(params: Params<SGDOptions>, options: Partial<SGDOptions> & { lr: number }) {
    super('SGD', params, { ...DEFAULTS, ...options });
  }

  /** Multi-tensor steps (default); false: one parameter at a time (Optimizer.step). */
  foreach = true;

  override step(): void {
    if (!this.foreach) return super.step();
    noGrad(() => {
      for (const group of this.paramGroups) {
        const params: Tensor[] = [];
        const grads: Tensor[] = [];
        for (const p of group.params) {
          const g = p.grad;
          if (g === null) continue;
          params.push(p);
          grads.push(g);
        }
        try {
          if (params.length) this.#groupStep(group, params, grads);
        } finally {
          dispose(grads);
        }
      }
    });
  }

  /** One step of `params` (those of `group` with a gradient) as multi-tensor ops. */
  #groupStep(group: ParamGroup<SGDOptions>, params: Tensor[], grads: Tensor[]): void {
    const temps: Tensor[] = [];
    const fresh = (ts: Tensor[]): Tensor[] => (temps.push(...ts), ts);
    try {
      const states = params.map((p) => this.stepState(p));
      let d = grads;
      if (group.maximize) d = fresh(foreachNeg(d));
      if (group.weightDecay !== 0) d = fresh(foreachAdd(d, params, group.weightDecay));
      if (group.momentum !== 0) {
        // a parameter's first step starts its buffer at d; the others decay theirs and add d
        const old: number[] = [];
        const bufs = states.map((st, i) => {
          let buf = st.buffers.get('momentum_buffer');
          if (buf === undefined) st.buffers.set('momentum_buffer', (buf = keep((d[i] as Tensor).clone())));
          else old.push(i);
          return buf;
        });
        if (old.length) {
          const oldBufs = old.map((i) => bufs[i] as Tensor);
          foreachMul_(oldBufs, group.momentum);
          foreachAdd_(
            oldBufs,
            old.map((i) => d[i] as Tensor),
            1 - group.dampening,
          );
        }
        d = group.nesterov ? fresh(foreachAdd(d, bufs, group.momentum)) : bufs;
      }
      foreachAdd_(params, d, -group.lr);
    } finally {
      dispose(temps);
    }
  }

  protected validate(h: SGDOptions, where: string): void {
    if (!(h.lr >= 0)) throw new RangeError(`${where}: invalid learning rate ${h.lr}`);
    if (!(h.momentum >= 0)) throw new RangeError(`${where}: invalid momentum ${h.momentum}`);
    if (!(h.weightDecay >= 0)) throw new RangeError(`${where}: invalid weightDecay ${h.weightDecay}`);
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) {
      throw new RangeError(`${where}: nesterov momentum needs momentum > 0 and dampening 0`);
    }
  }

  protected bufferNames(h: SGDOptions): { allowed: readonly string[]; required: readonly string[] } {
    return { allowed: ['momentum_buffer'], required: h.momentum !== 0 ? ['momentum_buffer'] : [] };
  }

  protected update(p: Tensor, g: Tensor, group: ParamGroup<SGDOptions>, state: ParamState): void {
    const temps: Tensor[] = [];
    try {
      let d = g;
      if (group.maximize) temps.push((d = d.neg()));
      if (group.weightDecay !== 0) temps.push((d = d.add(p, group.weightDecay)));
      if (group.momentum !== 0) {
        let buf = state.buffers.get('momentum_buffer');
        if (buf === undefined) {
          buf = keep(d.clone());
          state.buffers.set('momentum_buffer', buf);
        } else {
          buf.mul_(group.momentum).add_(d, 1 - group.dampening);
        }
        if (group.nesterov) temps.push((d = d.add(buf, group.momentum)));
        else d = buf;
      }
      p.add_(d, -group.lr);
    } finally {
      for (const t of temps) t.dispose();
    }
  }
}
