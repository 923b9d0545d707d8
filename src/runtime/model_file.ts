// The runtime model file: a safetensors file holding one network's float32 weights under ladet's parameter names
// and, in its metadata (`ladet_runtime`), everything needed to run it: the architecture, the anchors, the classes,
// the input pipeline and the post-processing settings. `ladet export` writes it; this reads it from bytes (a
// fetch() response in a browser, a file in Node) with nothing but TypeScript.
import type { AnchorSpec, InferenceConfig } from './postprocess.js';
import { resolveNetworkSpec, type NetworkSpec } from './network.js';
import type { StateDict, WeightTensor } from './weights.js';
import { backboneKernel } from './backbones.js';

export const RUNTIME_FORMAT = 'ladet-runtime';
export const RUNTIME_VERSION = 1;

export interface RuntimeSpec {
  format: typeof RUNTIME_FORMAT;
  version: typeof RUNTIME_VERSION;
  /**
   * The model description (ModelSpec, src/models/spec.ts) as the libtorch Detector holds it. Files written before it
   * recorded a legacy shape (network.ts, LegacyNetworkSpec); parseRuntimeModel returns both resolved to a ModelSpec.
   */
  network: NetworkSpec;
  anchors: AnchorSpec;
  /** label i predicts classes[i] */
  classes: { id: number; name: string }[];
  input: {
    /** keep-ratio resize target (long, short edge), as data.testScale */
    testScale: [number, number];
    sizeDivisor: number;
    /** RGB mean / std in 0..255 units */
    mean: [number, number, number];
    std: [number, number, number];
  };
  inference: InferenceConfig;
  /** where the weights came from (informational) */
  source?: Record<string, unknown>;
}

export interface RuntimeModel {
  spec: RuntimeSpec;
  weights: StateDict;
}

/** Parses a runtime model file. Errors say what is wrong with it, prefixed by `name`. */
export function parseRuntimeModel(bytes: Uint8Array, name = 'runtime model'): RuntimeModel {
  const fail = (why: string): never => {
    throw new Error(`${name}: ${why}`);
  };
  if (bytes.byteLength < 8) fail(`too short for a safetensors file (${bytes.byteLength} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.byteLength - 8)
    fail(`truncated: the header says ${headerLen} bytes, the file has ${bytes.byteLength - 8} after the length`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen))) as Record<string, unknown>;
  } catch (e) {
    return fail(`the safetensors header is not valid JSON (${(e as Error).message})`);
  }
  const meta = header.__metadata__ as Record<string, string> | undefined;
  const rawSpec = meta?.ladet_runtime;
  if (typeof rawSpec !== 'string') {
    return fail(
      'not a ladet runtime model (no __metadata__.ladet_runtime): make one with `ladet export RUN out=FILE.safetensors`',
    );
  }
  const spec = parseRuntimeSpec(rawSpec, '__metadata__.ladet_runtime', fail);
  const dataStart = 8 + headerLen;
  const weights = new Map<string, WeightTensor>();
  for (const [key, value] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    const e = value as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (e.dtype !== 'F32') fail(`tensor '${key}' is ${String(e.dtype)}; runtime models hold F32 tensors`);
    const [begin, end] = e.data_offsets ?? [NaN, NaN];
    const shape = e.shape ?? [];
    const count = shape.reduce((a, b) => a * b, 1);
    if (!(begin >= 0 && end - begin === 4 * count && dataStart + end <= bytes.byteLength)) {
      fail(
        `tensor '${key}': data_offsets [${begin}, ${end}] do not fit its shape [${shape.join(', ')}] in a file of ${bytes.byteLength} bytes (truncated?)`,
      );
    }
    // copy: the data need not be 4-byte aligned in the file, and safetensors is little-endian
    const data = new Float32Array(count);
    let bad = 0;
    let first = -1;
    for (let i = 0; i < count; i++) {
      const x = view.getFloat32(dataStart + begin + 4 * i, true);
      // NaN / ±Infinity would not fail anywhere later: every detection would silently come out NaN or empty
      if (!Number.isFinite(x) && bad++ === 0) first = i;
      data[i] = x;
    }
    if (bad) fail(nonFiniteMessage(`tensor '${key}'`, bad, count, first, data[first] as number));
    weights.set(key, { data, shape });
  }
  return { spec: { ...spec, network: resolveNetworkSpec(spec.network, weights) }, weights };
}

/** What a weight tensor holding NaN / ±Infinity is called out with, by runtime model and ONNX readers alike. */
export function nonFiniteMessage(what: string, count: number, of: number, first: number, value: number): string {
  return `${what} holds ${count} non-finite value${count === 1 ? '' : 's'} of ${of} (element ${first} is ${value}): a corrupt file or a diverged run`;
}

/**
 * A spec's JSON text (`where` names where it was found) parsed and checked: format and version, then
 * runtimeSpecProblem (without the backbone-kernel check when `opts.backboneKernel` is false: a spec whose network
 * runs elsewhere, as in an ONNX model). `fail` throws with the file's name.
 */
export function parseRuntimeSpec(
  raw: string,
  where: string,
  fail: (why: string) => never,
  opts: { backboneKernel?: boolean } = {},
): RuntimeSpec {
  let spec: RuntimeSpec;
  try {
    spec = JSON.parse(raw) as RuntimeSpec;
  } catch (e) {
    return fail(`${where} is not valid JSON (${(e as Error).message})`);
  }
  if (spec === null || typeof spec !== 'object' || spec.format !== RUNTIME_FORMAT || spec.version !== RUNTIME_VERSION) {
    fail(
      `${where} is format ${String(spec?.format)} version ${String(spec?.version)}; this ladet reads ${RUNTIME_FORMAT} version ${RUNTIME_VERSION}`,
    );
  }
  const problem = runtimeSpecProblem(spec, opts);
  if (problem !== null) fail(`${where}: ${problem}`);
  return spec;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isCount = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;
const isNumbers = (v: unknown, n?: number): boolean =>
  Array.isArray(v) &&
  (n === undefined || v.length === n) &&
  v.every((x) => typeof x === 'number' && Number.isFinite(x));

/**
 * The first field of a spec that is missing or of the wrong type (so a damaged file fails here, by name), or a
 * backbone type ladet/runtime has no kernel for; null when ladet/runtime can run it. `ladet export` checks with it.
 * opts.backboneKernel false skips the kernel check (the backbone runs elsewhere; only pre/post-processing here).
 */
export function runtimeSpecProblem(s: RuntimeSpec, opts: { backboneKernel?: boolean } = {}): string | null {
  const backbone: unknown = s.network?.backbone;
  if (!isObject(backbone)) return `network.backbone must be an object (got ${JSON.stringify(backbone)})`;
  if (opts.backboneKernel !== false) {
    const kernel = backboneKernel(backbone);
    if (typeof kernel === 'string') return `network.${kernel}`;
    const backboneProblem = kernel.problem(backbone);
    if (backboneProblem !== null) return `network.backbone.${backboneProblem}`;
  }
  const checks: [string, unknown, (v: unknown) => boolean, string][] = [
    ['network.neck.type', s.network?.neck?.type, (v) => v === undefined || v === 'fpn', "'fpn'"],
    [
      'network.neck.outChannels',
      s.network?.neck?.outChannels,
      (v) => isCount(v) && (v as number) > 0,
      'a positive whole number',
    ],
    ['network.neck.startLevel', s.network?.neck?.startLevel, isCount, 'a whole number'],
    [
      'network.neck.numOuts',
      s.network?.neck?.numOuts,
      (v) => isCount(v) && (v as number) > 0,
      'a positive whole number',
    ],
    [
      'network.neck.addExtraConvs',
      s.network?.neck?.addExtraConvs,
      (v) => ['on_input', 'on_lateral', 'on_output', false].includes(v as string | false),
      "'on_input', 'on_lateral', 'on_output' or false",
    ],
    [
      'network.neck.reluBeforeExtraConvs',
      s.network?.neck?.reluBeforeExtraConvs,
      (v) => typeof v === 'boolean',
      'true or false',
    ],
    [
      'network.head.numClasses',
      s.network?.head?.numClasses,
      (v) => isCount(v) && (v as number) > 0,
      'a positive whole number',
    ],
    [
      'network.head.featChannels',
      s.network?.head?.featChannels,
      (v) => v === undefined || (isCount(v) && (v as number) > 0),
      'a positive whole number',
    ],
    ['network.head.stackedConvs', s.network?.head?.stackedConvs, isCount, 'a whole number'],
    [
      'network.head.gnGroups',
      s.network?.head?.gnGroups,
      (v) => isCount(v) && (v as number) > 0,
      'a positive whole number',
    ],
    ['network.head.iouBranch', s.network?.head?.iouBranch, (v) => typeof v === 'boolean', 'true or false'],
    [
      'network.head.type',
      s.network?.head?.type,
      (v) => v === undefined || ['paa', 'cop', 'iop'].includes(v as string),
      "'paa', 'cop' or 'iop'",
    ],
    [
      'network.head.coeffKernelSize',
      s.network?.head?.coeffKernelSize,
      (v) => v === undefined || (isCount(v) && (v as number) % 2 === 1),
      'an odd whole number',
    ],
    ['anchors.strides', s.anchors?.strides, (v) => isNumbers(v) && (v as number[]).length > 0, 'a list of numbers'],
    ['anchors.ratios', s.anchors?.ratios, (v) => isNumbers(v) && (v as number[]).length > 0, 'a list of numbers'],
    [
      'classes',
      s.classes,
      (v) =>
        Array.isArray(v) &&
        v.length > 0 &&
        v.every((c) => isObject(c) && Number.isInteger(c.id) && typeof c.name === 'string'),
      'a list of {id, name}',
    ],
    ['input.testScale', s.input?.testScale, (v) => isNumbers(v, 2), 'two numbers'],
    ['input.sizeDivisor', s.input?.sizeDivisor, (v) => isCount(v) && (v as number) > 0, 'a positive whole number'],
    ['input.mean', s.input?.mean, (v) => isNumbers(v, 3), 'three numbers'],
    ['input.std', s.input?.std, (v) => isNumbers(v, 3), 'three numbers'],
    [
      'inference',
      s.inference,
      (v) =>
        isObject(v) &&
        ['nmsPre', 'scoreThr', 'nmsIou', 'maxPerImg'].every((k) => typeof v[k] === 'number') &&
        typeof v.scoreVoting === 'boolean',
      'nmsPre, scoreThr, nmsIou, maxPerImg (numbers) and scoreVoting',
    ],
  ];
  for (const [name, value, ok, want] of checks)
    if (!ok(value)) return `${name} must be ${want} (got ${JSON.stringify(value)})`;
  if (s.classes.length !== s.network.head.numClasses)
    return `classes lists ${s.classes.length} classes, network.head.numClasses is ${s.network.head.numClasses}`;
  return null;
}
