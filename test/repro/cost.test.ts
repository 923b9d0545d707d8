// The study's training cost: shared run directories counted once, missing runs estimated from their preset's
// recorded seeds, and the budget verdict, on hand-made jobs and records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimator, evalPasses, renderCost, studyCost, type CostJob } from '../../src/repro/cost.js';

type J = CostJob & { table: string };
const job = (table: string, configPath: string, seed: number): J => ({
  table,
  configPath,
  experiment: configPath,
  config: { schedule: { epochs: 6 } },
  seed,
  runDir: `runs/${configPath}_s${seed}`,
});

// Preset a: seeds 0 and 1 recorded (600 s, 900 s), seed 2 missing; it is in two tables, whose records of the shared
// seed-0 run disagree (the first found counts). Preset b: seed 0 recorded in table y only. Preset c: never recorded.
const jobs: J[] = [
  job('x', 'a', 0),
  job('x', 'a', 1),
  job('x', 'a', 2),
  job('y', 'a', 0),
  job('y', 'a', 1),
  job('y', 'a', 2),
  job('y', 'b', 0),
  job('y', 'b', 1),
  job('y', 'c', 1),
];
const seconds: Record<string, number> = {
  'x:runs/a_s0': 600,
  'y:runs/a_s0': 700,
  'y:runs/a_s1': 900,
  'y:runs/b_s0': 1800,
};
const recordOf = (j: J) =>
  seconds[`${j.table}:${j.runDir}`] === undefined ? null : { trainSeconds: seconds[`${j.table}:${j.runDir}`]! };

test('studyCost: one count per run directory, estimates from the same preset, unknown without one', () => {
  const c = studyCost(jobs, recordOf);
  assert.deepEqual(c.seeds, [
    { seed: 0, runs: 2, done: 2, doneSeconds: 600 + 1800, restSeconds: 0, fromPreset: 0, unknown: 0 },
    // a_s1 recorded only by table y: still done; b_s1 estimated from b_s0; c_s1 has nothing to go by
    { seed: 1, runs: 3, done: 1, doneSeconds: 900, restSeconds: 1800, fromPreset: 0, unknown: 1 },
    { seed: 2, runs: 1, done: 0, doneSeconds: 0, restSeconds: (600 + 900) / 2, fromPreset: 0, unknown: 0 },
  ]);
  assert.deepEqual([c.runs, c.done, c.doneSeconds, c.restSeconds, c.unknown], [6, 3, 3300, 2550, 1]);
});

test('renderCost: the per-seed table, the wall clock with parallel runs and the budget verdict', () => {
  const known = studyCost(
    jobs.filter((j) => j.configPath !== 'c'),
    recordOf,
  );
  const text = renderCost(known, { lanes: 2, budgetHours: 1 });
  const lines = text.split('\n');
  assert.deepEqual(lines.slice(0, 6), [
    '| seed | trainings | done | recorded h | estimated h for the rest |',
    '|---:|---:|---:|---:|---:|',
    '| 0 | 2 | 2 | 0.7 | 0.0 |',
    '| 1 | 2 | 1 | 0.3 | 0.5 |',
    '| 2 | 1 | 0 | 0.0 | 0.2 |',
    '| all | 5 | 3 | 0.9 | 0.7 |',
  ]);
  // 3300 + 2550 s = 1.625 h of training, 0.8 h on two lanes
  assert.ok(
    lines[7]!.startsWith(
      'Training time of the whole study: 1.6 h (0.9 h recorded + 0.7 h estimated), 0.8 h wall clock with 2 runs side by side: **within** the 1-hour budget.',
    ),
    lines[7],
  );
  assert.ok(renderCost(known, { lanes: 1, budgetHours: 1 }).includes('**over** the 1-hour budget'));
  const unknown = renderCost(studyCost(jobs, recordOf), { lanes: 2, budgetHours: 100 });
  assert.ok(unknown.includes('| 1 | 3 | 1 | 0.3 | 0.5 (+1 without an estimate) |'), unknown);
  assert.ok(
    unknown.includes('side by side: **not known yet** against the 100-hour budget (1 without an estimate).'),
    unknown,
  );
});

test('estimator: a row never run is estimated per epoch from its preset file, scaled to its epochs', () => {
  // preset a (6 epochs): recorded at 600 and 900 s, i.e. 100 and 150 s per epoch. Row r1 is preset a changed by row
  // overrides to 1 epoch (another experiment), row r6 to 12 epochs; r1 has seed 0 recorded at 130 s.
  const changed = (experiment: string, epochs: number, seed: number): J => ({
    ...job('z', 'a', seed),
    experiment,
    config: { schedule: { epochs } },
    runDir: `runs/${experiment}_s${seed}`,
  });
  const all: J[] = [...jobs, changed('r1', 1, 0), changed('r1', 1, 1), changed('r12', 12, 0)];
  const rec = (j: J) => (j.experiment === 'r1' && j.seed === 0 ? { trainSeconds: 130 } : recordOf(j));
  const estimate = estimator(all, rec);
  // the same experiment's recorded seeds come first: r1 seed 1 from r1 seed 0 alone
  assert.deepEqual(estimate(changed('r1', 1, 1)), { seconds: 130, basis: 'row' });
  // r12 has no seed recorded: per epoch over the preset file's runs (100, 150 and r1's 130), times 12
  assert.deepEqual(estimate(changed('r12', 12, 0)), { seconds: ((100 + 150 + 130) / 3) * 12, basis: 'preset' });
  assert.deepEqual(estimate(job('x', 'a', 2)), { seconds: 750, basis: 'row' });
  assert.equal(estimate(job('y', 'c', 1)), null);
  const c = studyCost(all, rec);
  assert.equal(c.fromPreset, 1);
  assert.ok(
    renderCost(c, { lanes: 2, budgetHours: 9, what: 'this study', budgetWhy: 'three sessions' }).includes(
      'Training time of this study: ',
    ),
  );
  assert.ok(
    renderCost(c, { lanes: 2, budgetHours: 9 }).includes(
      "preset's mean over the seeds recorded (1 of them, whose row has no recorded seed yet: the mean per epoch of the recorded runs of the same preset file in another setting, times their epochs);",
    ),
  );
});

test('evalPasses: every eval.every epochs and after the last one', () => {
  assert.equal(evalPasses({ schedule: { epochs: 6 }, eval: { every: 2 } }), 3);
  assert.equal(evalPasses({ schedule: { epochs: 1 }, eval: { every: 2 } }), 1);
  assert.equal(evalPasses({ schedule: { epochs: 12 }, eval: { every: 4 } }), 3);
  assert.equal(evalPasses({ schedule: { epochs: 7 }, eval: { every: 3 } }), 3);
  assert.equal(evalPasses({ schedule: { epochs: 6 }, eval: { every: 0 } }), 0);
});
