// ONNX writing: a small graph builder (nodes, initializers, typed inputs and outputs with named dynamic axes, doc
// strings, metadata) and the ModelProto encoder, with the standard schema (onnx.proto, onnx_proto.ts) on protobufjs
// — the protobuf library onnxruntime-web itself is built on. Written atomically (atomic.ts). Nothing here knows
// about detectors: src/engine/export_onnx.ts builds ladet's graphs with it.
// References: the ONNX IR spec (github.com/onnx/onnx/blob/main/docs/IR.md: ModelProto, GraphProto, TensorProto with
// little-endian raw_data, dim_param for symbolic axes) and the operator spec (docs/Operators.md) the callers cite.
// protobufjs's light build: reads JSON descriptors, no .proto parser
import protobuf from 'protobufjs/light.js';
import { writeFileAtomic } from './atomic.js';
import { ONNX_PROTO } from './onnx_proto.js';

/** The IR version of onnx.proto as vendored (ONNX 1.12): every reader of opset 17 reads it. */
export const ONNX_IR_VERSION = 8;

/** Element types ladet writes (TensorProto.DataType). */
export type OnnxElemType = 'float32' | 'int64' | 'bool';
const DATA_TYPE: Record<OnnxElemType, number> = { float32: 1, int64: 7, bool: 9 };

/** A dimension: a fixed size, or a named symbolic (dynamic) axis (dim_param). */
export type OnnxDim = number | string;

/** One attribute value; the kind is explicit, as ONNX types attributes (an INT 1 is not a FLOAT 1.0). */
export type OnnxAttribute =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'float'; value: number }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'string'; value: string };

export const attr = {
  int: (value: number): OnnxAttribute => ({ kind: 'int', value }),
  ints: (value: readonly number[]): OnnxAttribute => ({ kind: 'ints', value }),
  float: (value: number): OnnxAttribute => ({ kind: 'float', value }),
  floats: (value: readonly number[]): OnnxAttribute => ({ kind: 'floats', value }),
  string: (value: string): OnnxAttribute => ({ kind: 'string', value }),
};

// AttributeProto.AttributeType
const ATTR_TYPE = { float: 1, int: 2, string: 3, floats: 6, ints: 7 } as const;

export interface OnnxValueInfo {
  name: string;
  type: OnnxElemType;
  shape: readonly OnnxDim[];
  doc?: string;
}

export interface OnnxNode {
  op: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes: Readonly<Record<string, OnnxAttribute>>;
}

export interface OnnxInitializer {
  name: string;
  dims: readonly number[];
  data: Float32Array | BigInt64Array;
}

/** A whole model: one graph in the default operator domain. */
export interface OnnxModel {
  opset: number;
  producerName: string;
  producerVersion: string;
  doc: string;
  graphName: string;
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
  nodes: readonly OnnxNode[];
  initializers: readonly OnnxInitializer[];
  /** metadata_props, in order */
  metadata: readonly (readonly [string, string])[];
}

/**
 * Builds a graph node by node. Values are named by the builder (`<op>_<n>`, or `<hint>_<n>`) unless a name is
 * given, so the caller never collides; initializers are constants (weights, shapes, thresholds).
 */
export class OnnxGraph {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  readonly inputs: OnnxValueInfo[] = [];
  readonly outputs: OnnxValueInfo[] = [];
  private readonly used = new Set<string>();
  private readonly counts = new Map<string, number>();

  /** A fresh value name from `hint`. */
  fresh(hint: string): string {
    const base = hint.replace(/[^\w.]/g, '_');
    let n = this.counts.get(base) ?? 0;
    let name: string;
    do name = `${base}_${n++}`;
    while (this.used.has(name));
    this.counts.set(base, n);
    this.used.add(name);
    return name;
  }

  private claim(name: string): string {
    if (this.used.has(name)) throw new Error(`OnnxGraph: the name '${name}' is taken`);
    this.used.add(name);
    return name;
  }

  input(info: OnnxValueInfo): string {
    this.inputs.push(info);
    return this.claim(info.name);
  }

  /** Declares `value` (already produced by a node) a graph output under its own name. */
  output(info: OnnxValueInfo): void {
    if (!this.used.has(info.name)) throw new Error(`OnnxGraph: output '${info.name}' is not a value of the graph`);
    this.outputs.push(info);
  }

  /** A float32 constant of shape dims (row-major data). */
  f32(data: ArrayLike<number>, dims: readonly number[], hint = 'const'): string {
    return this.constant(Float32Array.from(data), dims, hint);
  }

  /** An int64 constant of shape dims. */
  i64(data: readonly number[], dims: readonly number[] = [data.length], hint = 'const'): string {
    return this.constant(
      BigInt64Array.from(data, (v) => BigInt(v)),
      dims,
      hint,
    );
  }

  /** A constant (an initializer) holding `data` as it is (not copied: keep it unchanged until encoded). */
  constant(data: Float32Array | BigInt64Array, dims: readonly number[], hint = 'const'): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`OnnxGraph: ${data.length} values for shape [${dims.join(', ')}]`);
    const name = this.fresh(hint);
    this.initializers.push({ name, dims: [...dims], data });
    return name;
  }

  /**
   * Adds a node; returns its output names (`outputs` of them, or the names given). Optional inputs left out in the
   * middle are passed as ''.
   */
  node(
    op: string,
    inputs: readonly string[],
    attributes: Readonly<Record<string, OnnxAttribute>> = {},
    outputs: number | readonly string[] = 1,
  ): string[] {
    for (const i of inputs)
      if (i !== '' && !this.used.has(i)) throw new Error(`OnnxGraph: ${op} reads '${i}', which nothing produced`);
    const outs =
      typeof outputs === 'number'
        ? Array.from({ length: outputs }, () => this.fresh(op.toLowerCase()))
        : outputs.map((o) => this.claim(o));
    this.nodes.push({ op, name: this.fresh(`n_${op}`), inputs: [...inputs], outputs: outs, attributes });
    return outs;
  }

  /** A node with one output. */
  op(op: string, inputs: readonly string[], attributes: Readonly<Record<string, OnnxAttribute>> = {}): string {
    return this.node(op, inputs, attributes, 1)[0] as string;
  }

  /** The graph as a model with these top-level fields. */
  model(o: Omit<OnnxModel, 'inputs' | 'outputs' | 'nodes' | 'initializers'>): OnnxModel {
    return { ...o, inputs: this.inputs, outputs: this.outputs, nodes: this.nodes, initializers: this.initializers };
  }
}

let modelType: protobuf.Type | null = null;

/** onnx.ModelProto, from the vendored schema (loaded once). */
export function onnxModelType(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(ONNX_PROTO as protobuf.INamespace).lookupType('onnx.ModelProto');
  return modelType;
}

const utf8 = new TextEncoder();

/** Little-endian bytes of a typed array (TensorProto.raw_data): the array's own bytes on little-endian hosts. */
function rawData(a: Float32Array | BigInt64Array): Uint8Array {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (new Uint8Array(Uint16Array.of(1).buffer)[0] === 1) return bytes;
  const out = new Uint8Array(bytes.length);
  const w = a.BYTES_PER_ELEMENT;
  for (let i = 0; i < bytes.length; i += w) for (let k = 0; k < w; k++) out[i + k] = bytes[i + w - 1 - k] as number;
  return out;
}

function valueInfo(v: OnnxValueInfo): Record<string, unknown> {
  return {
    name: v.name,
    ...(v.doc === undefined ? {} : { doc_string: v.doc }),
    type: {
      tensor_type: {
        elem_type: DATA_TYPE[v.type],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

function attribute(name: string, a: OnnxAttribute): Record<string, unknown> {
  const base = { name, type: ATTR_TYPE[a.kind] };
  switch (a.kind) {
    case 'int':
      return { ...base, i: a.value };
    case 'ints':
      return { ...base, ints: [...a.value] };
    case 'float':
      return { ...base, f: a.value };
    case 'floats':
      return { ...base, floats: [...a.value] };
    case 'string':
      return { ...base, s: utf8.encode(a.value) };
  }
}

/** The model's ModelProto bytes. */
export function encodeOnnxModel(m: OnnxModel): Uint8Array {
  const message = {
    ir_version: ONNX_IR_VERSION,
    opset_import: [{ domain: '', version: m.opset }],
    producer_name: m.producerName,
    producer_version: m.producerVersion,
    doc_string: m.doc,
    graph: {
      name: m.graphName,
      node: m.nodes.map((n) => ({
        name: n.name,
        op_type: n.op,
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attributes).map(([k, a]) => attribute(k, a)),
      })),
      initializer: m.initializers.map((t) => ({
        name: t.name,
        dims: [...t.dims],
        data_type: t.data instanceof Float32Array ? DATA_TYPE.float32 : DATA_TYPE.int64,
        raw_data: rawData(t.data),
      })),
      input: m.inputs.map(valueInfo),
      output: m.outputs.map(valueInfo),
    },
    metadata_props: m.metadata.map(([key, value]) => ({ key, value })),
  };
  const type = onnxModelType();
  const problem = type.verify(message);
  if (problem !== null) throw new Error(`ONNX model: ${problem}`);
  return type.encode(type.fromObject(message)).finish();
}

/** Encodes `m` and writes it to `path` atomically; returns the size in bytes. */
export function writeOnnxModel(path: string, m: OnnxModel): number {
  const bytes = encodeOnnxModel(m);
  writeFileAtomic(path, bytes);
  return bytes.length;
}

/**
 * A ModelProto's bytes as a plain object with the standard's field names (int64 as numbers, bytes as Uint8Array):
 * for tests and tools that inspect a model. Throws on bytes that are not protobuf of this schema.
 */
export function decodeOnnxModel(bytes: Uint8Array): Record<string, unknown> {
  const type = onnxModelType();
  return type.toObject(type.decode(bytes), { longs: Number, enums: Number, bytes: Uint8Array, defaults: false });
}
