import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dispose, keep, memory, ones, tidy, zeros } from '../../src/torch/index.js';

test('memory() counts live tensors and their storage bytes; dispose releases them', () => {
  const before = memory();
  const a = zeros([256], { dtype: 'float32' });
  const v = a.view([16, 16]); // a view shares storage: one more handle, no more bytes
  const after = memory();
  assert.equal(after.numTensors - before.numTensors, 2);
  assert.equal(after.numBytes - before.numBytes, 1024);
  v.dispose();
  a.dispose();
  assert.deepEqual(memory(), before);
});

test('tidy disposes intermediates, keeps returned tensors and kept ones, and cleans up on throw', () => {
  const before = memory().numTensors;
  let kept = zeros([1]);
  const out = tidy(() => {
    const x = ones([4]);
    const y = x.mul(2);
    kept = keep(y.add(1));
    return { sum: y.sum(), list: [x.sub(1)] };
  });
  assert.equal(memory().numTensors, before + 1 /* kept */ + 2 /* returned */ + 1 /* initial zeros */);
  assert.equal(out.sum.item(), 8);
  assert.deepEqual(kept.toArray(), [3, 3, 3, 3]);
  assert.throws(
    () =>
      tidy(() => {
        ones([3]);
        throw new Error('inside');
      }),
    /inside/,
  );
  assert.equal(memory().numTensors, before + 4);
  dispose([out, kept]);
  assert.equal(memory().numTensors, before + 1);
});

test('nested tidy moves returned tensors to the enclosing scope', () => {
  const before = memory().numTensors;
  const r = tidy(() => {
    const inner = tidy(() => ones([2]).mul(3));
    assert.equal(memory().numTensors, before + 1);
    return inner.add(1);
  });
  assert.equal(memory().numTensors, before + 1);
  assert.deepEqual(r.toArray(), [4, 4]);
  r.dispose();
  assert.throws(() => tidy(() => Promise.resolve(1)), /must be synchronous/);
});

test('Symbol.dispose frees a tensor at the end of a using-style block', () => {
  const before = memory().numTensors;
  {
    const t = ones([8]);
    t[Symbol.dispose]();
    assert.ok(t.isDisposed);
  }
  assert.equal(memory().numTensors, before);
});
