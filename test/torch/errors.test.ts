import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conv2d, ones, tensor, zeros, defOp } from '../../src/torch/index.js';

test('libtorch errors become catchable JS Errors carrying libtorch message', () => {
  assert.throws(
    () => zeros([2, 3]).matmul(zeros([2, 3])),
    (e: Error) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, /mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)/);
      return true;
    },
  );
  assert.throws(
    () => conv2d(zeros([1, 3, 8, 8]), zeros([4, 2, 3, 3])),
    /expected input\[1, 3, 8, 8\] to have 2 channels/,
  );
  assert.throws(
    () => conv2d(zeros([1, 1, 2, 2]), zeros([1, 1, 3, 3])),
    /Kernel size can't be greater than actual input size/,
  );
  // bad dtype: float index into index_select
  assert.throws(
    () => ones([3]).indexSelect(0, zeros([1])),
    /index_select\(\): Expected dtype int32 or int64 for index/,
  );
  assert.throws(() => ones([2]).add(ones([3])), /must match the size of tensor b/);
  // the process survives and keeps working
  assert.deepEqual(ones([2]).add(1).toArray(), [2, 2]);
});

test('binding-level misuse is a TypeError, not a crash', () => {
  const raw = defOp('aten::add', 'Tensor');
  assert.throws(() => raw({} as never, ones([1])), /aten::add.Tensor 'self': expected a tensor/);
  assert.throws(() => raw(ones([1])), /aten::add.Tensor: missing argument 'other'/);
  assert.throws(() => ones([2]).sum(0.5 as number), /expects an integer/);
  assert.throws(() => defOp('aten::no_such_op')(), /Could not find schema for aten::no_such_op/);
  const t = tensor([1]);
  t.dispose();
  assert.throws(() => t.add(1), /tensor was disposed/);
  t.dispose(); // idempotent
});
