// `ladet repro ... plan=true`: what each row × seed would do and the training time ahead, from files alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { presetMeanSeconds } from '../../src/repro/cost.js';
import { planJobs, type Job } from '../../src/repro/plan.js';
import { writeRecord, type ResultRecord } from '../../src/repro/record.js';
import { jobStatuses, renderStatus } from '../../src/repro/status.js';
import { getStudy } from '../../src/repro/studies.js';
import { fakeRecord, fakeRun } from './fake_run.js';

const record = (job: Job, ap: number, trainSeconds: number): ResultRecord => fakeRecord(job, ap, { trainSeconds });

test('plan=true: recorded, to collect, train from the epoch reached, busy, shared run, and the hours ahead', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ladet-repro-status-'));
  try {
    const opts = { overrides: { runsDir: join(tmp, 'runs') }, resultsDir: join(tmp, 'res') };
    const cop = planJobs(getStudy('cop'), { ...opts, seeds: [0, 1, 2], rows: ['paa', 'cop'] });
    const byId = (id: string, seed: number): Job => cop.find((j) => j.row.id === id && j.seed === seed)!;
    // paa: seeds 0 and 1 recorded (600 s and 900 s: the preset's mean is 750 s); seed 2 stopped after 2 of 6 epochs
    writeRecord(byId('paa', 0).resultPath, record(byId('paa', 0), 0.335, 600));
    writeRecord(byId('paa', 1).resultPath, record(byId('paa', 1), 0.336, 900));
    fakeRun(byId('paa', 2).runDir, byId('paa', 2).hash, 2);
    const old = (Date.now() - 10 * 60 * 1000) / 1000;
    for (const f of ['log.jsonl', 'metrics.csv']) utimesSync(join(byId('paa', 2).runDir, f), old, old);
    // cop: seed 0 finished but not collected, seed 1 being written right now, seed 2 absent (never recorded: no estimate)
    fakeRun(byId('cop', 0).runDir, byId('cop', 0).hash, 6);
    fakeRun(byId('cop', 1).runDir, byId('cop', 1).hash, 3);
    // table3's 1x baseline and CoLAD's R18w50-alone are one preset: one run directory trained once
    const t3 = planJobs(getStudy('table3'), { ...opts, seeds: [1], extraSeeds: false, rows: ['baseline_1x'] }).filter(
      (j) => j.row.id === 'baseline_1x',
    );
    const colad = planJobs(getStudy('colad'), { ...opts, seeds: [1], extraSeeds: false, rows: ['alone_r18w50'] });
    assert.equal(t3[0]!.runDir, colad[0]!.runDir);
    // a directory holding a run of another config cannot be used
    const other = planJobs(getStudy('cop'), { ...opts, seeds: [1], rows: ['iop'] })[0]!;
    fakeRun(other.runDir, 'f'.repeat(64), 1);

    const means = presetMeanSeconds(cop, (j) =>
      j.row.id === 'paa' && j.seed < 2 ? { trainSeconds: j.seed === 0 ? 600 : 900 } : null,
    );
    assert.deepEqual([...means], [['configs/paa_r18_fashion_mini.yaml', 750]]);
    const estimate = (j: Job): number | null =>
      j.configPath === 'configs/demo/teacher_r18w50.yaml' ? 2400 : (means.get(j.configPath) ?? null);
    const jobs = [...cop, ...t3, ...colad, other];
    const st = jobStatuses(jobs, estimate);
    const kinds = st.map((s) => `${s.job.row.id}:${s.job.seed}:${s.kind}`);
    assert.deepEqual(kinds, [
      'paa:0:recorded',
      'cop:0:collect',
      'paa:1:recorded',
      'cop:1:busy',
      'paa:2:train',
      'cop:2:train',
      'baseline_1x:1:train',
      'alone_r18w50:1:train',
      'iop:1:problem',
    ]);
    const train = st.filter((s) => s.kind === 'train');
    // 4 of 6 epochs left of a 750 s preset; an unrecorded preset has no estimate; the shared run costs nothing twice
    assert.deepEqual(
      train.map((s) => s.kind === 'train' && [s.epochsDone, s.seconds, s.sharedWith?.row.id ?? null]),
      [
        [2, 500, null],
        [0, null, null],
        [0, 2400, null],
        [0, 0, 'baseline_1x'],
      ],
    );
    const collect = st[1]!;
    assert.equal(collect.kind === 'collect' && collect.ap, 0.6);
    const busy = st[3]!;
    assert.equal(busy.kind === 'busy' && busy.epochsDone, 3);

    const lines = renderStatus(st, 2);
    const line = (id: string): string => lines.find((l) => l.startsWith(id))!;
    assert.match(line('cop paa seed 0 '), /recorded, AP 33\.5$/);
    assert.match(line('cop cop seed 0 '), /finished, to collect: AP 60\.0$/);
    assert.match(line('cop cop seed 1 '), /being trained by another process \(3\/6 epochs done, written \d+ s ago\)$/);
    assert.match(line('cop paa seed 2 '), /train from epoch 3 of 6, ~8 min$/);
    assert.match(line('cop cop seed 2 '), /train 6 epochs, no estimate \(preset never recorded\)$/);
    assert.match(line('colad alone_r18w50 seed 1 '), /trained with table3 baseline_1x seed 1 \(same run\)$/);
    assert.match(line('cop iop seed 1 '), /cannot run: .* holds a run of another config \(hash ffffffffffff…/);
    // the columns line up: every run directory starts at the same offset
    const at = jobs.map((j, i) => lines[i]!.indexOf(j.runDir));
    assert.equal(new Set(at).size, 1);
    assert.deepEqual(lines.slice(-3), [
      '',
      '9 row × seed results: 2 recorded, 1 to collect, 3 trainings to run, 1 being trained elsewhere, 1 that cannot run.',
      'Training ahead: ~0.8 h at the recorded pace (2 runs side by side on this machine, so ~0.4 h wall clock with 2 such commands running), plus 1 without an estimate.',
    ]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('plan=true: a recorded teacher without weights is shown as trained again while a student still needs it', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ladet-status-'));
  try {
    const jobs = planJobs(getStudy('table3'), {
      overrides: { runsDir: join(tmp, 'runs') },
      resultsDir: join(tmp, 'res'),
      seeds: [1],
      extraSeeds: false,
      rows: ['lad'],
    });
    const [teacher, lad] = jobs as [Job, Job];
    writeRecord(teacher.resultPath, record(teacher, 0.335, 1300));
    const st = jobStatuses(jobs, () => 1300);
    assert.deepEqual(
      st.map((s) => `${s.job.row.id}:${s.kind}`),
      ['teacher:train', 'lad:train'],
    );
    assert.equal(st[0]!.kind === 'train' && st[0]!.weightsGone, true);
    assert.equal(st[1]!.kind === 'train' && st[1]!.weightsGone, false);
    const lines = renderStatus(st, 2);
    assert.match(
      lines[0]!,
      /^table3 teacher seed 0 .* train 6 epochs, ~22 min \(recorded, but its weights are not here and later rows read them\)$/,
    );
    assert.match(lines.at(-1)!, /^Training ahead: ~0\.7 h /);

    // with the weights back it is only recorded; with the student recorded too, nothing needs them
    mkdirSync(join(teacher.runDir, 'weights'), { recursive: true });
    writeFileSync(join(teacher.runDir, 'weights', 'last.safetensors'), 'w');
    assert.deepEqual(
      jobStatuses(jobs, () => 1300).map((s) => s.kind),
      ['recorded', 'train'],
    );
    rmSync(join(teacher.runDir, 'weights'), { recursive: true });
    writeRecord(lad.resultPath, record(lad, 0.36, 3200));
    assert.deepEqual(
      jobStatuses(jobs, () => 1300).map((s) => s.kind),
      ['recorded', 'recorded'],
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('plan=true: a finished CoLAD run is collected for its network-1 row by evaluating that network', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ladet-repro-status-'));
  try {
    const jobs = planJobs(getStudy('colad'), {
      seeds: [1],
      rows: ['pair_local_stdmean', 'pair_local_stdmean_net1'],
      overrides: { runsDir: join(tmp, 'runs') },
      resultsDir: join(tmp, 'res'),
    });
    const [net2, net1] = jobs as [Job, Job];
    const before = jobStatuses(jobs, () => 1800);
    // both rows wait for one training
    assert.deepEqual(
      before.map((s) => s.kind),
      ['train', 'train'],
    );
    assert.equal(before[1]!.kind === 'train' && before[1]!.sharedWith, net2);
    fakeRun(net2.runDir, net2.hash, 6);
    const st = jobStatuses(jobs, () => 1800, Date.now() + 10 * 60 * 1000);
    assert.equal(st[0]!.kind === 'collect' && st[0]!.ap, 0.6);
    assert.equal(st[1]!.kind === 'collect' && st[1]!.ap, null); // network 2's AP is not network 1's
    const lines = renderStatus(st, 2);
    assert.match(
      lines[1]!,
      new RegExp(
        `^colad pair_local_stdmean_net1 seed 1  ${net1.runDir.replace(/[.]/g, '\\.')}  finished, to collect: evaluates network 1$`,
      ),
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
