// The RuntimeSpec that `ladet export format=onnx` stores in an ONNX model's metadata_props (key
// `ladet.runtime_spec`), read from the .onnx bytes alone, so a browser or any JS runtime can prepare the input and
// post-process onnxruntime's outputs (prepareImage, detectionsFromOutputs) from that one file.
// Why the few protobuf fields are read by hand: onnxruntime's JS API (web and node) exposes no model metadata, and
// protobufjs (which ladet writes ONNX with) is CommonJS, which a browser cannot import without a bundler, while
// ladet/runtime must load as plain ES modules. The reader walks the top level of the ModelProto only: each field is
// skipped by its wire type (the graph's megabytes by its length), and field 14, metadata_props, is decoded as
// StringStringEntryProto {key = 1, value = 2}. test/runtime/onnx_spec.test.ts checks it against protobufjs's encoding.
import { nonFiniteMessage, parseRuntimeSpec, type RuntimeSpec } from './model_file.js';

/** The metadata_props key that holds the spec's JSON. */
export const ONNX_SPEC_KEY = 'ladet.runtime_spec';

const MODEL_GRAPH = 7;
const MODEL_METADATA_PROPS = 14;
const GRAPH_INITIALIZER = 5;
// TensorProto: data_type (1 = FLOAT), float_data (packed or not), name, raw_data (little-endian)
const TENSOR_DATA_TYPE = 2;
const TENSOR_FLOAT_DATA = 4;
const TENSOR_NAME = 8;
const TENSOR_RAW_DATA = 9;
const FLOAT = 1;

/** A protobuf message's bytes, read field by field; throws a plain 'truncated' / 'bad' message on malformed input. */
class Fields {
  private pos: number;
  constructor(
    private readonly b: Uint8Array,
    start = 0,
    private readonly end = b.length,
  ) {
    this.pos = start;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  /** An unsigned varint (up to 2^53, exact in a number). */
  varint(): number {
    let v = 0;
    for (let shift = 1, i = 0; i < 10; i++, shift *= 128) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const byte = this.b[this.pos++] as number;
      v += (byte & 0x7f) * shift;
      if (byte < 0x80) return v;
    }
    throw new Error('varint longer than 10 bytes');
  }

  /** The next field's number and wire type, then its payload: a varint's value, or a length-delimited field's range. */
  next(): { field: number; wire: number; start: number; end: number } {
    const tag = this.varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) throw new Error('field number 0');
    const start = this.pos;
    switch (wire) {
      case 0:
        this.varint();
        break;
      case 1:
        this.pos += 8;
        break;
      case 2: {
        const len = this.varint();
        this.pos += len;
        if (this.pos > this.end) throw new Error(`field ${field} runs past the end (${len} bytes)`);
        return { field, wire, start: this.pos - len, end: this.pos };
      }
      case 5:
        this.pos += 4;
        break;
      default:
        throw new Error(`field ${field} has wire type ${wire} (groups are not used by ONNX)`);
    }
    if (this.pos > this.end) throw new Error(`field ${field} runs past the end`);
    return { field, wire, start, end: this.pos };
  }
}

/**
 * An ONNX model's metadata_props as a Map (later entries of a repeated key win, as protobuf maps do). Throws, naming
 * `name`, when the bytes are not a ModelProto (malformed protobuf, or no graph).
 */
export function onnxMetadata(bytes: Uint8Array, name = 'ONNX model'): Map<string, string> {
  const props = new Map<string, string>();
  const text = new TextDecoder('utf-8', { fatal: true });
  let graph = false;
  try {
    const model = new Fields(bytes);
    while (!model.done()) {
      const f = model.next();
      if (f.field === MODEL_GRAPH && f.wire === 2) graph = true;
      if (f.field !== MODEL_METADATA_PROPS || f.wire !== 2) continue;
      const entry = new Fields(bytes, f.start, f.end);
      let key = '';
      let value = '';
      while (!entry.done()) {
        const e = entry.next();
        if (e.wire !== 2) continue;
        if (e.field === 1) key = text.decode(bytes.subarray(e.start, e.end));
        else if (e.field === 2) value = text.decode(bytes.subarray(e.start, e.end));
      }
      props.set(key, value);
    }
  } catch (e) {
    throw new Error(`${name}: not an ONNX model (${(e as Error).message})`, { cause: e });
  }
  if (!graph) throw new Error(`${name}: not an ONNX model (no graph in it)`);
  return props;
}

/**
 * The RuntimeSpec of a model `ladet export format=onnx` wrote, checked as a runtime model file's is (except that
 * ladet/runtime need not have a kernel for its backbone: onnxruntime runs the network). Errors name `name`.
 */
export function onnxRuntimeSpec(bytes: Uint8Array | ArrayBuffer, name = 'ONNX model'): RuntimeSpec {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const raw = onnxMetadata(u8, name).get(ONNX_SPEC_KEY);
  const fail = (why: string): never => {
    throw new Error(`${name}: ${why}`);
  };
  if (raw === undefined)
    return fail(
      `no ${ONNX_SPEC_KEY} in its metadata_props: not written by ladet (make one with \`ladet export format=onnx\`)`,
    );
  const spec = parseRuntimeSpec(raw, `metadata_props ${ONNX_SPEC_KEY}`, fail, { backboneKernel: false });
  // as a checkpoint's or a runtime model's weights: NaN / ±Infinity would only show as NaN or no detections
  const bad = nonFiniteInitializer(u8);
  if (bad) fail(nonFiniteMessage(`initializer '${bad.name}'`, bad.count, bad.of, bad.first, bad.value));
  return spec;
}

/** The first float initializer of the model's graph holding NaN or ±Infinity, or null. */
function nonFiniteInitializer(
  b: Uint8Array,
): { name: string; count: number; of: number; first: number; value: number } | null {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const varintAt = (f: { start: number; end: number }): number => new Fields(b, f.start, f.end).varint();
  const model = new Fields(b);
  while (!model.done()) {
    const g = model.next();
    if (g.field !== MODEL_GRAPH || g.wire !== 2) continue;
    const graph = new Fields(b, g.start, g.end);
    while (!graph.done()) {
      const init = graph.next();
      if (init.field !== GRAPH_INITIALIZER || init.wire !== 2) continue;
      const t = new Fields(b, init.start, init.end);
      let type = 0;
      let name = '';
      // the float values' byte ranges: raw_data, or float_data packed (one range) or not (one per value)
      const ranges: { start: number; end: number }[] = [];
      while (!t.done()) {
        const f = t.next();
        if (f.field === TENSOR_DATA_TYPE && f.wire === 0) type = varintAt(f);
        else if (f.field === TENSOR_NAME && f.wire === 2) name = new TextDecoder().decode(b.subarray(f.start, f.end));
        else if ((f.field === TENSOR_RAW_DATA && f.wire === 2) || (f.field === TENSOR_FLOAT_DATA && f.wire === 2))
          ranges.push(f);
        else if (f.field === TENSOR_FLOAT_DATA && f.wire === 5) ranges.push({ start: f.end - 4, end: f.end });
      }
      if (type !== FLOAT) continue;
      let count = 0;
      let of = 0;
      let first = -1;
      let value = 0;
      for (const r of ranges) {
        for (let p = r.start; p + 4 <= r.end; p += 4, of++) {
          const x = view.getFloat32(p, true);
          if (Number.isFinite(x)) continue;
          if (count++ === 0) [first, value] = [of, x];
        }
      }
      if (count) return { name, count, of, first, value };
    }
  }
  return null;
}
