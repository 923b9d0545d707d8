// The web page (examples/web/) in a real browser: Debian's headless Chromium driven by puppeteer-core (nothing
// downloaded), the page served by examples/web/serve.mjs with the models examples/web/prepare.mjs exports. On the
// committed sample (160 px: no resize) and a crop of it (enlarged and padded by the page), each backend's
// detections must be ladet predict's: the same labels in the same order, scores within 1e-5, boxes within 1e-3 px
// (against predict's own code path unrounded, and against the CLI's JSON to its 0.01 px / 1e-4 rounding). Also the
// server's MIME types and refusals, and the page's errors for a missing model and for wrong files.
// Skipped, saying why, where /usr/bin/chromium is absent (scripts/setup.sh installs it with LADET_PEERS=1).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { openDetector, resolveModelFiles } from '../../src/engine/open_detector.js';
import { predictImages, toDetections, type Detection } from '../../src/engine/predict.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is not installed: Debian's chromium runs this test (apt-get install chromium; scripts/setup.sh installs it with LADET_PEERS=1)`;

const repo = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const WEB = join(repo, 'examples', 'web');
const WEIGHTS = join(repo, 'assets', 'demo_teacher_r18w50.safetensors');
const CONFIG = join(repo, 'configs', 'demo', 'teacher_r18w50.yaml');
const SCORE_THR = 0.3; // the page's default, and ladet predict's

/** The part of the page's window.ladetWeb (examples/web/page.mts, PageState) this test reads. */
interface PageState {
  seq: number;
  state: string;
  backend: string;
  model: string | null;
  detections: Detection[];
  ms: number | null;
  error: string | null;
}

let dir = '';
let browser: Browser | null = null;
const servers: ChildProcess[] = [];
/** the fixture images (full paths) and ladet predict's detections on them */
const images: Record<'sample' | 'crop', string> = { sample: '', crop: '' };
const expected = new Map<string, Detection[]>();
const cliJson = new Map<string, Detection[]>();
let url = '';

const node = (args: string[]) => spawnSync(process.execPath, args, { cwd: repo, encoding: 'utf8' });

/** Starts serve.mjs on a free port (--port 0); resolves to the URL it prints first. */
function startServer(models: string): Promise<string> {
  const child = spawn(process.execPath, [join(WEB, 'serve.mjs'), '--port', '0', '--models', models], { cwd: repo });
  servers.push(child);
  return new Promise((ok, fail) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n')[0] as string;
      if (out.includes('\n')) ok(line.trim());
    });
    child.stderr.on('data', (b: Buffer) => fail(new Error(`serve.mjs: ${b.toString()}`)));
    child.on('exit', (code) => fail(new Error(`serve.mjs exited (${code})`)));
  });
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'ladet-web-test-'));
  // the page's own build (its tsconfig adds the DOM types the rest of ladet must not see)
  const tsc = node([join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(WEB, 'tsconfig.json')]);
  assert.equal(tsc.status, 0, `tsc -p examples/web: ${tsc.stdout}${tsc.stderr}`);
  const models = join(dir, 'models');
  const prep = node([join(WEB, 'prepare.mjs'), '--out', models]);
  assert.equal(prep.status, 0, `prepare.mjs: ${prep.stderr}`);
  // the fixtures: the committed sample, and a crop the page must enlarge (120x90 -> 160x120) and pad (-> 160x128)
  const imgDir = join(dir, 'images');
  mkdirSync(imgDir);
  images.sample = join(WEB, 'sample.png');
  images.crop = join(imgDir, 'crop.png');
  await sharp(images.sample).extract({ left: 20, top: 30, width: 120, height: 90 }).png().toFile(images.crop);
  writeFileSync(join(imgDir, 'sample.png'), readFileSync(images.sample));
  // ladet predict's detections: its code path unrounded (in this process), and the CLI's files
  const opened = openDetector(resolveModelFiles({ weights: WEIGHTS, config: CONFIG }));
  try {
    for await (const p of predictImages({
      model: opened.model,
      config: opened.config,
      classes: opened.classes,
      files: [images.sample, images.crop],
      onSkip: (file, why) => assert.fail(`${file}: ${why}`),
    }))
      expected.set(p.file, toDetections(p, opened.classes, SCORE_THR));
  } finally {
    opened.model.dispose();
  }
  const main = join(repo, 'dist', 'src', 'cli', 'main.js');
  const out = join(dir, 'predict');
  const cli = node([main, 'predict', `weights=${WEIGHTS}`, `config=${CONFIG}`, `source=${imgDir}`, `out=${out}`]);
  assert.equal(cli.status, 0, cli.stderr);
  for (const [key, file] of [
    [images.sample, 'sample.json'],
    [images.crop, 'crop.json'],
  ] as const)
    cliJson.set(key, (JSON.parse(readFileSync(join(out, file), 'utf8')) as { detections: Detection[] }).detections);
  url = await startServer(models);
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-dev-shm-usage'],
  });
});

after(async () => {
  await browser?.close();
  for (const s of servers) s.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function openPage(at = url): Promise<{ page: Page; problems: string[] }> {
  const page = await (browser as Browser).newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.goto(at);
  return { page, problems };
}

/** The page's state once `seq` runs have finished. */
async function settled(page: Page, seq: number): Promise<PageState> {
  await page.waitForFunction(`window.ladetWeb !== undefined && window.ladetWeb.seq >= ${seq}`, { timeout: 60_000 });
  return (await page.evaluate('window.ladetWeb')) as PageState;
}

async function upload(page: Page, input: '#image-file' | '#model-file', file: string): Promise<void> {
  const handle = await page.$(input);
  assert.ok(handle, `the page has no ${input}`);
  await handle.uploadFile(file);
}

/** How far the page's detections are from ladet predict's; fails on a different count, label or order. */
function compare(
  mine: readonly Detection[],
  theirs: readonly Detection[],
  what: string,
): { box: number; score: number } {
  assert.equal(mine.length, theirs.length, `${what}: ${mine.length} detections, ladet predict ${theirs.length}`);
  let box = 0;
  let score = 0;
  mine.forEach((d, k) => {
    const t = theirs[k] as Detection;
    assert.equal(d.label, t.label, `${what} #${k}: ${d.label} vs ${t.label}`);
    assert.equal(d.category_id, t.category_id, `${what} #${k}`);
    score = Math.max(score, Math.abs(d.score - t.score));
    for (let c = 0; c < 4; c++) box = Math.max(box, Math.abs((d.box[c] as number) - (t.box[c] as number)));
  });
  return { box, score };
}

function assertPredicts(state: PageState, image: string, what: string, t: { diagnostic(m: string): void }): void {
  assert.equal(state.state, 'done', `${what}: ${state.error}`);
  const want = expected.get(image) as Detection[];
  assert.ok(want.length >= 3, `${what}: only ${want.length} detections to compare`);
  const d = compare(state.detections, want, what);
  assert.ok(d.score < 1e-5 && d.box < 1e-3, `${what}: scores differ by ${d.score}, boxes by ${d.box} px`);
  // the CLI's JSON, rounded to 0.01 px and 1e-4
  const r = compare(state.detections, cliJson.get(image) as Detection[], `${what} (CLI JSON)`);
  assert.ok(r.score <= 5e-5 + 1e-5 && r.box <= 5e-3 + 1e-3, `${what}: CLI JSON off by ${r.score}, ${r.box} px`);
  t.diagnostic(
    `${what}: ${want.length} detections, max |score diff| ${d.score.toExponential(2)}, max |box diff| ` +
      `${d.box.toExponential(2)} px, ${(state.ms as number).toFixed(1)} ms in the page`,
  );
}

test('serve.mjs: MIME types, and nothing outside its folders', { skip }, async () => {
  const get = (path: string): Promise<{ status: number; type: string }> =>
    new Promise((ok, fail) => {
      // the path as given: no client-side normalisation of `..`
      const { hostname, port } = new URL(url);
      const req = request({ hostname, port, path, method: 'HEAD' }, (res) => {
        ok({ status: res.statusCode ?? 0, type: String(res.headers['content-type']) });
        res.resume();
      });
      req.on('error', fail);
      req.end();
    });
  for (const [path, type] of [
    ['/', 'text/html; charset=utf-8'],
    ['/sample.png', 'image/png'],
    ['/dist/examples/web/page.mjs', 'text/javascript; charset=utf-8'],
    ['/dist/src/runtime/index.js', 'text/javascript; charset=utf-8'],
    ['/ort/ort.wasm.min.mjs', 'text/javascript; charset=utf-8'],
    ['/ort/ort-wasm-simd-threaded.wasm', 'application/wasm'],
    ['/models/demo_teacher_r18w50.safetensors', 'application/octet-stream'],
  ])
    assert.deepEqual(await get(path as string), { status: 200, type }, path);
  for (const path of [
    '/../package.json',
    '/dist/src/../../package.json',
    '/dist/src/%2e%2e/%2e%2e/package.json',
    '/ort/..%2f..%2f..%2fpackage.json',
    '/dist/test/helpers.js',
    '/models/',
    '/%00',
    '/%E0%A4%A',
  ])
    assert.equal((await get(path)).status, 404, path);
});

test("the page's detections on each backend are ladet predict's", { skip }, async (t) => {
  const { page, problems } = await openPage();
  // the page opens on the sample with ladet/runtime
  assertPredicts(await settled(page, 1), images.sample, 'ladet/runtime, sample', t);
  await upload(page, '#image-file', images.crop);
  assertPredicts(await settled(page, 2), images.crop, 'ladet/runtime, crop (enlarged, padded)', t);
  await page.select('#backend', 'onnx');
  assertPredicts(await settled(page, 3), images.crop, 'onnxruntime-web, crop (enlarged, padded)', t);
  await upload(page, '#image-file', images.sample);
  assertPredicts(await settled(page, 4), images.sample, 'onnxruntime-web, sample', t);
  assert.deepEqual(problems, []);
  await page.close();
});

test(
  'the page says what is wrong: a missing model, a file that is not an image, a model that is not ONNX',
  { skip },
  async () => {
    // a server without models: the sample cannot run
    const empty = join(dir, 'no-models');
    mkdirSync(empty);
    const { page } = await openPage(await startServer(empty));
    let state = await settled(page, 1);
    assert.equal(state.state, 'error');
    assert.match(
      state.error ?? '',
      /^no model at \/models\/demo_teacher_r18w50\.safetensors \(HTTP 404\): `npm run web`/,
    );
    assert.equal(await page.$eval('#error', (e) => e.textContent), state.error);
    // not an image
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'not a picture\n');
    await upload(page, '#image-file', text);
    state = await settled(page, 2);
    assert.match(state.error ?? '', /^notes\.txt: not an image this browser can decode/);
    // an image given as the ONNX model: the page switches to onnxruntime-web, which refuses it by name
    const fake = join(dir, 'fake.onnx');
    writeFileSync(fake, readFileSync(images.sample));
    await upload(page, '#model-file', fake);
    await upload(page, '#image-file', images.sample);
    state = await settled(page, 4);
    assert.equal(state.backend, 'onnx');
    assert.match(state.error ?? '', /^fake\.onnx: not an ONNX model/);
    await page.close();
  },
);
