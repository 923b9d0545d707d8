// Learning-rate schedules in the mmcv/mmdetection style: a regular schedule (fixed, step decay or cosine
// annealing, counted in epochs or iterations) times a warmup factor during the first iterations.
//
//   step:   lr = base * gamma^(number of milestones <= progress), floored at minLr
//   cosine: lr = target + (base - target) * (1 + cos(pi * min(progress / total, 1))) / 2
//   warmup (iter < warmup.iters, applied to the regular lr):
//     linear:   lr * (ratio + (1 - ratio) * iter / iters)
//     constant: lr * ratio
//     exp:      lr * ratio^(1 - iter / iters)
// `iter` is the 0-based index of the iteration about to run; with byEpoch, progress is floor(iter / itersPerEpoch)
// (the 0-based epoch), so steps [8, 11] decay at the start of the 9th and 12th epochs, as mmdetection's 1x.
import type { HasParamGroups } from './optimizer.js';

export type DecayConfig =
  | { policy: 'fixed' }
  /** milestones (ascending) or a period: decay every `steps` units */
  | { policy: 'step'; steps: number | readonly number[]; gamma?: number; minLr?: number }
  /** anneal over `total` units to minLr (or base * minLrRatio; default 0) */
  | { policy: 'cosine'; total: number; minLr?: number; minLrRatio?: number };

export interface WarmupConfig {
  policy: 'linear' | 'constant' | 'exp';
  /** warmup length in iterations */
  iters: number;
  /** lr factor at iteration 0 */
  ratio: number;
}

export interface LrScheduleConfig {
  decay: DecayConfig;
  warmup?: WarmupConfig | null;
  /** count decay milestones / cosine length in epochs (default) or in iterations */
  byEpoch?: boolean;
  /** needed when byEpoch */
  itersPerEpoch?: number;
}

function check(cfg: LrScheduleConfig): void {
  const bad = (msg: string): never => {
    throw new RangeError(`lr schedule: ${msg}`);
  };
  const byEpoch = cfg.byEpoch ?? true;
  if (byEpoch && !(Number.isSafeInteger(cfg.itersPerEpoch) && (cfg.itersPerEpoch as number) > 0)) {
    bad(`itersPerEpoch must be a positive integer when byEpoch, got ${cfg.itersPerEpoch}`);
  }
  const d = cfg.decay;
  if (d.policy === 'step') {
    if (typeof d.steps === 'number') {
      if (!(d.steps > 0)) bad(`step period must be > 0, got ${d.steps}`);
    } else if (d.steps.some((s, i) => !(s >= 0) || (i > 0 && s < (d.steps as number[])[i - 1]!))) {
      bad(`step milestones must be ascending non-negative numbers, got [${d.steps.join(', ')}]`);
    }
    if (d.gamma !== undefined && !(d.gamma > 0)) bad(`gamma must be > 0, got ${d.gamma}`);
  } else if (d.policy === 'cosine') {
    if (!(d.total > 0)) bad(`cosine total must be > 0, got ${d.total}`);
    if (d.minLr !== undefined && d.minLrRatio !== undefined) bad('give minLr or minLrRatio, not both');
  } else if (d.policy !== 'fixed') {
    bad(`unknown decay policy ${JSON.stringify((d as { policy: unknown }).policy)}`);
  }
  const w = cfg.warmup;
  if (w !== undefined && w !== null) {
    if (!['linear', 'constant', 'exp'].includes(w.policy)) bad(`unknown warmup policy ${JSON.stringify(w.policy)}`);
    if (!(Number.isSafeInteger(w.iters) && w.iters >= 0))
      bad(`warmup iters must be a non-negative integer, got ${w.iters}`);
    if (!(w.ratio > 0 && w.ratio <= 1)) bad(`warmup ratio must be in (0, 1], got ${w.ratio}`);
  }
}

/** The regular (post-warmup) lr at a progress value (epochs or iterations). */
function regularLr(progress: number, base: number, d: DecayConfig): number {
  if (d.policy === 'fixed') return base;
  if (d.policy === 'step') {
    const gamma = d.gamma ?? 0.1;
    let exp: number;
    if (typeof d.steps === 'number') exp = Math.floor(progress / d.steps);
    else {
      exp = d.steps.findIndex((s) => progress < s);
      if (exp < 0) exp = d.steps.length;
    }
    const lr = base * gamma ** exp;
    return d.minLr === undefined ? lr : Math.max(lr, d.minLr);
  }
  const target = d.minLr ?? base * (d.minLrRatio ?? 0);
  const f = Math.min(progress / d.total, 1);
  return target + 0.5 * (base - target) * (Math.cos(Math.PI * f) + 1);
}

/** The lr of iteration `iter` (0-based) for a group whose initial lr is `baseLr`. Pure. */
export function lrAt(iter: number, baseLr: number, cfg: LrScheduleConfig): number {
  check(cfg);
  if (!(Number.isSafeInteger(iter) && iter >= 0))
    throw new RangeError(`lrAt: iter must be a non-negative integer, got ${iter}`);
  const byEpoch = cfg.byEpoch ?? true;
  const progress = byEpoch ? Math.floor(iter / (cfg.itersPerEpoch as number)) : iter;
  const lr = regularLr(progress, baseLr, cfg.decay);
  const w = cfg.warmup;
  if (w === undefined || w === null || iter >= w.iters) return lr;
  if (w.policy === 'constant') return lr * w.ratio;
  if (w.policy === 'linear') return lr * (1 - (1 - iter / w.iters) * (1 - w.ratio));
  return lr * w.ratio ** (1 - iter / w.iters);
}

export interface LrSchedulerState {
  /** the next iteration step() will apply */
  iter: number;
  /** each group's initial lr */
  baseLrs: number[];
}

/**
 * Drives an optimizer's group lrs. The groups' lrs at construction are the base lrs. Call step() at the start
 * of every iteration, before optimizer.step(): it sets each group's lr for the current iteration and advances.
 */
export class LrScheduler {
  readonly optimizer: HasParamGroups;
  readonly config: LrScheduleConfig;
  #iter = 0;
  #baseLrs: number[];

  constructor(optimizer: HasParamGroups, config: LrScheduleConfig) {
    check(config);
    this.optimizer = optimizer;
    this.config = config;
    this.#baseLrs = optimizer.paramGroups.map((g) => g.lr);
  }

  /** The next iteration step() will apply. */
  get iter(): number {
    return this.#iter;
  }

  get baseLrs(): readonly number[] {
    return this.#baseLrs;
  }

  /** Sets every group's lr for iteration `this.iter`, then advances to the next; returns the lrs set. */
  step(): number[] {
    const lrs = this.#baseLrs.map((b) => lrAt(this.#iter, b, this.config));
    this.optimizer.paramGroups.forEach((g, i) => {
      (g as { lr: number }).lr = lrs[i] as number;
    });
    this.#iter += 1;
    return lrs;
  }

  stateDict(): LrSchedulerState {
    return { iter: this.#iter, baseLrs: [...this.#baseLrs] };
  }

  /** Restores iter and base lrs (the group lrs are set on the next step()). */
  loadStateDict(state: unknown): void {
    const s = state as Partial<LrSchedulerState> | null;
    if (s === null || typeof s !== 'object') throw new TypeError('LrScheduler.loadStateDict: state must be an object');
    if (!(Number.isSafeInteger(s.iter) && (s.iter as number) >= 0)) {
      throw new TypeError(
        `LrScheduler.loadStateDict: iter must be a non-negative integer, got ${JSON.stringify(s.iter)}`,
      );
    }
    const n = this.optimizer.paramGroups.length;
    if (
      !Array.isArray(s.baseLrs) ||
      s.baseLrs.length !== n ||
      !s.baseLrs.every((x) => typeof x === 'number' && Number.isFinite(x))
    ) {
      throw new TypeError(`LrScheduler.loadStateDict: baseLrs must be ${n} numbers, got ${JSON.stringify(s.baseLrs)}`);
    }
    this.#iter = s.iter as number;
    this.#baseLrs = [...s.baseLrs];
  }
}
