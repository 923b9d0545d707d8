import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configHash, loadConfig, parseConfig } from '../../src/config/schema.js';

const minimal = { name: 'x', data: { root: 'd' }, model: { backbone: { depth: 18 } } };

test('defaults fill a minimal config (mmdetection PAA settings)', () => {
  const c = parseConfig(minimal);
  assert.equal(c.assigner.type, 'paa');
  assert.equal(c.assigner.type === 'paa' && c.assigner.topk, 9);
  assert.deepEqual(c.model.anchors.strides, [8, 16, 32, 64, 128]);
  assert.equal(c.loss.bboxWeight, 1.3);
  assert.equal(c.loss.iouWeight, 0.5);
  assert.deepEqual(c.schedule.steps, [8, 11]);
  assert.equal(c.eval.nmsIou, 0.6);
  assert.equal(c.eval.scoreThr, 0.05);
  assert.equal(c.data.trainAnn, 'annotations/instances_train.json');
});

test('unknown keys and wrong types are named with the file and key path', () => {
  assert.throws(
    () => parseConfig({ ...minimal, optimiser: {} }, 'a.yaml'),
    /^UsageError: a\.yaml: unknown key optimiser$/m,
  );
  assert.throws(
    () => parseConfig({ ...minimal, model: { backbone: { depth: 18, widht: 2 } } }, 'a.yaml'),
    /a\.yaml: unknown key model\.backbone\.widht/,
  );
  assert.throws(
    () => parseConfig({ ...minimal, data: { root: 'd', batchSize: 'four' } }, 'a.yaml'),
    /a\.yaml: data\.batchSize: /,
  );
  assert.throws(
    () => parseConfig({ ...minimal, model: { backbone: { depth: 19 } } }, 'a.yaml'),
    /a\.yaml: model\.backbone\.depth/,
  );
  assert.throws(() => parseConfig({ ...minimal, assigner: { type: 'simota' } }, 'a.yaml'), /a\.yaml: assigner\.type/);
  assert.throws(
    () => parseConfig({ data: { root: 'd' }, model: { backbone: { depth: 18 } } }, 'a.yaml'),
    /a\.yaml: name: /,
  );
});

test('YAML files load with key.sub=value overrides; bad files give clear errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-cfg-'));
  const f = join(dir, 'c.yaml');
  writeFileSync(f, 'name: base\ndata: { root: d, batchSize: 4 }\nmodel: { backbone: { depth: 18 } }\n');
  const c = loadConfig(f, { 'data.batchSize': 8, 'schedule.epochs': 3, name: 'other' });
  assert.equal(c.data.batchSize, 8);
  assert.equal(c.schedule.epochs, 3);
  assert.equal(c.name, 'other');
  assert.throws(
    () => loadConfig(f, { 'data.bogus': 1 }),
    new RegExp(`${f.replace(/[.]/g, '\\.')}: unknown key data\\.bogus`),
  );
  assert.throws(() => loadConfig(join(dir, 'missing.yaml')), /config file not found: .*missing\.yaml/);
  writeFileSync(f, 'name: [unclosed\n');
  assert.throws(() => loadConfig(f), /c\.yaml: invalid YAML/);
  writeFileSync(f, '- 1\n- 2\n');
  assert.throws(() => loadConfig(f), /c\.yaml: a config must be a YAML mapping/);
});

test('every committed preset validates', async () => {
  const { readdirSync } = await import('node:fs');
  const dir = join(process.cwd(), 'configs');
  const files = readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 2);
  for (const f of files) loadConfig(join(dir, f));
});

test('data.maxImagePixels: optional (absent keeps the config hash), a non-negative integer, carried into the pipelines', async () => {
  const { configHash } = await import('../../src/config/schema.js');
  const { testPipelineOf, trainPipelineOf } = await import('../../src/build/model.js');
  const { DEFAULT_MAX_IMAGE_PIXELS } = await import('../../src/data/image.js');
  const plain = parseConfig(minimal);
  assert.equal('maxImagePixels' in plain.data, false);
  const set = parseConfig({ ...minimal, data: { root: 'd', maxImagePixels: 400_000_000 } });
  // a config without the key hashes as before the key existed: the recorded repro results still match their presets
  const { getStudy } = await import('../../src/repro/studies.js');
  const { planJobs } = await import('../../src/repro/plan.js');
  const { readFileSync } = await import('node:fs');
  const job = planJobs(getStudy('table2'), {
    seeds: [0],
    rows: ['baseline'],
    overrides: {},
    resultsDir: 'benchmarks/results/repro',
  })[0]!;
  assert.equal(JSON.parse(readFileSync(job.resultPath, 'utf8')).configHash, job.hash);
  assert.notEqual(configHash(set), configHash(plain));
  assert.equal(trainPipelineOf(plain).maxImagePixels, DEFAULT_MAX_IMAGE_PIXELS);
  assert.equal(testPipelineOf(set).maxImagePixels, 400_000_000);
  assert.equal(trainPipelineOf(parseConfig({ ...minimal, data: { root: 'd', maxImagePixels: 0 } })).maxImagePixels, 0);
  assert.throws(
    () => parseConfig({ ...minimal, data: { root: 'd', maxImagePixels: -5 } }, 'a.yaml'),
    /a\.yaml: data\.maxImagePixels: /,
  );
  assert.throws(
    () => parseConfig({ ...minimal, data: { root: 'd', maxImagePixels: 1.5 } }, 'a.yaml'),
    /a\.yaml: data\.maxImagePixels: /,
  );
});

test('train.precision and distill.teacher.precision: optional, validated, and not part of the config hash', () => {
  const base = parseConfig(minimal, 'a.yaml');
  assert.ok(!('train' in base), 'absent stays absent');
  for (const precision of ['fp32', 'bf16', 'fp16', 'auto'] as const) {
    const c = parseConfig({ ...minimal, train: { precision } }, 'a.yaml');
    assert.equal(c.train?.precision, precision);
    assert.equal(configHash(c), configHash(base), `${precision} hashes as the config without it`);
  }
  assert.throws(() => parseConfig({ ...minimal, train: { precision: 'half' } }, 'a.yaml'), /a\.yaml: train\.precision/);
  assert.throws(
    () => parseConfig({ ...minimal, train: { precison: 'bf16' } }, 'a.yaml'),
    /unknown key train\.precison/,
  );
  const teacher = { config: 't.yaml', weights: 'w.safetensors' };
  const lad = (t: Record<string, unknown>) =>
    parseConfig({ ...minimal, distill: { strategy: 'lad', teacher: t } }, 'a.yaml');
  assert.equal(configHash(lad({ ...teacher, precision: 'bf16' })), configHash(lad(teacher)));
  // everything else still counts
  assert.notEqual(configHash(lad({ ...teacher, weights: 'other.safetensors' })), configHash(lad(teacher)));
});
