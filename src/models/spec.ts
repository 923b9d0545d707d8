// The model description: one detector's architecture as plain, fully resolved data (no defaults left, no libtorch,
// no imports), so that every reader agrees on it. The libtorch Detector (detector.ts) is built from it and exposes it
// as `detector.spec`; `ladet export` writes it into the runtime model file as it is; ladet/runtime (src/runtime/) runs
// the network it describes. Backbone-specific fields live in the backbone's own spec type (ResNetSpec in
// backbones/resnet_spec.ts), told apart by `type`, the backbone registry's key (backbones/registry.ts).

/** The resolved backbone: its registry type and what the neck reads; each backbone type adds its own fields. */
export interface BackboneSpec {
  /** the backbone registry's key ('resnet', ...) */
  type: string;
  /** channels of the feature maps forward returns, in order (finest first) */
  outChannels: number[];
  /** their strides in input pixels */
  outStrides: number[];
}

/**
 * Source of the first extra FPN level: the last backbone map ('on_input'), its lateral ('on_lateral') or its FPN
 * output ('on_output', PAA's choice); false adds extra levels by 1x1 max-pooling with stride 2 instead of convs.
 */
export type ExtraConvs = 'on_input' | 'on_lateral' | 'on_output' | false;

/** The resolved neck (mmdetection's FPN without norm) over the backbone's maps. */
export interface NeckSpec {
  type: 'fpn';
  outChannels: number;
  /** first backbone map used */
  startLevel: number;
  /** pyramid levels */
  numOuts: number;
  addExtraConvs: ExtraConvs;
  /** ReLU on the input of the second and later extra convs */
  reluBeforeExtraConvs: boolean;
}

/** 'paa': class logits; 'cop' / 'iop': class probabilities through their extra reg-tower convs. */
export type HeadType = 'paa' | 'cop' | 'iop';

/** The resolved head (PAA towers shared by every type), one learnable scale per pyramid level (neck.numOuts). */
export interface HeadSpec {
  type: HeadType;
  numClasses: number;
  /** tower width */
  featChannels: number;
  /** convs per tower */
  stackedConvs: number;
  /** GroupNorm groups of the towers */
  gnGroups: number;
  /** the IoU-prediction branch (`atss_centerness`) */
  iouBranch: boolean;
  /** COP's neighbourhood size k (odd); present for COP heads only */
  coeffKernelSize?: number;
  /** anchors per location (ratios × scales per octave) when not 1; absent: 1 */
  numAnchors?: number;
}

/** A detector: backbone -> neck -> head. */
export interface ModelSpec {
  backbone: BackboneSpec;
  neck: NeckSpec;
  head: HeadSpec;
}

/** The pyramid strides of a model: the backbone's from neck.startLevel, doubled for each extra level. */
export function pyramidStrides(spec: Pick<ModelSpec, 'backbone' | 'neck'>): number[] {
  const strides = spec.backbone.outStrides.slice(spec.neck.startLevel);
  while (strides.length < spec.neck.numOuts) strides.push(2 * (strides[strides.length - 1] as number));
  return strides;
}
