// The ONNX writer (src/io/onnx.ts): the ModelProto it encodes reads back field for field, passes Debian's ONNX
// checker, and runs in onnxruntime-node with the numbers the graph means.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  OnnxGraph,
  attr,
  decodeOnnxModel,
  encodeOnnxModel,
  writeOnnxModel,
  type OnnxModel,
} from '../../src/io/onnx.js';
import { checkModels, onnxCheckerSkip } from '../onnx/helpers.js';

/** y = Relu(Conv(x, w, b)) · 2 over a dynamic batch and size, with an int64 constant and metadata. */
function tinyModel(): OnnxModel {
  const g = new OnnxGraph();
  const x = g.input({ name: 'x', type: 'float32', shape: ['N', 1, 'H', 'W'], doc: 'the input' });
  // a 3x3 kernel that sums the neighbourhood, bias -1
  const w = g.f32(new Float32Array(9).fill(1), [1, 1, 3, 3], 'w');
  const b = g.f32([-1], [1], 'b');
  const conv = g.op('Conv', [x, w, b], { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) });
  const y = g.op('Mul', [g.op('Relu', [conv]), g.f32([2], [])]);
  g.node('Identity', [y], {}, ['y']);
  g.output({ name: 'y', type: 'float32', shape: ['N', 1, 'H', 'W'], doc: 'relu(sum of 3x3 - 1) * 2' });
  const shape = g.op('Shape', [x], { start: attr.int(2) });
  g.node('Add', [shape, g.i64([10, 20])], {}, ['hw']);
  g.output({ name: 'hw', type: 'int64', shape: [2] });
  return g.model({
    opset: 17,
    producerName: 'ladet',
    producerVersion: 'test',
    doc: 'a tiny graph',
    graphName: 'tiny',
    metadata: [
      ['a', 'first'],
      ['ladet.classes', '[{"id":1,"name":"é"}]'],
    ],
  });
}

test('an encoded model reads back: header fields, nodes, attributes, initializers as little-endian raw data, dims, metadata', () => {
  const m = decodeOnnxModel(encodeOnnxModel(tinyModel())) as {
    ir_version: number;
    opset_import: { domain?: string; version: number }[];
    producer_name: string;
    doc_string: string;
    graph: {
      name: string;
      node: { op_type: string; input: string[]; output: string[]; attribute?: { name: string; type: number }[] }[];
      initializer: { name: string; dims: number[]; data_type: number; raw_data: Uint8Array }[];
      input: { name: string; doc_string: string; type: { tensor_type: { shape: { dim: object[] } } } }[];
      output: { name: string }[];
    };
    metadata_props: { key: string; value: string }[];
  };
  assert.equal(m.ir_version, 8);
  assert.deepEqual(m.opset_import, [{ domain: '', version: 17 }]);
  assert.equal(m.producer_name, 'ladet');
  assert.equal(m.doc_string, 'a tiny graph');
  assert.equal(m.graph.name, 'tiny');
  assert.deepEqual(
    m.graph.node.map((n) => n.op_type),
    ['Conv', 'Relu', 'Mul', 'Identity', 'Shape', 'Add'],
  );
  const conv = m.graph.node[0]!;
  assert.deepEqual(conv.input, ['x', 'w_0', 'b_0']);
  assert.deepEqual(
    conv.attribute?.map((a) => [a.name, a.type]),
    [
      ['kernel_shape', 7],
      ['pads', 7],
    ],
  );
  const w = m.graph.initializer.find((t) => t.name === 'w_0')!;
  assert.deepEqual([w.dims, w.data_type], [[1, 1, 3, 3], 1]);
  assert.deepEqual([...new Float32Array(new Uint8Array(w.raw_data).buffer)], new Array(9).fill(1));
  const ints = m.graph.initializer.find((t) => t.data_type === 7)!;
  assert.deepEqual([...new BigInt64Array(new Uint8Array(ints.raw_data).buffer)], [10n, 20n]);
  assert.deepEqual(m.graph.input[0]!.type.tensor_type.shape.dim, [
    { dim_param: 'N' },
    { dim_value: 1 },
    { dim_param: 'H' },
    { dim_param: 'W' },
  ]);
  assert.equal(m.graph.input[0]!.doc_string, 'the input');
  assert.deepEqual(
    m.graph.output.map((o) => o.name),
    ['y', 'hw'],
  );
  assert.deepEqual(m.metadata_props, [
    { key: 'a', value: 'first' },
    { key: 'ladet.classes', value: '[{"id":1,"name":"é"}]' },
  ]);
});

test('the ONNX checker (full_check) accepts it', { skip: onnxCheckerSkip() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-onnx-io-'));
  try {
    const file = join(dir, 'tiny.onnx');
    writeOnnxModel(file, tinyModel());
    assert.deepEqual(checkModels([file]), [17]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('onnxruntime-node runs it at any batch and size; writes are atomic (no temp file left)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-onnx-io-'));
  try {
    const file = join(dir, 'tiny.onnx');
    const bytes = writeOnnxModel(file, tinyModel());
    assert.equal(readFileSync(file).length, bytes);
    assert.deepEqual(readdirSync(dir), ['tiny.onnx']);
    const session = await ort.InferenceSession.create(file);
    const x = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => (i % 5) - 1);
    const r = await session.run({ x: new ort.Tensor('float32', x, [2, 1, 3, 4]) });
    assert.deepEqual(r.y!.dims, [2, 1, 3, 4]);
    assert.deepEqual([...(r.hw!.data as BigInt64Array)], [13n, 24n]);
    // the reference: the 3x3 neighbourhood sum (zero padded) - 1, relu, times 2
    const y = r.y!.data as Float32Array;
    for (let n = 0; n < 2; n++)
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 4; j++) {
          let s = -1;
          for (let di = -1; di <= 1; di++)
            for (let dj = -1; dj <= 1; dj++)
              if (i + di >= 0 && i + di < 3 && j + dj >= 0 && j + dj < 4) s += x[n * 12 + (i + di) * 4 + j + dj]!;
          assert.equal(y[n * 12 + i * 4 + j], Math.max(0, s) * 2, `(${n}, ${i}, ${j})`);
        }
    await session.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the builder refuses a value nothing produced, a taken name, an output that is no value, a wrong constant size', () => {
  const g = new OnnxGraph();
  const x = g.input({ name: 'x', type: 'float32', shape: [1] });
  assert.throws(() => g.op('Relu', ['nope']), /OnnxGraph: Relu reads 'nope', which nothing produced/);
  assert.throws(() => g.node('Relu', [x], {}, ['x']), /OnnxGraph: the name 'x' is taken/);
  assert.throws(() => g.output({ name: 'y', type: 'float32', shape: [1] }), /output 'y' is not a value of the graph/);
  assert.throws(() => g.f32([1, 2, 3], [2, 2]), /OnnxGraph: 3 values for shape \[2, 2\]/);
  // fresh names never collide with given ones
  g.node('Relu', [x], {}, ['relu_0']);
  assert.equal(g.op('Relu', [x]), 'relu_1');
});
