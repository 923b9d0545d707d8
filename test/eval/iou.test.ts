import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boxIou } from '../../src/eval/index.js';

type Box = [number, number, number, number];
const iou = (d: Box, g: Box, crowd = false): number => boxIou(...d, ...g, crowd);

test('IoU of x,y,w,h boxes', () => {
  assert.equal(iou([0, 0, 10, 10], [0, 0, 10, 10]), 1);
  assert.equal(iou([0, 0, 10, 5], [0, 0, 10, 10]), 0.5);
  // 5x5 overlap of two 10x10 boxes: 25 / (100 + 100 - 25)
  assert.equal(iou([5, 5, 10, 10], [0, 0, 10, 10]), 25 / 175);
  assert.equal(iou([10, 0, 10, 10], [0, 0, 10, 10]), 0, 'touching edges do not overlap');
  assert.equal(iou([30, 30, 5, 5], [0, 0, 10, 10]), 0);
  assert.equal(iou([2, 2, 0, 5], [0, 0, 10, 10]), 0, 'zero width');
});

test('a crowd region divides by the detection area', () => {
  assert.equal(iou([50, 50, 30, 30], [0, 0, 100, 100], true), 1, 'inside the crowd region');
  assert.equal(iou([50, 50, 30, 30], [0, 0, 100, 100], false), 900 / 10000);
  assert.equal(iou([90, 50, 20, 20], [0, 0, 100, 100], true), 0.5, 'half inside');
});
