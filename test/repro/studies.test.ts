// The study definitions are data: every name they use must resolve, so a typo fails here and not after hours of
// training (summarize() and the grid renderer would only throw once the table is written).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planJobs, seedsOf } from '../../src/repro/plan.js';
import { STUDIES } from '../../src/repro/studies.js';

test('every study names only its own rows, each row id once, and every preset loads', () => {
  for (const s of STUDIES) {
    const ids = s.rows.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length, `${s.name}: a row id repeats`);
    const known = (id: string, where: string): void =>
      assert.ok(ids.includes(id), `${s.name}: ${where} names unknown row ${id}`);
    for (const c of s.claims) {
      known(c.better, `ordering '${c.text}'`);
      known(c.worse, `ordering '${c.text}'`);
      assert.notEqual(c.better, c.worse, `${s.name}: ordering '${c.text}' compares a row with itself`);
    }
    for (const g of s.grids ?? []) {
      assert.equal(g.cells.length, g.rowHeads.length, `${s.name}: grid '${g.title}' rows`);
      for (const row of g.cells) {
        assert.equal(row.length, g.colHeads.length, `${s.name}: grid '${g.title}' columns`);
        for (const id of row) known(id, `grid '${g.title}'`);
      }
    }
    for (const r of s.rows) if (r.teacher) known(r.teacher, `row ${r.id}'s teacher`);
    // loads every preset (and checks a network row is a CoLAD preset); the study's 3 seeds for every row but the
    // fixed-seed ones and those that start later
    const jobs = planJobs(s, { seeds: [0, 1, 2], rows: null, overrides: {}, resultsDir: 'R' });
    for (const r of s.rows) {
      const seeds = jobs.filter((j) => j.row.id === r.id).map((j) => j.seed);
      assert.deepEqual(seeds, [...seedsOf(r, [0, 1, 2])], `${s.name} ${r.id}`);
      if (!r.seeds && !r.firstSeed)
        assert.deepEqual(seeds, [0, 1, 2, ...(r.extraSeeds ?? [])], `${s.name} ${r.id}: fewer than 3 seeds`);
    }
  }
});

test("a network row shares its run with the row of the same preset, and names the other network than the run's", () => {
  let seen = 0;
  for (const s of STUDIES) {
    const jobs = planJobs(s, { seeds: [1], rows: null, overrides: {}, resultsDir: 'R' });
    for (const j of jobs.filter((x) => x.row.net !== undefined)) {
      seen++;
      const own = jobs.filter((x) => x.runDir === j.runDir && x.row.net === undefined);
      assert.equal(own.length, 1, `${s.name} ${j.row.id}: no row scores the run's own network`);
      assert.notEqual(
        j.row.net,
        j.config.distill.colad?.evalNet ?? 2,
        `${s.name} ${j.row.id}: repeats the run's own evaluation`,
      );
    }
  }
  assert.equal(seen, 6); // network 1 of the six CoLAD presets
});

test("the two claims open at 3 seeds run 5 by default: Table 3's LAD vs baseline 1x, CoLAD's network 2 vs alone", () => {
  const five = STUDIES.flatMap((s) => s.rows.filter((r) => r.extraSeeds).map((r) => `${s.name} ${r.id}`));
  assert.deepEqual(five, ['table3 baseline_1x', 'table3 lad', 'colad alone_r18w50', 'colad local_stdmean']);
  const table3 = STUDIES.find((s) => s.name === 'table3')!;
  const ids = (jobs: readonly { row: { id: string }; seed: number }[]): string[] =>
    jobs.map((j) => `${j.row.id}:${j.seed}`);
  // the study's seeds row by row, then the extra seeds; the teacher first
  assert.deepEqual(ids(planJobs(table3, { seeds: [0, 1, 2], rows: ['lad', 'kd'], overrides: {}, resultsDir: 'R' })), [
    'teacher:0',
    'kd:0',
    'lad:0',
    'kd:1',
    'lad:1',
    'kd:2',
    'lad:2',
    'lad:3',
    'lad:4',
  ]);
  // seeds= names exactly what to train (extraSeeds false): seed 4 alone, or seed 1 with no extras
  const only = (seeds: number[]): string[] =>
    ids(planJobs(table3, { seeds, extraSeeds: false, rows: ['lad', 'kd'], overrides: {}, resultsDir: 'R' }));
  assert.deepEqual(only([4]), ['teacher:0', 'kd:4', 'lad:4']);
  assert.deepEqual(only([1]), ['teacher:0', 'kd:1', 'lad:1']);
  const lad = table3.rows.find((r) => r.id === 'lad')!;
  assert.deepEqual(seedsOf(lad, [2, 0]), [0, 2, 3, 4]);
  assert.deepEqual(seedsOf(lad, [2, 0], false), [0, 2]);
});
