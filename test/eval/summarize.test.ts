import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFixed3, formatSummary, IOU_THRESHOLDS } from '../../src/eval/index.js';

test('3-decimal formatting rounds exact ties to even, as Python does', () => {
  // Python: '{:0.3f}'.format(x)
  const cases: [number, string][] = [
    [0.0625, '0.062'],
    [0.1875, '0.188'],
    [0.3125, '0.312'],
    [0.9375, '0.938'],
    [-0.0625, '-0.062'],
    [0.0005, '0.001'],
    [0.12345, '0.123'],
    [1, '1.000'],
    [-1, '-1.000'],
    [0.7564356435643564, '0.756'],
    [0.9995, '1.000'],
  ];
  for (const [x, s] of cases) assert.equal(formatFixed3(x), s, String(x));
});

test('summary lines have the reference layout', () => {
  const stats = [0.5, 0.0625, 0.75, -1, 0.25, 1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
  const lines = formatSummary(stats, IOU_THRESHOLDS, [1, 10, 100]).split('\n');
  assert.equal(lines.length, 12);
  assert.equal(lines[0], ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.500');
  assert.equal(lines[1], ' Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.062');
  assert.equal(lines[3], ' Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000');
  assert.equal(lines[4], ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.250');
  assert.equal(lines[6], ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.100');
  assert.equal(lines[11], ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.600');
});
