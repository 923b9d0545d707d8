// The regimes study (issue #25) and the machinery it added to `ladet repro`: rows that change their preset through
// overrides, the precision a record names, teacher weights read from the run's log, estimates for rows never run,
// the gap / gain numbers and the SVG figure. No training: run directories are written as the trainer leaves them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configHash, loadConfig } from '../../src/config/schema.js';
import { JsonlLog } from '../../src/engine/metrics_log.js';
import { estimator } from '../../src/repro/cost.js';
import { niceTicks, renderGainSvg } from '../../src/repro/figure.js';
import { gainValues, renderGainTable } from '../../src/repro/gains.js';
import { planJobs, type Job } from '../../src/repro/plan.js';
import { readRecord, ResultRecordSchema, writeRecord, type ResultRecord } from '../../src/repro/record.js';
import { buildReport, writeReport } from '../../src/repro/report.js';
import { runJob } from '../../src/repro/run.js';
import { jobStatuses, renderStatus } from '../../src/repro/status.js';
import { getStudy, selectRows, STUDIES, type GainFigure, type Study } from '../../src/repro/studies.js';
import { summarize } from '../../src/repro/summary.js';
import { renderBody } from '../../src/repro/table.js';
import { fakeRecord, fakeRun } from './fake_run.js';

const regimes = getStudy('regimes');
const git = () => ({ commit: 'abcdef0123456789abcdef0123456789abcdef01', dirty: false });
const mustNotTrain = async (): Promise<{ stopped: boolean }> => {
  throw new Error('must not train');
};
const close = (a: number, b: number, msg: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${msg}: ${a} vs ${b}`);

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'ladet-regimes-'));
}

/** A record of `job` with AP `ap`, trained in bf16 at this checkout's commit. */
const record = (job: Job, ap: number, extra: Partial<ResultRecord> = {}): ResultRecord =>
  fakeRecord(job, ap, { gitCommit: git().commit, precision: ['bf16'], ...extra });

const PRESET = 'configs/paa_r18_fashion_mini.yaml';
const rowStudy = (rows: Study['rows']): Study => ({ name: 't', title: 't', setting: '', paper: '', claims: [], rows });

test("a row's overrides reach its config and hash; the user's overrides win; name stays the user's to leave alone", () => {
  const overrides = { name: 'mine', 'schedule.epochs': 2, 'data.builtin': 'shapes', 'data.root': 'data/shapes' };
  const study = rowStudy([{ id: 'a', label: 'a', short: 'a', config: PRESET, paperAP: null, overrides }]);
  const [j0, j1] = planJobs(study, {
    seeds: [0, 1],
    rows: null,
    overrides: { 'schedule.epochs': 3, runsDir: 'X' },
    resultsDir: 'R',
  }) as [Job, Job];
  assert.deepEqual(j0.overrides, { ...overrides, 'schedule.epochs': 3, runsDir: 'X', threads: 1 });
  assert.equal(j0.config.name, 'mine');
  assert.equal(j0.config.schedule.epochs, 3); // the command line's value, not the row's 2
  assert.equal(j0.config.data.builtin, 'shapes');
  assert.equal(j0.hash, configHash(loadConfig(PRESET, j0.overrides)));
  assert.notEqual(j0.hash, configHash(loadConfig(PRESET, { 'schedule.epochs': 3, runsDir: 'X', threads: 1 })));
  assert.equal(j0.runDir, join('X', 'mine'));
  // another seed: the row's run name with the seed, the same experiment
  assert.equal(j1.config.name, 'mine_s1');
  assert.equal(j1.runDir, join('X', 'mine_s1'));
  assert.equal(j1.experiment, j0.experiment);
  assert.notEqual(j1.hash, j0.hash);

  // the user still may not name the run (nor set seed / threads); a row may not set seed or threads either
  assert.throws(() => planJobs(study, { seeds: [0], rows: null, overrides: { name: 'x' }, resultsDir: 'R' }), {
    name: 'UsageError',
    message: /^ladet repro: name cannot be overridden/,
  });
  const seeded = rowStudy([{ ...study.rows[0]!, overrides: { ...overrides, seed: 4 } }]);
  assert.throws(() => planJobs(seeded, { seeds: [0], rows: null, overrides: {}, resultsDir: 'R' }), {
    message: 'study t row a: its overrides set seed, which repro sets itself',
  });
});

test("a teacher row must train the network distill.teacher.config describes, on the student's dataset", () => {
  const student = {
    id: 's',
    label: 's',
    short: 's',
    config: 'configs/lad/t2_lad_r18w25_from_r18w50.yaml',
    paperAP: null,
    teacher: 't',
  };
  const teacher = { id: 't', label: 't', short: 't', config: 'configs/demo/teacher_r18w50.yaml', paperAP: null };
  const plan = (rows: Study['rows']) =>
    planJobs(rowStudy(rows), { seeds: [0], rows: ['s'], overrides: {}, resultsDir: 'R' });
  assert.equal(plan([teacher, student]).length, 2);
  const wider = { ...teacher, overrides: { name: 'w', 'model.backbone.widthMultiplier': 0.75 } };
  assert.throws(() => plan([wider, student]), {
    message:
      "study t row s: distill.teacher.config configs/demo/teacher_r18w50.yaml describes another network than its teacher row t trains (configs/demo/teacher_r18w50.yaml with the row's overrides)",
  });
  const shapes = { ...teacher, overrides: { name: 'w', 'data.builtin': 'shapes', 'data.root': 'data/shapes' } };
  assert.throws(() => plan([shapes, student]), {
    message: 'study t row s: its teacher row t trains on another dataset (data/shapes)',
  });
});

test('regimes: 32 rows, every run its own, teachers of the same dataset and gap, the schedules and bf16', () => {
  assert.equal(regimes.rows.length, 32);
  const jobs = planJobs(regimes, { seeds: [0, 1, 2], rows: null, overrides: {}, resultsDir: 'R' });
  assert.equal(jobs.length, 4 + 28 * 3);
  const dirs = jobs.map((j) => j.runDir);
  assert.equal(new Set(dirs).size, dirs.length);
  // no run directory of another study: precision is not in the config hash, so sharing one would reuse fp32 runs
  const others = new Set(
    STUDIES.filter((s) => s !== regimes).flatMap((s) =>
      planJobs(s, { seeds: [0, 1, 2], rows: null, overrides: {}, resultsDir: 'R' }).map((j) => j.runDir),
    ),
  );
  for (const j of jobs) {
    assert.ok(!others.has(j.runDir), j.runDir);
    assert.equal(j.runDir, join('runs', `regimes_${j.row.id}${j.seed ? `_s${j.seed}` : ''}`));
    assert.equal(j.config.train?.precision, 'auto', j.row.id);
    const [ds] = j.row.id.split('_') as [string];
    assert.equal(j.config.data.builtin, ds === 'fashion' ? 'fashion-det' : 'shapes', j.row.id);
    assert.equal(j.config.data.root, ds === 'fashion' ? 'data/fashion-det' : 'data/shapes', j.row.id);
  }
  const job = (id: string, seed = 0): Job => jobs.find((j) => j.row.id === id && j.seed === seed)!;
  for (const ds of ['fashion', 'shapes']) {
    assert.deepEqual(
      [job(`${ds}_teacher_small`).config.schedule.epochs, job(`${ds}_teacher_large`).config.schedule.epochs],
      [6, 12],
    );
    assert.equal(job(`${ds}_teacher_small`).config.model.backbone.widthMultiplier, 0.5);
    assert.deepEqual(job(`${ds}_teacher_small`).row.seeds, [0]);
    for (const sched of ['short', '1x']) {
      const paa = job(`${ds}_${sched}_paa`, 2);
      assert.equal(paa.config.distill.strategy, 'self');
      assert.equal(paa.config.model.backbone.widthMultiplier, 0.25);
      const s = paa.config.schedule;
      assert.deepEqual(
        [s.epochs, s.warmupIters, s.steps],
        sched === 'short' ? [1, 300, []] : [6, 300, [4, 5]],
        `${ds} ${sched}`,
      );
      for (const gap of ['small', 'large']) {
        for (const strategy of ['kd', 'lad', 'solad']) {
          const id = `${ds}_${sched}_${strategy}_${gap}`;
          const t = job(`${ds}_teacher_${gap}`);
          const st = job(id, 1);
          assert.equal(st.row.teacher, t.row.id, id);
          assert.equal(st.config.distill.strategy, strategy, id);
          assert.equal(st.config.distill.teacher?.config, t.configPath, id);
          assert.equal(st.config.distill.teacher?.weights, t.runDir, id); // the seed-0 teacher for every seed
          assert.equal(st.teacherRunDir, t.runDir);
          assert.deepEqual(st.config.schedule, paa.config.schedule, id);
          assert.deepEqual(st.config.model, paa.config.model, id);
        }
      }
    }
  }
  // four orderings per dataset × schedule × gap, one grid and one figure per dataset
  assert.equal(regimes.claims.length, 32);
  assert.equal(regimes.grids?.length, 2);
  assert.deepEqual(
    regimes.figures?.map((f) => [f.file, f.panels.length, f.panels.map((p) => p.points.length)]),
    [
      ['regimes_fashion', 2, [6, 6]],
      ['regimes_shapes', 2, [6, 6]],
    ],
  );
  assert.equal(regimes.precision, 'bf16');
});

test('rows= takes * patterns: a lane per dataset', () => {
  assert.equal(selectRows(regimes, ['fashion_*']).length, 16);
  assert.deepEqual(
    selectRows(regimes, ['shapes_1x_*_large', 'shapes_teacher_large']).map((r) => r.id),
    ['shapes_teacher_large', 'shapes_1x_kd_large', 'shapes_1x_lad_large', 'shapes_1x_solad_large'],
  );
  assert.throws(() => selectRows(regimes, ['fashon_*']), { name: 'UsageError', message: /unknown row fashon_\*/ });
  // a lane's plan trains its own dataset's teachers first
  const lane = planJobs(regimes, { seeds: [0], rows: ['shapes_*'], overrides: {}, resultsDir: 'R' });
  assert.deepEqual(
    lane.slice(0, 2).map((j) => j.row.id),
    ['shapes_teacher_small', 'shapes_teacher_large'],
  );
  assert.ok(lane.every((j) => j.row.id.startsWith('shapes_')));
});

test('a record names the precision of every training segment and the teacher weights the log names', async () => {
  const tmp = tempDir();
  try {
    const [teacher, lad] = planJobs(regimes, {
      seeds: [1],
      rows: ['fashion_1x_lad_small'],
      overrides: { runsDir: join(tmp, 'runs') },
      resultsDir: join(tmp, 'res'),
    }) as [Job, Job];
    // a run trained before the log named its precision: fp32
    fakeRun(teacher.runDir, teacher.hash, 6);
    const t = await runJob(teacher, mustNotTrain, { git });
    assert.equal(t.kind, 'collected');
    assert.deepEqual(readRecord(teacher.resultPath).precision, ['fp32']);

    // resumed in another precision: both, in order; the teacher weights from the log's start events
    const weights = { weights: join(teacher.runDir, 'weights', 'best.safetensors'), sha256: 'a'.repeat(64) };
    fakeRun(lad.runDir, lad.hash, 3, { start: { precision: 'fp32', teacher: { config: 'c', ...weights } } });
    fakeRun(lad.runDir, lad.hash, 6, {
      fresh: false,
      from: 4,
      start: { precision: 'bf16', teacher: { config: 'c', ...weights } },
    });
    const done = await runJob(lad, mustNotTrain, { git });
    assert.equal(done.kind, 'collected');
    const rec = readRecord(lad.resultPath);
    assert.deepEqual(rec.precision, ['fp32', 'bf16']);
    assert.deepEqual(rec.teacherWeights, { file: weights.weights, sha256: weights.sha256 });
    assert.deepEqual(ResultRecordSchema.parse(JSON.parse(readFileSync(lad.resultPath, 'utf8'))), rec); // round trip

    // a run whose segments read two different teachers is no result of one: refused, nothing written
    rmSync(lad.resultPath);
    rmSync(lad.runDir, { recursive: true });
    fakeRun(lad.runDir, lad.hash, 3, { start: { precision: 'bf16', teacher: { config: 'c', ...weights } } });
    const other = { ...weights, sha256: 'b'.repeat(64) };
    fakeRun(lad.runDir, lad.hash, 6, { fresh: false, from: 4, start: { precision: 'bf16', teacher: other } });
    await assert.rejects(runJob(lad, mustNotTrain, { git }), { message: /read different teacher weights/ });

    // trained by repro in bf16 alone, its log naming no teacher: the teacher's weights file is hashed
    rmSync(lad.runDir, { recursive: true });
    mkdirSync(join(teacher.runDir, 'weights'), { recursive: true });
    writeFileSync(join(teacher.runDir, 'weights', 'best.safetensors'), 'teacher');
    const trained = await runJob(
      lad,
      async () => {
        fakeRun(lad.runDir, lad.hash, 6, { start: { precision: 'bf16' } });
        return { stopped: false };
      },
      { git },
    );
    assert.equal(trained.kind, 'trained');
    assert.deepEqual(readRecord(lad.resultPath).precision, ['bf16']);
    assert.equal(
      readRecord(lad.resultPath).teacherWeights?.sha256,
      createHash('sha256').update('teacher').digest('hex'),
    );

    // an unknown precision in the log is an error naming the log, not a guess
    rmSync(lad.resultPath);
    new JsonlLog(lad.runDir).write('start', { config: 'x', hash: lad.hash, resume: true, precision: 'fp8' });
    await assert.rejects(runJob(lad, mustNotTrain, { git }), {
      message: /log\.jsonl: a start event names precision "fp8"/,
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('records written before the precision field stay valid; a bad precision is not', () => {
  const fixture = fileURLToPath(new URL('../../../test/fixtures/repro/table2/lad_s1.json', import.meta.url));
  const old = readRecord(fixture);
  assert.equal(old.precision, undefined);
  const raw = JSON.parse(readFileSync(fixture, 'utf8')) as Record<string, unknown>;
  assert.equal(ResultRecordSchema.safeParse({ ...raw, precision: ['bf16'] }).success, true);
  assert.equal(ResultRecordSchema.safeParse({ ...raw, precision: [] }).success, false);
  assert.equal(ResultRecordSchema.safeParse({ ...raw, precision: ['fp8'] }).success, false);
  assert.equal(ResultRecordSchema.safeParse({ ...raw, precision: 'bf16' }).success, false);
});

test('plan=true estimates a row never run per epoch from its preset, then from its own recorded seeds', () => {
  const tmp = tempDir();
  try {
    // run directories under tmp: the repository's own runs/ may hold these rows' runs (a lane training them)
    const opts = { overrides: { runsDir: join(tmp, 'runs') }, resultsDir: join(tmp, 'res') };
    const table2 = planJobs(getStudy('table2'), { ...opts, seeds: [0, 1], rows: ['baseline'] });
    const mine = planJobs(regimes, { ...opts, seeds: [0, 1], rows: ['fashion_short_paa', 'fashion_1x_paa'] });
    const job = (id: string, seed: number) => mine.find((j) => j.row.id === id && j.seed === seed)!;
    // the fp32 table's mini preset: 1200 and 1500 s for 6 epochs, i.e. 200 and 250 s an epoch
    const seconds = new Map<Job, number>([
      [table2[0]!, 1200],
      [table2[1]!, 1500],
    ]);
    const rec = (j: Job) => (seconds.has(j) ? { trainSeconds: seconds.get(j)! } : null);
    const estimate = estimator([...table2, ...mine], rec);
    assert.deepEqual(estimate(job('fashion_short_paa', 0)), { seconds: 225, basis: 'preset' });
    assert.deepEqual(estimate(job('fashion_1x_paa', 1)), { seconds: 1350, basis: 'preset' });
    // not the fp32 row itself: same preset and dataset, but bf16 and another run name
    assert.notEqual(job('fashion_1x_paa', 0).experiment, table2[0]!.experiment);
    const lines = renderStatus(jobStatuses(mine, estimate), 2);
    assert.match(
      lines[0]!,
      new RegExp(
        `^regimes fashion_short_paa seed 0 +${join(tmp, 'runs', 'regimes_fashion_short_paa').replace(/[.]/g, '\\.')} +train 1 epoch, ~4 min \\(per epoch from other runs of the preset\\)$`,
      ),
    );
    assert.match(lines[1]!, / train 6 epochs, ~23 min \(per epoch from other runs of the preset\)$/);
    assert.ok(
      lines
        .at(-1)!
        .endsWith(
          '4 of them have no recorded seed of their own row: estimated as the mean per epoch of the recorded runs of the same preset file in another setting (dataset, schedule; the same precision where one is recorded), times their epochs.',
        ),
      lines.at(-1),
    );
    // once its seed 0 is recorded, the row's other seeds go by it
    seconds.set(job('fashion_short_paa', 0), 150);
    const later = estimator([...table2, ...mine], rec);
    assert.deepEqual(later(job('fashion_short_paa', 1)), { seconds: 150, basis: 'row' });
    // and a row of the preset asking the same precision (auto: bf16 here) goes by that row's 150 s an epoch, not by
    // the fp32 table's 200-250
    assert.deepEqual(later(job('fashion_1x_paa', 1)), { seconds: 900, basis: 'preset' });
    assert.equal(job('fashion_1x_paa', 1).config.train?.precision, 'auto');
    assert.equal(table2[0]!.config.train?.precision, 'fp32');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

/** fashion-det records: teachers 35.2 / 44.9; 1x PAA 33.4 / 33.5 / 33.6; LAD small 34.5 / 35.0 / 35.5, LAD large
 * 36.0 / 37.0, soft-label small one seed 32.0; nothing at the short schedule. */
function fashionRecords(): ResultRecord[] {
  const jobs = planJobs(regimes, { seeds: [0, 1, 2], rows: ['fashion_*'], overrides: {}, resultsDir: 'R' });
  const at = (id: string, seed: number) => jobs.find((j) => j.row.id === id && j.seed === seed)!;
  const aps: [string, number, number][] = [
    ['fashion_teacher_small', 0, 0.352],
    ['fashion_teacher_large', 0, 0.449],
    ['fashion_1x_paa', 0, 0.334],
    ['fashion_1x_paa', 1, 0.335],
    ['fashion_1x_paa', 2, 0.336],
    ['fashion_1x_lad_small', 0, 0.345],
    ['fashion_1x_lad_small', 1, 0.35],
    ['fashion_1x_lad_small', 2, 0.355],
    ['fashion_1x_lad_large', 0, 0.36],
    ['fashion_1x_lad_large', 1, 0.37],
    ['fashion_1x_kd_small', 2, 0.32],
  ];
  return aps.map(([id, seed, ap]) => record(at(id, seed), ap));
}
const seedsOf = (row: { seeds?: readonly number[] }): readonly number[] => row.seeds ?? [0, 1, 2];
const fashion = (): GainFigure => regimes.figures![0]!;

test('gap and gain: teacher AP minus PAA mean, row mean minus PAA mean, spread = the two stds summed', () => {
  const s = summarize(regimes, fashionRecords(), seedsOf);
  const [short, x1] = gainValues(s, fashion()) as [
    ReturnType<typeof gainValues>[number],
    ReturnType<typeof gainValues>[number],
  ];
  assert.equal(short.title, 'short (1 epoch)');
  assert.ok(short.points.every((p) => p.gap === null && p.gain === null && p.spread === null));
  assert.equal(x1.title, '1x (6 epochs)');
  const point = (row: string) => x1.points.find((p) => p.row === row)!;
  const ladSmall = point('fashion_1x_lad_small');
  close(ladSmall.gap!, 0.352 - 0.335, 'small gap');
  close(ladSmall.gain!, 0.35 - 0.335, 'LAD small gain');
  close(ladSmall.spread!, 0.005 + 0.001, 'LAD small spread'); // stds 0.005 and 0.001
  const ladLarge = point('fashion_1x_lad_large');
  close(ladLarge.gap!, 0.449 - 0.335, 'large gap');
  close(ladLarge.gain!, 0.365 - 0.335, 'LAD large gain');
  close(ladLarge.spread!, Math.SQRT1_2 * 0.01 + 0.001, 'LAD large spread'); // two seeds: sqrt(2 * 0.005^2)
  const kd = point('fashion_1x_kd_small');
  close(kd.gain!, 0.32 - 0.335, 'soft-label gain');
  assert.equal(kd.spread, null); // one seed: no spread
  assert.deepEqual(kd.seeds, { row: 1, baseline: 3 });
  const solad = point('fashion_1x_solad_small');
  assert.equal(solad.gain, null);
  close(solad.gap!, 0.017, 'the gap is known without the row');

  assert.deepEqual(renderGainTable(s, fashion()), [
    '| schedule | teacher | teacher AP | PAA AP | gap | soft-label − PAA | LAD − PAA | SoLAD − PAA |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    '| short (1 epoch) | fashion-det teacher small | 35.2 | — | — | — | — | — |',
    '| short (1 epoch) | fashion-det teacher large | 44.9 | — | — | — | — | — |',
    '| 1x (6 epochs) | fashion-det teacher small | 35.2 | 33.5 ± 0.1 | +1.7 | -1.5 (one seed) | +1.5 ± 0.6 | — |',
    '| 1x (6 epochs) | fashion-det teacher large | 44.9 | 33.5 ± 0.1 | +11.4 | — | +3.0 ± 0.8 | — |',
  ]);
});

test('the regime map: every claim by dataset, schedule and gap, as verdict and AP difference', () => {
  const body = renderBody(summarize(regimes, fashionRecords(), seedsOf), { dir: 'R/', records: [], notes: [] });
  const lines = body.split('\n');
  const at = lines.indexOf(
    '**The regime map: each claim by dataset, schedule and teacher gap (verdict, mean AP difference)**',
  );
  assert.ok(at > 0, body);
  const cols = ['short, small gap', 'short, large gap', '1x, small gap', '1x, large gap'];
  const none = cols.map(() => '—');
  assert.deepEqual(lines.slice(at + 2, at + 8), [
    `| claim | ${[...cols.map((c) => `fashion-det ${c}`), ...cols.map((c) => `shapes ${c}`)].join(' | ')} |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    // LAD small: 35.0 ± 0.5 over PAA 33.5 ± 0.1 (beyond 0.6); LAD large at 2 of 3 seeds: +3.0, beyond 0.8
    `| LAD > PAA | — | — | **holds** +1.5 | **holds** +3.0 † | ${none.join(' | ')} |`,
    // soft-label small has one seed (32.0)
    `| LAD > soft-label | — | — | +3.0 (1 seed) | — | ${none.join(' | ')} |`,
    `| SoLAD > LAD | — | — | — | — | ${none.join(' | ')} |`,
    `| soft-label > PAA | — | — | -1.5 (1 seed) | — | ${none.join(' | ')} |`,
  ]);
});

test('the SVG: a panel per schedule, a point per recorded cell where it belongs, error bars, byte-stable', () => {
  const recs = fashionRecords();
  const svg = renderGainSvg(fashion(), gainValues(summarize(regimes, recs, seedsOf), fashion()));
  const count = (s: string): number => svg.split(s).length - 1;
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" '));
  assert.ok(svg.endsWith('</svg>\n'));
  assert.equal(count('<g class="panel">'), 2);
  assert.equal(count('<g class="point"'), 3); // soft-label small, LAD small, LAD large at 1x
  assert.equal(count('class="errorbar"'), 2); // not the one-seed soft-label
  assert.equal(count('class="zero"'), 2);
  assert.equal(count('no results yet'), 1); // the short panel
  assert.equal(count('<polyline'), 1); // LAD's two gaps joined
  for (const label of ['soft-label', 'LAD', 'SoLAD', 'short (1 epoch)', '1x (6 epochs)', 'AP gain over PAA'])
    assert.ok(svg.includes(`>${label}</text>`), label);
  assert.ok(svg.includes('>teacher gap: teacher AP − PAA AP</text>'));
  // the LAD small-gap point sits at x = gap 1.7 and y = gain 1.5 on the second panel's axes (ticks every 5 and 2)
  const panel = svg.split('<g class="panel">')[2]!;
  const tick = (v: string, axis: 'x' | 'y'): number => {
    const m = panel.match(
      axis === 'x'
        ? new RegExp(`<text x="([\\d.]+)" y="[\\d.]+" text-anchor="middle">${v}</text>`)
        : new RegExp(`<text x="[\\d.]+" y="([\\d.]+)" text-anchor="end">${v}</text>`),
    );
    assert.ok(m, `tick ${v} on ${axis}`);
    return Number(m[1]) - (axis === 'y' ? 4 : 0);
  };
  const [x0, x5, y0, y2] = [tick('0', 'x'), tick('5', 'x'), tick('0', 'y'), tick('2', 'y')];
  const lad = panel.match(
    /data-row="fashion_1x_lad_small">\n<title>[^<]*<\/title>\n<path[^>]*\/>\n<rect x="([\d.]+)" y="([\d.]+)"/,
  );
  assert.ok(lad, panel);
  assert.ok(Math.abs(Number(lad[1]) + 4 - (x0 + ((x5 - x0) * 1.7) / 5)) <= 0.2, 'x of the LAD point');
  assert.ok(Math.abs(Number(lad[2]) + 4 - (y0 + ((y2 - y0) * 1.5) / 2)) <= 0.2, 'y of the LAD point');
  // the same records in another order give the same bytes
  const again = renderGainSvg(fashion(), gainValues(summarize(regimes, [...recs].reverse(), seedsOf), fashion()));
  assert.equal(again, svg);
});

test('the SVG without any result: both panels say so, no points, still axes, zero lines and the legend', () => {
  const svg = renderGainSvg(fashion(), gainValues(summarize(regimes, [], seedsOf), fashion()));
  const count = (s: string): number => svg.split(s).length - 1;
  assert.equal(count('<g class="panel">'), 2);
  assert.equal(count('no results yet'), 2);
  assert.equal(count('<g class="point"'), 0);
  assert.equal(count('class="zero"'), 2);
  assert.equal(count('<g class="legend">'), 1);
  assert.equal(svg, renderGainSvg(fashion(), gainValues(summarize(regimes, [], seedsOf), fashion())));
});

test('niceTicks: 1, 2 or 5 × 10^k covering the range', () => {
  assert.deepEqual(niceTicks(-0.9, 12.3), { ticks: [-5, 0, 5, 10, 15], decimals: 0 });
  assert.deepEqual(niceTicks(-2, 2), { ticks: [-2, -1, 0, 1, 2], decimals: 0 });
  assert.deepEqual(niceTicks(-0.3, 0.7), { ticks: [-0.4, -0.2, 0, 0.2, 0.4, 0.6, 0.8], decimals: 1 });
  assert.deepEqual(niceTicks(1, 1), { ticks: [0, 0.5, 1, 1.5, 2], decimals: 1 });
});

test('the report: figures beside the markdown, linked relative to each file, precision notes, rewritten unchanged', () => {
  const tmp = tempDir();
  try {
    const res = join(tmp, 'res');
    const jobs = planJobs(regimes, { seeds: [0, 1, 2], rows: null, overrides: {}, resultsDir: res });
    const recs = fashionRecords();
    for (const r of recs) {
      const j = jobs.find((x) => x.row.id === r.row && x.seed === r.seed)!;
      // one record of a run trained in fp32, then bf16
      writeRecord(j.resultPath, r.row === 'fashion_1x_paa' && r.seed === 2 ? { ...r, precision: ['fp32', 'bf16'] } : r);
    }
    const rep = buildReport(regimes, jobs, res);
    assert.ok(rep.markdown.startsWith('# Where the LAD claims hold: teacher gap × schedule × dataset\n'));
    assert.ok(
      rep.markdown.includes('\n![fashion-det: AP gain over PAA against the teacher gap](regimes_fashion.svg)\n'),
    );
    assert.ok(rep.markdown.includes('\n![shapes: AP gain over PAA against the teacher gap](regimes_shapes.svg)\n'));
    assert.ok(
      rep.markdown.includes(
        '\n| 1x (6 epochs) | fashion-det teacher large | 44.9 | 33.5 ± 0.1 | +11.4 | — | +3.0 ± 0.8 | — |\n',
      ),
    );
    assert.ok(
      rep.markdown.includes(
        `\n- \`${join(res, 'regimes', 'fashion_1x_paa_s2.json')}\` trained in fp32, then bf16, not bf16 throughout\n`,
      ),
      rep.markdown,
    );
    assert.ok(
      rep.markdown.includes('| fashion-det 1x: PAA R18w25 | `configs/paa_r18_fashion_mini.yaml` + overrides | 3/3 |'),
    );
    assert.ok(
      rep.markdown.includes(
        '- fashion-det 1x, small gap: LAD > PAA: **holds** (+1.5 AP, seed spread 0.6; paper: no number)',
      ),
    );
    // the docs page is elsewhere: its links lead to the same files
    const docs = join(tmp, 'docs', 'paper-study.md');
    const link = relative(dirname(docs), join(res, 'regimes_fashion.svg'));
    assert.ok(rep.bodyAt(docs).includes(`](${link})`), link);
    assert.equal(rep.bodyAt(join(res, 'x.md')), rep.body);

    const written = writeReport(regimes, rep, res);
    assert.deepEqual(written, [
      join(res, 'regimes.md'),
      join(res, 'regimes_fashion.svg'),
      join(res, 'regimes_shapes.svg'),
    ]);
    const before = written.map((f) => readFileSync(f, 'utf8'));
    writeReport(regimes, buildReport(regimes, jobs, res), res);
    assert.deepEqual(
      written.map((f) => readFileSync(f, 'utf8')),
      before,
    );
    // a file of the same name that ladet did not write is never replaced
    writeFileSync(join(res, 'regimes_shapes.svg'), '<svg>mine</svg>');
    assert.throws(() => writeReport(regimes, rep, res), { name: 'OutputRefusedError' });
    // the other tables have no figures and no overrides line: their markdown is as before
    const t2 = buildReport(
      getStudy('table2'),
      planJobs(getStudy('table2'), { seeds: [0], rows: null, overrides: {}, resultsDir: res }),
      res,
    );
    assert.deepEqual(t2.figures, []);
    assert.ok(!t2.markdown.includes('overrides'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
