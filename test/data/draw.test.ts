import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { colourOf, detectionsSvg, drawDetections, escapeXml } from '../../src/data/draw.js';

test('drawDetections: the box outline lands on its pixels, the inside and the image size are kept', async () => {
  const width = 64;
  const height = 48;
  const image = { data: new Uint8Array(width * height * 3), width, height };
  const png = await drawDetections(image, [{ box: [10, 20, 40, 44], label: 0, text: 'a 0.90' }]);
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [width, height, 3]);
  const px = (x: number, y: number): number[] => [...data.subarray((y * width + x) * 3, (y * width + x) * 3 + 3)];
  const [r, b] = [0xe6, 0x4b]; // red and blue of colourOf(0); its green is 0x19
  assert.equal(colourOf(0), '#e6194b');
  for (const [x, y] of [[10, 32], [40, 32], [25, 44]] as const) {
    const [pr, pg, pb] = px(x, y) as [number, number, number];
    // a 1.5 px stroke centred on the edge covers the edge pixel at least half: mostly the class colour
    assert.ok(pr > r / 2 && pg < 0x60 && pb > b / 3 && pb < 0x90, `edge pixel (${x}, ${y}) = ${px(x, y)} is not the class colour`);
  }
  assert.deepEqual(px(25, 32), [0, 0, 0], 'inside the box stays untouched');
  assert.deepEqual(px(60, 5), [0, 0, 0], 'far from the box stays untouched');
});

test('detectionsSvg: the tag goes above the box, or inside it at the top edge; text is escaped', () => {
  const svg = detectionsSvg(100, 100, [
    { box: [10, 50, 30, 70], label: 1, text: 'x' },
    { box: [60, 0, 90, 20], label: 2, text: '<a&b>' },
  ]);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="100" height="100">/);
  assert.match(svg, /<rect x="10" y="50" width="20" height="20" fill="none" stroke="#3cb44b"/);
  // font 9 px -> tag 13 px high: above the first box (y 37), inside the second (y 0)
  assert.match(svg, /<rect x="10" y="37" width="\d+" height="13" fill="#3cb44b"/);
  assert.match(svg, /<rect x="60" y="0" width="\d+" height="13" fill="#ffe119"/);
  assert.match(svg, />&lt;a&amp;b&gt;<\/text>/);
  assert.equal(escapeXml(`"'`), '&quot;&apos;');
});

test('detectionsSvg: a fixed colour, a dash pattern, and no tag for empty text (ground truth)', () => {
  const svg = detectionsSvg(100, 100, [{ box: [10, 50, 30, 70], label: 1, text: '', colour: '#ffffff', dashed: true }]);
  // line width 1.5 at this size: dashes of 4.5, gaps of 3
  assert.equal(
    svg,
    '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">' +
      '<rect x="10" y="50" width="20" height="20" fill="none" stroke="#ffffff" stroke-width="1.5" stroke-dasharray="4.5,3"/></svg>',
  );
});
