// SGD with momentum, dampening, Nesterov momentum and L2 weight decay, as torch.optim.SGD:
//   d = g + weightDecay * p
//   buf = d on the first step, then buf = momentum * buf + (1 - dampening) * d
//   d = d + momentum * buf (nesterov) or d = buf
//   p -= lr * d
import { keep, type Tensor } from '../torch/index.js';
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
