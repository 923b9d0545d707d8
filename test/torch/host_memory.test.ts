// Host memory in transparent huge pages (native/host_memory.cc): hostBuffer and libtorch's CPU allocator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { arange, hostBuffer, memory, tidy } from '../../src/torch/index.js';

const MiB = 1 << 20;

test('hostBuffer: the size asked for, writable and readable at both ends; zero bytes; bad sizes are RangeErrors', () => {
  for (const n of [0, 2, 4095, 2 * MiB - 1, 2 * MiB, 5 * MiB + 3]) {
    const b = hostBuffer(n);
    assert.equal(b.byteLength, n);
    if (n) {
      b[0] = 7;
      b[n - 1] = 9;
      b.fill(3, 1, n - 1);
      assert.equal(b[0], 7);
      assert.equal(b[n - 1], 9);
      if (n > 2) assert.equal(b[n >> 1], 3);
      assert.equal(b[0], 7);
    }
  }
  assert.throws(() => hostBuffer(-1), { name: 'RangeError', message: /non-negative integer/ });
  assert.throws(() => hostBuffer(1.5), { name: 'RangeError', message: /non-negative integer/ });
  assert.throws(() => hostBuffer(2 ** 52), { name: 'RangeError', message: /cannot allocate/ });
});

test('libtorch tensors above and below 2 MiB (the huge-page allocator) hold their values and are freed', () => {
  const before = memory();
  for (const n of [1, 1000, MiB / 4, MiB, 3 * MiB + 1]) {
    tidy(() => {
      const t = arange(0, n, 1, { dtype: 'float64' });
      const values = t.toArray() as number[];
      assert.equal(values.length, n);
      assert.equal(values[n - 1], n - 1);
      assert.equal(t.sum().item(), (n * (n - 1)) / 2);
    });
  }
  assert.deepEqual(memory(), before);
});

// Where the kernel offers transparent huge pages on request, touching a large hostBuffer should be served by them.
const thp = '/sys/kernel/mm/transparent_hugepage/enabled';
const thpOn = existsSync(thp) && /\[(always|madvise)\]/.test(readFileSync(thp, 'utf8'));
const rollup = '/proc/self/smaps_rollup';
const anonHuge = (): number => Number(/AnonHugePages:\s+(\d+) kB/.exec(readFileSync(rollup, 'utf8'))?.[1] ?? NaN);

test(
  'hostBuffer memory is in huge pages where the kernel has THP on request',
  { skip: !thpOn || !existsSync(rollup) },
  () => {
    const before = anonHuge();
    const b = hostBuffer(64 * MiB);
    b.fill(1);
    const grown = anonHuge() - before;
    // Most of 64 MiB; the kernel may fall back to small pages for a few blocks when memory is fragmented.
    assert.ok(grown >= 32 * 1024, `AnonHugePages grew by ${grown} kB for a 64 MiB buffer`);
    assert.equal(b[64 * MiB - 1], 1);
  },
);
