import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findDuplicateKey } from '../../src/io/json_keys.js';

test('no duplicates in nested objects, arrays and tricky strings', () => {
  assert.equal(findDuplicateKey('{}'), null);
  assert.equal(findDuplicateKey('{"a":{"a":1},"b":[{"a":1},{"a":2}],"c":"\\"a\\":1,"}'), null);
  // The same key in sibling objects of an array is fine.
  assert.equal(findDuplicateKey('[{"x":1},{"x":2}]'), null);
  // A string value equal to an earlier key is not a key.
  assert.equal(findDuplicateKey('{"a":"a","b":"a"}'), null);
});

test('top-level duplicate', () => {
  assert.deepEqual(findDuplicateKey('{"w":{"dtype":"F32"}, "v":1, "w":2}'), { path: [], key: 'w' });
});

test('duplicate inside a nested object is reported with its path', () => {
  assert.deepEqual(findDuplicateKey('{"w":{"dtype":"F32","shape":[1],"dtype":"F64"}}'), { path: ['w'], key: 'dtype' });
  assert.deepEqual(findDuplicateKey('{"a":[{"k":{"z":1,"z":2}}]}'), { path: ['a', '[]', 'k'], key: 'z' });
});

test('escaped spellings of the same key count as duplicates', () => {
  assert.deepEqual(findDuplicateKey('{"a":1,"\\u0061":2}'), { path: [], key: 'a' });
  assert.deepEqual(findDuplicateKey('{"q\\"":1,"q\\u0022":2}'), { path: [], key: 'q"' });
  // A backslash before the closing quote must not end the scan of the string early.
  assert.equal(findDuplicateKey('{"a\\\\":1,"a":2}'), null);
});
