// Feature pyramid network as mmdetection's FPN (no norm): 1x1 lateral convs on the backbone levels from
// startLevel, nearest top-down upsampling to each lower level's exact size, 3x3 output convs, then extra levels by
// stride-2 3x3 convs (or max-pooling). Names: `lateral_convs.{i}.conv.*`, `fpn_convs.{i}.conv.*` (mmcv ConvModule),
// with the extra convs appended to fpn_convs.
import { type Tensor, interpolateNearest, maxPool2d } from '../../torch/index.js';
import { ConvModule, Module, ModuleList, init } from '../../nn/index.js';
import type { ExtraConvs } from '../spec.js';

/** Source of the first extra level (the type lives with the model description, spec.ts). */
export type { ExtraConvs } from '../spec.js';

export interface FPNOptions {
  /** Channels of every backbone map the neck receives (C2..C5 for a full ResNet). */
  inChannels: readonly number[];
  outChannels: number;
  /** First backbone map used (default 0; PAA uses 1 = C3). */
  startLevel?: number;
  /** Output levels (default: the used backbone maps, plus extra levels when larger). */
  numOuts?: number;
  /** Default 'on_output'. */
  addExtraConvs?: ExtraConvs;
  /** ReLU on the input of the second and later extra convs (default false). */
  reluBeforeExtraConvs?: boolean;
}

export class FPN extends Module {
  readonly startLevel: number;
  readonly numOuts: number;
  readonly addExtraConvs: ExtraConvs;
  readonly reluBeforeExtraConvs: boolean;
  readonly lateralConvs: ModuleList<ConvModule>;
  readonly fpnConvs: ModuleList<ConvModule>;
  readonly #numIns: number;
  readonly #used: number;

  constructor(o: FPNOptions) {
    super();
    this.#numIns = o.inChannels.length;
    this.startLevel = o.startLevel ?? 0;
    if (!Number.isInteger(this.startLevel) || this.startLevel < 0 || this.startLevel >= this.#numIns) {
      throw new Error(`FPN: startLevel ${this.startLevel} is outside the ${this.#numIns} input levels`);
    }
    this.#used = this.#numIns - this.startLevel;
    this.numOuts = o.numOuts ?? this.#used;
    if (!Number.isInteger(this.numOuts) || this.numOuts < this.#used) {
      throw new Error(`FPN: numOuts ${this.numOuts} must be a whole number >= the ${this.#used} used input levels`);
    }
    this.addExtraConvs = o.addExtraConvs ?? 'on_output';
    this.reluBeforeExtraConvs = o.reluBeforeExtraConvs ?? false;
    const plain = { norm: null, relu: false } as const;
    const out = o.outChannels;
    this.lateralConvs = this.registerModule('lateral_convs', new ModuleList<ConvModule>());
    this.fpnConvs = this.registerModule('fpn_convs', new ModuleList<ConvModule>());
    for (let i = this.startLevel; i < this.#numIns; i++) {
      this.lateralConvs.push(new ConvModule(o.inChannels[i] as number, out, 1, plain));
      this.fpnConvs.push(new ConvModule(out, out, 3, { ...plain, padding: 1 }));
    }
    if (this.addExtraConvs !== false) {
      for (let i = 0; i < this.numOuts - this.#used; i++) {
        const cin = i === 0 && this.addExtraConvs === 'on_input' ? (o.inChannels[this.#numIns - 1] as number) : out;
        this.fpnConvs.push(new ConvModule(cin, out, 3, { ...plain, stride: 2, padding: 1 }));
      }
    }
    // mmdetection's FPN init: Xavier uniform (gain 1) weights, zero biases.
    for (const m of [...this.lateralConvs.items, ...this.fpnConvs.items]) {
      init.xavierUniform_(m.conv.weight);
      if (m.conv.bias) init.constant_(m.conv.bias, 0);
    }
  }

  /** inputs: the backbone maps (N,inChannels[i],H_i,W_i) -> numOuts maps (N,outChannels,..), finest first. */
  forward(inputs: readonly Tensor[]): Tensor[] {
    if (inputs.length !== this.#numIns)
      throw new Error(`FPN: expected ${this.#numIns} input maps, got ${inputs.length}`);
    const laterals = this.lateralConvs.items.map((conv, i) => conv.forward(inputs[i + this.startLevel] as Tensor));
    // Top-down: each level adds the (already updated) coarser one, resized to its own size (F.interpolate(size=)).
    for (let i = this.#used - 1; i > 0; i--) {
      const lower = laterals[i - 1] as Tensor;
      const up = interpolateNearest(laterals[i] as Tensor, [lower.dim(2), lower.dim(3)]);
      lower.add_(up);
      up.dispose();
    }
    const outs = laterals.map((l, i) => this.fpnConvs.at(i).forward(l));
    const lastLateral = laterals[this.#used - 1] as Tensor;
    if (this.numOuts > this.#used) {
      if (this.addExtraConvs === false) {
        for (let i = this.#used; i < this.numOuts; i++) outs.push(maxPool2d(outs[i - 1] as Tensor, 1, 2));
      } else {
        const source =
          this.addExtraConvs === 'on_input'
            ? (inputs[this.#numIns - 1] as Tensor)
            : this.addExtraConvs === 'on_lateral'
              ? lastLateral
              : (outs[this.#used - 1] as Tensor);
        outs.push(this.fpnConvs.at(this.#used).forward(source));
        for (let i = this.#used + 1; i < this.numOuts; i++) {
          const prev = outs[i - 1] as Tensor;
          if (this.reluBeforeExtraConvs) {
            const r = prev.relu();
            outs.push(this.fpnConvs.at(i).forward(r));
            r.dispose();
          } else {
            outs.push(this.fpnConvs.at(i).forward(prev));
          }
        }
      }
    }
    for (const l of laterals) l.dispose();
    return outs;
  }
}
