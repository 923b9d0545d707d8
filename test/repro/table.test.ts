// The table generator on recorded result files (test/fixtures/repro/table2: 3 seeds of baseline, soft-label and
// LAD, 2 of SoLAD, the seed-0 teacher), against hand-computed means, sample stds and verdicts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readRecord } from '../../src/repro/record.js';
import { getStudy } from '../../src/repro/studies.js';
import { judge, stat, summarize } from '../../src/repro/summary.js';
import { renderBody, renderTable, signed } from '../../src/repro/table.js';

const dir = fileURLToPath(new URL('../../../test/fixtures/repro/table2/', import.meta.url));
const records = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => readRecord(join(dir, f)));
const study = getStudy('table2');
const seedsOf = (row: { seeds?: readonly number[] }): readonly number[] => row.seeds ?? [0, 1, 2];

const close = (a: number, b: number, msg: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${msg}: ${a} vs ${b}`);

test('stat: mean and sample standard deviation (n - 1)', () => {
  const s = stat([0.3, 0.31, 0.32])!;
  close(s.mean, 0.31, 'mean');
  close(s.std, 0.01, 'std'); // sqrt((0.01^2 + 0 + 0.01^2) / 2)
  const two = stat([0.325, 0.335])!;
  close(two.std, Math.SQRT1_2 * 0.01, 'std of two'); // sqrt(2 * 0.005^2 / 1)
  assert.deepEqual(stat([0.4]), { mean: 0.4, std: 0, n: 1 });
  assert.equal(stat([]), null);
});

test('judge: holds / reversed only beyond the summed seed spread, within noise in between', () => {
  assert.equal(judge({ mean: 2.1, std: 0.5, n: 3 }, { mean: 1, std: 0.5, n: 3 }).verdict, 'holds');
  assert.equal(judge({ mean: 2, std: 0.5, n: 3 }, { mean: 1, std: 0.5, n: 3 }).verdict, 'holds within noise'); // diff == spread
  assert.equal(judge({ mean: 1, std: 0, n: 3 }, { mean: 1, std: 0, n: 3 }).verdict, 'behind within noise'); // a tie is no lead
  assert.equal(judge({ mean: 0.9, std: 0.5, n: 3 }, { mean: 1, std: 0.5, n: 3 }).verdict, 'behind within noise');
  assert.equal(judge({ mean: 0, std: 0.5, n: 3 }, { mean: 1, std: 0.5, n: 3 }).verdict, 'behind within noise'); // diff == -spread
  assert.equal(judge({ mean: 0, std: 0.4, n: 3 }, { mean: 1, std: 0.5, n: 3 }).verdict, 'reversed');
  assert.equal(judge({ mean: 0.99, std: 0, n: 3 }, { mean: 1, std: 0, n: 3 }).verdict, 'reversed'); // no spread at all
  assert.equal(judge(null, { mean: 1, std: 0, n: 3 }).verdict, 'no data');
  // one seed: no spread to compare with, so a difference either way is only "at one seed"
  assert.deepEqual(judge({ mean: 0.354, std: 0, n: 1 }, { mean: 0.335, std: 0.01, n: 3 }), {
    verdict: 'ahead at one seed',
    diff: 0.354 - 0.335,
    spread: null,
  });
  assert.equal(judge({ mean: 0.32, std: 0, n: 1 }, { mean: 0.335, std: 0, n: 1 }).verdict, 'behind at one seed');
});

test('summarize the recorded table2 files: per-row statistics and orderings', () => {
  assert.equal(records.length, 12);
  const s = summarize(study, records, seedsOf);
  const row = (id: string) => s.rows.find((r) => r.row.id === id)!;
  assert.deepEqual(row('baseline').seeds, [0, 1, 2]);
  close(row('baseline').AP!.mean, 0.31, 'baseline AP');
  close(row('baseline').AP!.std, 0.01, 'baseline AP std');
  close(row('lad').AP!.mean, 0.335, 'lad AP');
  close(row('lad').AP!.std, 0.005, 'lad AP std');
  close(row('kd').AP75!.mean, 0.355, 'kd AP75');
  close(row('lad').trainSeconds!.mean, 840, 'lad seconds');
  assert.deepEqual(row('solad').seeds, [0, 1]);
  assert.deepEqual(row('teacher').expected, [0]);

  const [ladBase, ladKd, soladLad] = s.claims;
  assert.equal(ladBase!.verdict, 'holds'); // +0.025 > 0.01 + 0.005
  close(ladBase!.diff!, 0.025, 'LAD - baseline');
  close(ladBase!.spread!, 0.015, 'spread');
  close(ladBase!.paperDiff!, 1.2, 'paper diff');
  assert.equal(ladBase!.incomplete, false);
  assert.equal(ladKd!.verdict, 'holds within noise'); // +0.005 <= 0.005 + 0.01
  assert.equal(soladLad!.verdict, 'behind within noise'); // -0.005 within the spread 0.007 + 0.005
  assert.equal(soladLad!.incomplete, true);
});

test('render: the markdown rows and ordering lines', () => {
  const s = summarize(study, records, seedsOf);
  const body = renderBody(s, { dir: 'test/fixtures/repro/table2/', records, notes: ['a note'] });
  const lines = body.split('\n');
  const expectLine = (l: string): void => assert.ok(lines.includes(l), `missing line:\n${l}\nin:\n${body}`);
  expectLine('| row | preset | seeds | AP | AP50 | AP75 | paper AP (COCO) | train min/run |');
  expectLine(
    '| teacher R18w50 (PAA, seed 0 only) | `configs/demo/teacher_r18w50.yaml` | 1/1 | 36.0 | 52.0 | 40.0 | 42.6 | 15.0 |',
  );
  expectLine(
    '| baseline R18w25 (PAA) | `configs/paa_r18_fashion_mini.yaml` | 3/3 | 31.0 ± 1.0 | 46.0 ± 1.0 | 34.0 ± 1.0 | 40.4 | 11.0 |',
  );
  expectLine(
    '| soft-label KD from R18w50 | `configs/lad/t2_kd_r18w25_from_r18w50.yaml` | 3/3 | 33.0 ± 1.0 | 49.0 ± 1.0 | 35.5 ± 0.5 | 41.3 | 13.3 |',
  );
  expectLine(
    '| LAD from R18w50 | `configs/lad/t2_lad_r18w25_from_r18w50.yaml` | 3/3 | 33.5 ± 0.5 | 50.0 ± 1.0 | 37.0 ± 1.0 | 41.6 | 14.0 |',
  );
  expectLine(
    '| SoLAD from R18w50 | `configs/lad/t2_solad_r18w25_from_r18w50.yaml` | 2/3 (incomplete) | 33.0 ± 0.7 | 49.5 ± 0.7 | 36.5 ± 0.7 | 42.4 | 16.0 |',
  );
  expectLine('- LAD > baseline: **holds** (+2.5 AP, seed spread 1.5; paper +1.2)');
  expectLine('- LAD > soft-label: **holds within noise** (+0.5 AP, seed spread 1.5; paper +0.3)');
  expectLine(
    '- SoLAD > LAD: **behind within noise** (-0.5 AP, seed spread 1.2; paper +0.8), incomplete: SoLAD 2/3 seeds',
  );
  expectLine('Sources: 12 result files in `test/fixtures/repro/table2/`; git commits 1111111 ×11, 2222222 (dirty) ×1.');
  expectLine('- a note');
  assert.ok(
    renderTable(s, { dir: 'x/', records, notes: [] }).startsWith(
      '# LAD Table 2: a bigger teacher into a smaller student\n\nHere: ',
    ),
  );
});

test('render: rows without results show dashes and orderings say no data', () => {
  const s = summarize(
    study,
    records.filter((r) => r.row !== 'kd'),
    seedsOf,
  );
  const body = renderBody(s, { dir: 'd/', records: [], notes: [] });
  assert.ok(
    body.includes(
      '| soft-label KD from R18w50 | `configs/lad/t2_kd_r18w25_from_r18w50.yaml` | 0/3 (incomplete) | — | — | — | 41.3 | — |',
    ),
    body,
  );
  assert.ok(body.includes('- LAD > soft-label: **no data** (paper +0.3), incomplete: soft-label 0/3 seeds'), body);
});

test('the CoLAD grid puts switch × criterion side by side', () => {
  const colad = getStudy('colad');
  const rec = (row: string, seed: number, ap: number) => ({
    ...records[0]!,
    table: 'colad',
    row,
    seed,
    metrics: { ...records[0]!.metrics, AP: ap },
  });
  const recs = [
    rec('local_stdmean', 0, 0.4),
    rec('local_stdmean', 1, 0.42),
    rec('network_fisher', 0, 0.38),
    rec('local_fisher_net1', 1, 0.35),
  ];
  const body = renderBody(
    summarize(colad, recs, () => [0, 1]),
    { dir: 'd/', records: recs, notes: [] },
  );
  assert.ok(
    body.includes(
      '**switch × criterion, R18w25 + R18w50 (network 2: R18w50, AP)**\n\n| switch | std/mean | Fisher |\n|---|---:|---:|\n| local | 41.0 ± 1.4 | — |\n| network | — | 38.0 |',
    ),
    body,
  );
  // the same runs' network 1 in a grid of its own
  assert.ok(
    body.includes(
      '**switch × criterion, R18w25 + R18w50 (network 1: R18w25, AP)**\n\n| switch | std/mean | Fisher |\n|---|---:|---:|\n| local | — | 35.0 |\n| network | — | — |',
    ),
    body,
  );
  assert.ok(
    body.includes('- CoLAD local Fisher, net 1 > R18w25 alone: **no data** (paper: no number), incomplete:'),
    body,
  );
  assert.ok(
    body.includes('| R18w50 alone (PAA) | `configs/demo/teacher_r18w50.yaml` | 0/2 (incomplete) | — | — | — | — | — |'),
    body,
  );
});

test('two records of one row and seed are an error', () => {
  assert.throws(() => summarize(study, [records[0]!, records[0]!], seedsOf), /table2: two results for row \w+ seed \d/);
});

test('AP differences keep their sign: two decimals where one would round a nonzero difference to 0.0', () => {
  assert.deepEqual([1.44, -0.66, 0.04, -0.03, 0.001, -0.001, 0, -0, 0.05].map(signed), [
    '+1.4',
    '-0.7',
    '+0.04',
    '-0.03',
    '0.00',
    '0.00',
    '0.0',
    '0.0',
    '+0.1',
  ]);
});
