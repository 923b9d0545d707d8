import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const fixtures = fileURLToPath(new URL('../../../test/eval/fixtures/', import.meta.url));

const ladet = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });

test('ladet eval prints the 12 lines and writes the summary', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-cli-eval-'));
  try {
    const out = join(dir, 'sub', 'summary.json');
    const r = ladet('eval', `ann=${fixtures}crowd.gt.json`, `results=${fixtures}crowd.dets.json`, `out=${out}`);
    assert.equal(r.status, 0, r.stderr);
    const expected = JSON.parse(readFileSync(`${fixtures}crowd.expected.json`, 'utf8')) as {
      stats: number[];
      lines: string[];
    };
    assert.equal(r.stdout, `${expected.lines.join('\n')}\nwrote ${out}\n`);
    const summary = JSON.parse(readFileSync(out, 'utf8')) as {
      stats: Record<string, number>;
      perClassAP: unknown[];
      images: number;
    };
    assert.ok(Math.abs(summary.stats.AP! - expected.stats[0]!) < 1e-12);
    assert.ok(Math.abs(summary.stats.ARl! - expected.stats[11]!) < 1e-12);
    assert.equal(summary.perClassAP.length, 3);
    assert.equal(summary.images, 40);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ladet eval: usage and input errors are one clear line', () => {
  let r = ladet('eval', `ann=${fixtures}crowd.gt.json`);
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    'ladet eval: missing results= (usage: ladet eval ann=GT.json results=DETS.json [out=summary.json])\n',
  );
  // the path helper shared with test and predict: an empty or non-path value is refused
  r = ladet('eval', 'ann=', 'results=b.json');
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'ladet eval: ann= needs a path (got "")\n');
  r = ladet('eval', 'ann=a.json', 'results=b.json', 'iou=0.5');
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'ladet eval: unknown argument iou (expected: ann, results, out)\n');
  // Detections of one fixture against another's ground truth: an unknown image.
  r = ladet('eval', `ann=${fixtures}empty_results.gt.json`, `results=${fixtures}crowd.dets.json`);
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /^ladet: .*crowd\.dets\.json: \[0\]\.image_id: unknown image id \d+ \(not in .*empty_results\.gt\.json\)\n$/,
  );
});
