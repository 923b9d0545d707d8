// Dynamic loss scaling for float16 training, as torch.amp.GradScaler (Micikevicius et al., "Mixed Precision
// Training", ICLR 2018). float16 has 5 exponent bits: small gradients flush to zero in the fp16 backward, so the loss
// is multiplied by a large power of two before backward and every gradient divided by it after. When a gradient
// overflowed (inf / NaN), the step is skipped and the scale halved; after `growthInterval` clean steps in a row it
// doubles. Powers of two make the scaling exact: a step that does not overflow moves the weights exactly as the
// unscaled step would. bfloat16 has float32's exponent range and needs none of this.
import { ampUnscale_, full, stack, tidy, zeros, type Tensor } from '../torch/index.js';

export interface GradScalerOptions {
  /** the first scale (torch: 2^16) */
  initScale: number;
  /** multiplier after growthInterval clean steps (torch: 2) */
  growthFactor: number;
  /** multiplier after an overflow (torch: 0.5) */
  backoffFactor: number;
  /** clean steps in a row before the scale grows (torch: 2000) */
  growthInterval: number;
}

/** What a checkpoint keeps of a scaler (torch's state_dict: scale and _growth_tracker; the options are config). */
export interface GradScalerState {
  scale: number;
  growthTracker: number;
}

const DEFAULTS: GradScalerOptions = { initScale: 2 ** 16, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000 };

export class GradScaler {
  readonly options: GradScalerOptions;
  #scale: number;
  #growthTracker = 0;

  constructor(options: Partial<GradScalerOptions> = {}) {
    const o = { ...DEFAULTS, ...options };
    if (!(o.initScale > 0) || !Number.isFinite(o.initScale))
      throw new RangeError(`GradScaler: initScale must be a positive number (got ${o.initScale})`);
    if (!(o.growthFactor > 1)) throw new RangeError(`GradScaler: growthFactor must be > 1 (got ${o.growthFactor})`);
    if (!(o.backoffFactor > 0 && o.backoffFactor < 1))
      throw new RangeError(`GradScaler: backoffFactor must be in (0, 1) (got ${o.backoffFactor})`);
    if (!(Number.isInteger(o.growthInterval) && o.growthInterval >= 1))
      throw new RangeError(`GradScaler: growthInterval must be a positive integer (got ${o.growthInterval})`);
    this.options = o;
    this.#scale = o.initScale;
  }

  /** The current scale. */
  get scale(): number {
    return this.#scale;
  }

  /** loss · scale, a new tensor (backpropagate this one; log the unscaled loss). */
  scaleLoss(loss: Tensor): Tensor {
    return loss.mul(this.#scale);
  }

  /**
   * Divides the gradient of each of `params` by the scale, in place (parameters without one are skipped); true when
   * every gradient is finite afterwards. Under data parallelism call it after the all-reduce, so that every rank sees
   * the same gradients and decides alike.
   */
  unscale(params: readonly Tensor[]): boolean {
    // float32 reciprocal, as torch (scale.double().reciprocal().float()): exact for a power of two
    const inv = Math.fround(1 / this.#scale);
    return tidy(() => {
      const byDevice = new Map<string, Tensor[]>();
      for (const p of params) {
        const g = p.grad;
        if (g === null) continue;
        const list = byDevice.get(g.device) ?? [];
        list.push(g);
        byDevice.set(g.device, list);
      }
      const flags: Tensor[] = [];
      for (const [device, grads] of byDevice) {
        if (device.startsWith('cuda') && grads.every((g) => g.dtype === 'float32')) {
          // one fused kernel for all gradients of the device (torch's own path)
          const found = zeros([1], { device });
          ampUnscale_(grads, found, full([1], inv, { device }));
          flags.push(found.eq(0).all());
        } else {
          for (const g of grads) {
            g.mul_(inv);
            flags.push(g.isFinite().all());
          }
        }
      }
      // one device -> host read for all of them
      return (
        flags.length === 0 ||
        Boolean(
          stack(flags.map((f) => f.toDevice('cpu')))
            .all()
            .item(),
        )
      );
    });
  }

  /** After each step: backoff when it overflowed (`finite` false), growth after growthInterval clean steps. */
  update(finite: boolean): void {
    if (!finite) {
      this.#scale *= this.options.backoffFactor;
      this.#growthTracker = 0;
      return;
    }
    this.#growthTracker++;
    if (this.#growthTracker === this.options.growthInterval) {
      const grown = this.#scale * this.options.growthFactor;
      // as torch: never grow into infinity
      if (Number.isFinite(Math.fround(grown))) this.#scale = grown;
      this.#growthTracker = 0;
    }
  }

  stateDict(): GradScalerState {
    return { scale: this.#scale, growthTracker: this.#growthTracker };
  }

  /** Restores a stateDict(); throws naming the field when it is not one. */
  loadStateDict(s: GradScalerState): void {
    if (!(typeof s?.scale === 'number' && s.scale > 0 && Number.isFinite(s.scale)))
      throw new Error(`GradScaler state: scale must be a positive number (got ${String(s?.scale)})`);
    if (!(Number.isInteger(s.growthTracker) && s.growthTracker >= 0))
      throw new Error(
        `GradScaler state: growthTracker must be a non-negative integer (got ${String(s.growthTracker)})`,
      );
    this.#scale = s.scale;
    this.#growthTracker = s.growthTracker;
  }
}
