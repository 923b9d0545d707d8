// Issue 19, "inputs are never written": every command that writes files refuses an output that would replace an
// input or a file ladet did not write, naming both; its own earlier outputs are replaced as before.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainDetector } from '../../src/api/index.js';
import { runPredict } from '../../src/cli/commands/predict.js';
import { runExport } from '../../src/cli/commands/export.js';
import { runEval } from '../../src/cli/commands/eval.js';
import { runTest } from '../../src/cli/commands/test.js';
import { Outputs, OutputRefusedError, OUTPUTS_MANIFEST } from '../../src/io/outputs.js';
import { predictSources, tinyConfig } from './fixture.js';

let dir = '';
let run = '';
let source = '';
let dataRoot = '';
const quiet = (): void => {};

/** name -> bytes of every file in a folder */
function files(d: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(d)
      .filter((f) => statSync(join(d, f)).isFile())
      .map((f) => [f, readFileSync(join(d, f)).toString('base64')]),
  );
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ladet-outputs-'));
  dataRoot = join(dir, 'shapes');
  const config = join(dir, 'tiny.yaml');
  writeFileSync(config, tinyConfig('tiny', dataRoot, join(dir, 'runs')));
  run = (await trainDetector(config, { onMessage: quiet })).runDir;
  source = join(dir, 'source');
  await predictSources(dataRoot, source);
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('ladet predict into its own source folder is refused and leaves every image as it was', async () => {
  const before = files(source);
  // the images are val1.png, wide.jpg, rotated.jpg: the drawing of val1.png would replace it
  await assert.rejects(runPredict([`weights=${run}`, `source=${source}`, `out=${source}`], quiet), (e: Error) => {
    assert.ok(e instanceof OutputRefusedError, String(e));
    assert.equal(
      e.message,
      `ladet predict: refusing to write ${join(source, 'predictions.json')}: it would replace or mix with inside the input folder ${source}; choose another out=`,
    );
    return true;
  });
  // a folder inside the source is refused as well (a rerun would read the drawings as images)
  await assert.rejects(
    runPredict([`weights=${run}`, `source=${source}`, `out=${join(source, 'drawn')}`], quiet),
    /inside the input folder/,
  );
  assert.deepEqual(files(source), before);
  assert.equal(existsSync(join(source, 'drawn')), false);
});

test("ladet predict replaces its own earlier outputs, but not a file of the user's or one edited since", async () => {
  const out = join(dir, 'pred');
  const first = await runPredict([`weights=${run}`, `source=${source}`, `out=${out}`], quiet);
  assert.equal(first.images.length, 3);
  assert.ok(existsSync(join(out, OUTPUTS_MANIFEST)));
  const again = await runPredict([`weights=${run}`, `source=${source}`, `out=${out}`], quiet); // same outputs, replaced
  assert.deepEqual(
    again.images.map((i) => i.detections),
    first.images.map((i) => i.detections),
  );

  // the user edits one JSON (a new mtime): it is theirs now
  const edited = join(out, 'val1.json');
  writeFileSync(edited, 'my notes');
  utimesSync(edited, new Date(), new Date(Date.now() + 5000));
  await assert.rejects(runPredict([`weights=${run}`, `source=${source}`, `out=${out}`], quiet), {
    name: 'OutputRefusedError',
    message: `ladet predict: refusing to overwrite ${edited}: ladet wrote it, but it was changed since; move it away or choose another out=`,
  });
  assert.equal(readFileSync(edited, 'utf8'), 'my notes');

  // a file ladet never wrote, where an output would go
  const mine = join(dir, 'mine');
  mkdirSync(mine);
  writeFileSync(join(mine, 'wide.png'), 'precious');
  await assert.rejects(runPredict([`weights=${run}`, `source=${source}`, `out=${mine}`], quiet), {
    message: `ladet predict: refusing to overwrite ${join(mine, 'wide.png')}: ladet did not write it; move it away or choose another out=`,
  });
  assert.equal(readFileSync(join(mine, 'wide.png'), 'utf8'), 'precious');
});

test('ladet export, eval and test refuse an out= that is one of their inputs', async () => {
  const weights = join(run, 'weights', 'best.safetensors');
  const copy = join(dir, 'copy.safetensors');
  copyFileSync(weights, copy);
  const bytes = readFileSync(copy);
  await assert.rejects(runExport([`weights=${copy}`, `out=${copy}`], quiet), {
    message: `ladet export: refusing to write ${copy}: it would replace or mix with the input ${copy}; choose another out=`,
  });
  assert.deepEqual(readFileSync(copy), bytes);
  const model = join(dir, 'model.safetensors');
  await runExport([`weights=${copy}`, `out=${model}`], quiet);
  await runExport([`weights=${copy}`, `out=${model}`], quiet); // its own output again: fine

  const ann = join(dataRoot, 'annotations', 'instances_val.json');
  const [report] = await runTest([run, `out=${join(dir, 'test_out')}`], quiet);
  const results = report!.resultsFile;
  const resultsBytes = readFileSync(results);
  assert.throws(
    () => runEval([`ann=${ann}`, `results=${results}`, `out=${results}`], quiet),
    /ladet eval: refusing to write .*test_instances_val_results\.json: it would replace or mix with the input /,
  );
  assert.throws(
    () => runEval([`ann=${ann}`, `results=${results}`, `out=${ann}`], quiet),
    /refusing to write .*instances_val\.json: it would replace or mix with the input/,
  );
  assert.deepEqual(readFileSync(results), resultsBytes);
  runEval([`ann=${ann}`, `results=${results}`, `out=${join(dir, 'summary.json')}`], quiet);

  // ladet test out= the image folder it evaluates
  const images = join(dataRoot, 'val');
  const before = files(images);
  await assert.rejects(
    runTest([run, `data=${ann}`, `images=${images}`, `out=${images}`], quiet),
    /ladet test: refusing to write .*: it would replace or mix with inside the input folder/,
  );
  assert.deepEqual(files(images), before);
});

test('Outputs: a hard link to an input counts as the input; a damaged manifest vouches for nothing', () => {
  const d = join(dir, 'links');
  mkdirSync(d);
  const input = join(d, 'input.json');
  writeFileSync(input, '{}');
  linkSync(input, join(d, 'alias.json'));
  const o = new Outputs({ command: 'test', inputs: [input] });
  assert.throws(
    () => o.check(join(d, 'alias.json')),
    /refusing to write .*alias\.json: it would replace or mix with the input .*input\.json/,
  );
  o.write(join(d, 'out.json'), '1');
  o.flush();
  new Outputs({ command: 'test' }).write(join(d, 'out.json'), '2'); // recorded: replaced
  writeFileSync(join(d, OUTPUTS_MANIFEST), '{not json');
  assert.throws(() => new Outputs({ command: 'test' }).check(join(d, 'out.json')), /ladet did not write it/);
});
