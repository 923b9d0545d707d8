// ladet/runtime's ONNX metadata reader (src/runtime/onnx_spec.ts) against protobufjs's encoding of a ModelProto:
// the metadata_props come back whatever surrounds them (a large graph, other wire types, fields it does not know;
// and from a model ladet's ONNX writer encodes with the full onnx.proto schema), and bytes that are not an ONNX
// model, or an ONNX model ladet did not write, fail with an error naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { onnxMetadata, onnxRuntimeSpec, ONNX_SPEC_KEY, type RuntimeSpec } from '../../src/runtime/index.js';
import { OnnxGraph, encodeOnnxModel } from '../../src/io/onnx.js';

// The slice of onnx.proto the reader walks past or reads (field numbers as in onnx.proto3), plus two fields of the
// fixed-width wire types ONNX's ModelProto does not use, to check that they are skipped.
const root = protobuf.Root.fromJSON({
  nested: {
    StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
    OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
    TensorProto: {
      fields: {
        data_type: { type: 'int32', id: 2 },
        float_data: { rule: 'repeated', type: 'float', id: 4, options: { packed: false } },
        name: { type: 'string', id: 8 },
        raw_data: { type: 'bytes', id: 9 },
      },
    },
    GraphProto: {
      fields: { name: { type: 'string', id: 2 }, initializer: { rule: 'repeated', type: 'TensorProto', id: 5 } },
    },
    ModelProto: {
      fields: {
        ir_version: { type: 'int64', id: 1 },
        producer_name: { type: 'string', id: 2 },
        graph: { type: 'GraphProto', id: 7 },
        opset_import: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
        metadata_props: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
        unknown_double: { type: 'double', id: 99 },
        unknown_fixed32: { type: 'fixed32', id: 100 },
      },
    },
  },
});
const ModelProto = root.lookupType('ModelProto');

const SPEC: RuntimeSpec = {
  format: 'ladet-runtime',
  version: 1,
  network: {
    backbone: { type: 'no-runtime-kernel', depth: 18 },
    neck: {
      type: 'fpn',
      outChannels: 64,
      startLevel: 1,
      numOuts: 4,
      addExtraConvs: 'on_output',
      reluBeforeExtraConvs: false,
    },
    head: { type: 'paa', numClasses: 2, featChannels: 64, stackedConvs: 2, gnGroups: 16, iouBranch: true },
  } as unknown as RuntimeSpec['network'],
  anchors: { strides: [8, 16, 32, 64], ratios: [1], octaveBaseScale: 8, scalesPerOctave: 1 },
  classes: [
    { id: 1, name: 'T-shirt/top ✓' },
    { id: 2, name: 'Bag' },
  ],
  input: { testScale: [160, 160], sizeDivisor: 32, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] },
  inference: { nmsPre: 1000, scoreThr: 0.05, nmsIou: 0.6, maxPerImg: 100, scoreVoting: true },
};

function model(
  props: { key: string; value: string }[],
  opts: { graph?: boolean; initializer?: Record<string, unknown> } = {},
): Uint8Array {
  return ModelProto.encode(
    ModelProto.fromObject({
      ir_version: 8,
      producer_name: 'ladet',
      unknown_double: 0.5,
      ...(opts.graph === false
        ? {}
        : {
            graph: {
              name: 'g',
              initializer: [
                { name: 'w', raw_data: new Uint8Array(300_000).fill(0x8f) },
                ...(opts.initializer ? [opts.initializer] : []),
              ],
            },
          }),
      opset_import: [{ domain: '', version: 17 }],
      metadata_props: props,
      unknown_fixed32: 7,
    }),
  ).finish();
}

test('onnxMetadata reads every metadata_props entry past the graph and the other fields', () => {
  const props = [
    { key: 'a', value: '1' },
    { key: ONNX_SPEC_KEY, value: JSON.stringify(SPEC) },
    { key: 'empty', value: '' },
  ];
  const got = onnxMetadata(model(props));
  assert.deepEqual(
    [...got.entries()],
    [
      ['a', '1'],
      [ONNX_SPEC_KEY, JSON.stringify(SPEC)],
      ['empty', ''],
    ],
  );
  assert.deepEqual([...onnxMetadata(model([])).entries()], []);
});

test("onnxMetadata reads the metadata_props of a model ladet's ONNX writer encodes (the full onnx.proto)", () => {
  const g = new OnnxGraph();
  const x = g.input({ name: 'images', type: 'float32', shape: ['N', 3, 'H', 'W'] });
  g.node('Conv', [x, g.f32(new Float32Array(2 * 3 * 9).fill(0.5), [2, 3, 3, 3])], {}, ['cls_0']);
  g.output({ name: 'cls_0', type: 'float32', shape: ['N', 2, 'H', 'W'] });
  const metadata: [string, string][] = [
    [ONNX_SPEC_KEY, JSON.stringify(SPEC)],
    ['ladet.version', '0.1.0'],
  ];
  const bytes = encodeOnnxModel(
    g.model({ opset: 17, producerName: 'ladet', producerVersion: '0.1.0', doc: 'd', graphName: 'g', metadata }),
  );
  assert.deepEqual([...onnxMetadata(bytes).entries()], metadata);
  assert.deepEqual(onnxRuntimeSpec(bytes), SPEC);
});

test('onnxRuntimeSpec returns the spec (no runtime kernel needed for the backbone), from bytes or an ArrayBuffer', () => {
  const bytes = model([{ key: ONNX_SPEC_KEY, value: JSON.stringify(SPEC) }]);
  assert.deepEqual(onnxRuntimeSpec(bytes), SPEC);
  const copy = bytes.slice();
  assert.deepEqual(onnxRuntimeSpec(copy.buffer), SPEC);
});

test('onnxRuntimeSpec says what is wrong, naming the file', () => {
  assert.throws(
    () => onnxRuntimeSpec(model([]), 'm.onnx'),
    /^Error: m\.onnx: no ladet\.runtime_spec in its metadata_props/,
  );
  assert.throws(
    () => onnxRuntimeSpec(model([{ key: ONNX_SPEC_KEY, value: '{' }]), 'm.onnx'),
    /^Error: m\.onnx: metadata_props ladet\.runtime_spec is not valid JSON/,
  );
  const noClasses = { ...SPEC, classes: [] };
  assert.throws(
    () => onnxRuntimeSpec(model([{ key: ONNX_SPEC_KEY, value: JSON.stringify(noClasses) }]), 'm.onnx'),
    /^Error: m\.onnx: metadata_props ladet\.runtime_spec: classes must be a list of \{id, name\}/,
  );
  assert.throws(() => onnxRuntimeSpec(model([], { graph: false }), 'm.onnx'), /m\.onnx: not an ONNX model \(no graph/);
  // a file of another kind: a PNG's first bytes, a safetensors header, a truncated model
  const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  assert.throws(() => onnxRuntimeSpec(png, 'photo.png'), /^Error: photo\.png: not an ONNX model/);
  const header = new TextEncoder().encode('{"__metadata__":{"ladet_runtime":"{}"}}');
  const safetensors = new Uint8Array(8 + header.length);
  new DataView(safetensors.buffer).setBigUint64(0, BigInt(header.length), true);
  safetensors.set(header, 8);
  assert.throws(
    () => onnxRuntimeSpec(safetensors, 'model.safetensors'),
    /^Error: model\.safetensors: not an ONNX model/,
  );
  const whole = model([{ key: ONNX_SPEC_KEY, value: JSON.stringify(SPEC) }]);
  assert.throws(
    () => onnxRuntimeSpec(whole.subarray(0, whole.length - 10), 'cut.onnx'),
    /cut\.onnx: not an ONNX model/,
  );
});

test('onnxRuntimeSpec refuses NaN or ±Infinity in a float initializer, naming it (raw_data and float_data alike)', () => {
  const g = new OnnxGraph();
  const x = g.input({ name: 'images', type: 'float32', shape: ['N', 3, 'H', 'W'] });
  const w = new Float32Array(2 * 3 * 9).fill(0.5);
  w[4] = NaN;
  w[7] = Infinity;
  g.node('Conv', [x, g.f32(w, [2, 3, 3, 3])], {}, ['cls_0']);
  g.output({ name: 'cls_0', type: 'float32', shape: ['N', 2, 'H', 'W'] });
  const metadata: [string, string][] = [[ONNX_SPEC_KEY, JSON.stringify(SPEC)]];
  const bytes = encodeOnnxModel(
    g.model({ opset: 17, producerName: 'ladet', producerVersion: '0.1.0', doc: 'd', graphName: 'g', metadata }),
  );
  assert.throws(() => onnxRuntimeSpec(bytes, 'm.onnx'), {
    message:
      /^m\.onnx: initializer '[^']+' holds 2 non-finite values of 54 \(element 4 is NaN\): a corrupt file or a diverged run$/,
  });
  const spec = [{ key: ONNX_SPEC_KEY, value: JSON.stringify(SPEC) }];
  const floats = { name: 'b', data_type: 1, float_data: [1, 2, -Infinity] };
  assert.throws(() => onnxRuntimeSpec(model(spec, { initializer: floats }), 'f.onnx'), {
    message:
      "f.onnx: initializer 'b' holds 1 non-finite value of 3 (element 2 is -Infinity): a corrupt file or a diverged run",
  });
  // finite floats, and NaN bytes in a tensor that is not float (int64 here), pass
  assert.deepEqual(onnxRuntimeSpec(model(spec, { initializer: { ...floats, float_data: [1, 2, 3] } })), SPEC);
  const nanBytes = new Uint8Array(8).fill(0xff);
  assert.deepEqual(
    onnxRuntimeSpec(model(spec, { initializer: { name: 'i', data_type: 7, raw_data: nanBytes } })),
    SPEC,
  );
});
