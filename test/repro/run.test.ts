// Planning and the skip / collect / train decision of `ladet repro`, without training: run directories are written
// with the trainer's own log writers (JsonlLog, MetricsCsv) as a finished or partial run leaves them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { configHash, configToYaml, loadConfig } from '../../src/config/schema.js';
import { JsonlLog, MetricsCsv } from '../../src/engine/metrics_log.js';
import { fakeRun } from './fake_run.js';
import { planJobs, seedsOf, type Job } from '../../src/repro/plan.js';
import { readRecord, writeRecord, type ResultRecord } from '../../src/repro/record.js';
import { BUSY_MS, decide, runJob, teachersNeeded } from '../../src/repro/run.js';
import { lockRunDir } from '../../src/io/run_lock.js';
import { getStudy } from '../../src/repro/studies.js';
import { UNKNOWN_CODE } from '../../src/repro/run_state.js';

const git = () => ({ commit: 'abcdef0123456789abcdef0123456789abcdef01', dirty: false });
const mustNotTrain = async (): Promise<{ stopped: boolean }> => {
  throw new Error('must not train');
};

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'ladet-repro-'));
}

test('plan: the teacher first, then seed by seed; seed 0 keeps the preset name; threads=1 always', () => {
  const jobs = planJobs(getStudy('table2'), { seeds: [0, 1], rows: ['lad'], overrides: {}, resultsDir: 'R' });
  assert.deepEqual(
    jobs.map((j) => `${j.row.id}:${j.seed}`),
    ['teacher:0', 'lad:0', 'lad:1'],
  );
  const [teacher, lad0, lad1] = jobs as [Job, Job, Job];
  assert.equal(teacher.runDir, join('runs', 'demo_teacher_r18w50'));
  assert.deepEqual(lad0.overrides, { threads: 1 });
  assert.equal(lad0.runDir, join('runs', 't2_lad_r18w25_from_r18w50'));
  assert.equal(lad0.hash, configHash(loadConfig('configs/lad/t2_lad_r18w25_from_r18w50.yaml', { threads: 1 })));
  assert.deepEqual(lad1.overrides, { threads: 1, seed: 1, name: 't2_lad_r18w25_from_r18w50_s1' });
  assert.equal(lad1.config.seed, 1);
  assert.equal(lad1.config.distill.teacher?.weights, 'runs/demo_teacher_r18w50'); // seed-0 teacher for every seed
  assert.equal(lad1.resultPath, join('R', 'table2', 'lad_s1.json'));

  const t3 = planJobs(getStudy('table3'), { seeds: [0, 1, 2], rows: null, overrides: {}, resultsDir: 'R' });
  // the teacher, 4 rows × 3 seeds, and seeds 3, 4 of the two rows of the claim open at 3 seeds, last
  assert.equal(t3.length, 1 + 4 * 3 + 2 * 2);
  assert.deepEqual(
    t3.slice(13).map((j) => `${j.row.id}:${j.seed}`),
    ['baseline_1x:3', 'lad:3', 'baseline_1x:4', 'lad:4'],
  );
  assert.equal(t3[0]!.runDir, join('runs', 'paa_r18_fashion_mini'));
  assert.deepEqual(
    t3.slice(1, 5).map((j) => `${j.row.id}:${j.seed}`),
    ['baseline_1x:0', 'baseline_2x:0', 'kd:0', 'lad:0'],
  );
});

test('plan: another runsDir points distillation rows at the teacher trained there', () => {
  const jobs = planJobs(getStudy('table3'), {
    seeds: [2],
    rows: ['kd'],
    overrides: { runsDir: '/tmp/r' },
    resultsDir: 'R',
  });
  assert.equal(jobs[0]!.runDir, '/tmp/r/paa_r18_fashion_mini');
  assert.equal(jobs[1]!.overrides['distill.teacher.weights'], '/tmp/r/paa_r18_fashion_mini');
  assert.equal(jobs[1]!.config.distill.teacher?.weights, '/tmp/r/paa_r18_fashion_mini');
  assert.equal(jobs[1]!.runDir, '/tmp/r/t3_kd_r18w50_from_r18w25_s2');
});

test('plan: unknown tables and rows and overrides repro owns are usage errors listing the valid names', () => {
  assert.throws(() => getStudy('table9'), {
    name: 'UsageError',
    message: "ladet repro: unknown table 'table9' (expected one of: table2, table3, colad, cop, regimes, all)",
  });
  assert.throws(() => planJobs(getStudy('cop'), { seeds: [0], rows: ['cop', 'pa'], overrides: {}, resultsDir: 'R' }), {
    name: 'UsageError',
    message: 'ladet repro cop: unknown row pa (rows of cop: paa, paa_noiou, cop_iou, cop, iop_iou, iop)',
  });
  assert.throws(
    () => planJobs(getStudy('cop'), { seeds: [0], rows: null, overrides: { seed: 3, threads: 2 }, resultsDir: 'R' }),
    {
      name: 'UsageError',
      message:
        'ladet repro: seed, threads cannot be overridden (repro sets seed from seeds=, the run name from the preset and threads=1)',
    },
  );
});

test('skip, collect, train: the result file and the run directory decide; nothing trains twice', async () => {
  const tmp = tempDir();
  try {
    const [job] = planJobs(getStudy('cop'), {
      seeds: [1],
      rows: ['paa'],
      overrides: { runsDir: join(tmp, 'runs') },
      resultsDir: join(tmp, 'res'),
    }) as [Job];
    assert.equal(job.runDir, join(tmp, 'runs', 'paa_r18_fashion_mini_s1'));
    assert.deepEqual(decide(job), { action: 'train', epochsDone: 0 });

    fakeRun(job.runDir, job.hash, 3);
    // just written and not stopped: another process may be training it right now
    assert.throws(() => decide(job), {
      name: 'UsageError',
      message: new RegExp(
        `^${job.runDir.replace(/[.]/g, '\\.')} is unfinished \\(3/6 epochs\\) and was written \\d+ s ago: another process seems to be training it\\. .* rerun in \\d+ s$`,
      ),
    });
    const later = Date.now() + BUSY_MS + 1000;
    // however long it has been quiet, a live run lock means it is being trained (a long evaluation, say)
    const lock = lockRunDir(job.runDir, 'ladet train (paa_r18_fashion_mini_s1)');
    assert.throws(() => decide(job, later), {
      name: 'UsageError',
      message: new RegExp(
        `is unfinished \\(3/6 epochs\\) and is being trained by ladet train \\(paa_r18_fashion_mini_s1\\) \\(pid ${process.pid} on `,
      ),
    });
    lock.release();
    assert.deepEqual(decide(job, later), { action: 'train', epochsDone: 3 });
    // the trainer resumes (resume=true) and finishes: a resumed start, then epochs 4..6
    const outcome = await runJob(
      job,
      async () => {
        const log = new JsonlLog(job.runDir);
        log.write('start', { config: 'x', hash: job.hash, resume: true });
        const csv = new MetricsCsv(job.runDir, true);
        for (let e = 4; e <= 6; e++) {
          if (e % 2 === 0)
            writeFileSync(
              join(job.runDir, 'eval', `epoch_${e}.json`),
              JSON.stringify({ epoch: e, stats: { AP: 0.41, AP50: 0.6, AP75: 0.45, APs: 0.3, APm: 0.5, APl: -1 } }),
            );
          csv.add({ epoch: e, time: 200 });
          log.write('epoch', { epoch: e, time: 200 });
        }
        return { stopped: false };
      },
      { git, now: later },
    );
    assert.equal(outcome.kind, 'trained');
    const rec = readRecord(job.resultPath);
    assert.deepEqual(rec.metrics, { AP: 0.41, AP50: 0.6, AP75: 0.45, APs: 0.3, APm: 0.5, APl: -1 });
    assert.equal(rec.trainSeconds, 101 + 102 + 103 + 600);
    assert.equal(rec.trainedByRepro, true);
    assert.equal(rec.configHash, job.hash);
    assert.equal(rec.runConfigHash, job.hash);
    assert.equal(rec.gitCommit, git().commit);
    assert.deepEqual(
      [rec.table, rec.row, rec.seed, rec.config, rec.runDir],
      ['cop', 'paa', 1, 'configs/paa_r18_fashion_mini.yaml', job.runDir],
    );
    assert.deepEqual(rec.overrides, {
      runsDir: join(tmp, 'runs'),
      threads: 1,
      seed: 1,
      name: 'paa_r18_fashion_mini_s1',
    });

    // recorded with this hash: skipped, never trained
    assert.equal(decide(job).action, 'skip');
    assert.equal((await runJob(job, mustNotTrain, { git })).kind, 'skipped');

    // recorded under another hash: not skipped; the finished run is collected again without training
    writeRecord(job.resultPath, { ...rec, configHash: 'f'.repeat(64), metrics: { ...rec.metrics, AP: 0.01 } });
    const d = decide(job);
    assert.equal(d.action, 'collect');
    const again = await runJob(job, mustNotTrain, { git });
    assert.equal(again.kind, 'collected');
    assert.equal(readRecord(job.resultPath).metrics.AP, 0.41);
    assert.equal(readRecord(job.resultPath).trainedByRepro, false);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('the record names the code of every training segment (from the log), unknown for starts logged without it', async () => {
  const tmp = tempDir();
  try {
    const [job] = planJobs(getStudy('cop'), {
      seeds: [1],
      rows: ['paa'],
      overrides: { runsDir: join(tmp, 'runs') },
      resultsDir: join(tmp, 'res'),
    }) as [Job];
    const a = { version: '0.1.0', commit: 'a'.repeat(40), dirty: false };
    const b = { version: '0.1.0', commit: 'b'.repeat(40), dirty: true };
    // an older fresh start (replaced by the next one) does not count; a repeated version is listed once
    fakeRun(job.runDir, job.hash, 1, { code: { version: '0.0.9', commit: null, dirty: null } });
    fakeRun(job.runDir, job.hash, 2, { code: a });
    const log = new JsonlLog(job.runDir);
    for (const code of [b, b]) log.write('start', { config: 'x', hash: job.hash, resume: true, code }); // stopped at once
    fakeRun(job.runDir, job.hash, 6, { fresh: false, from: 3, code: a });
    const withCode = await runJob(job, mustNotTrain, { git });
    assert.equal(withCode.kind, 'collected');
    assert.deepEqual(readRecord(job.resultPath).trainedWith, [a, b]);
    assert.equal(readRecord(job.resultPath).gitCommit, git().commit); // the commit at record time stays beside it

    rmSync(join(tmp, 'runs'), { recursive: true });
    rmSync(job.resultPath);
    fakeRun(job.runDir, job.hash, 2);
    new JsonlLog(job.runDir).write('start', { config: 'x', hash: job.hash, resume: true, code: b });
    fakeRun(job.runDir, job.hash, 6, { fresh: false, from: 3 });
    await runJob(job, mustNotTrain, { git });
    assert.deepEqual(readRecord(job.resultPath).trainedWith, [UNKNOWN_CODE, b]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a stopped training writes no result; a run of another config is refused by name', async () => {
  const tmp = tempDir();
  try {
    const [job] = planJobs(getStudy('cop'), {
      seeds: [0],
      rows: ['cop'],
      overrides: { runsDir: join(tmp, 'runs') },
      resultsDir: join(tmp, 'res'),
    }) as [Job];
    assert.deepEqual(await runJob(job, async () => ({ stopped: true }), { git }), { kind: 'stopped' });
    assert.equal(existsSync(job.resultPath), false);

    fakeRun(job.runDir, 'e'.repeat(64), 6);
    assert.throws(() => decide(job), {
      name: 'UsageError',
      message: `${job.runDir} holds a run of another config (hash eeeeeeeeeeee…, repro expects ${job.hash.slice(0, 12)}…): move or delete that directory so repro can train this row, or give repro the same overrides that run had`,
    });
    // a fresh start with repro's config replaces the old run (the log keeps both)
    fakeRun(job.runDir, job.hash, 6);
    assert.equal(decide(job).action, 'collect');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a finished run from before a new schema default is the same experiment; an unfinished one cannot resume', () => {
  const tmp = tempDir();
  try {
    const [job] = planJobs(getStudy('table2'), {
      seeds: [0],
      rows: ['baseline'],
      overrides: { runsDir: join(tmp, 'runs') },
      resultsDir: join(tmp, 'res'),
    }) as [Job];
    // the config as an older ladet resolved it: without the COP kernel-size default
    const old = structuredClone(job.config) as unknown as { model: { head: Record<string, unknown> } };
    delete old.model.head.coeffKernelSize;
    const oldHash = createHash('sha256').update(JSON.stringify(old)).digest('hex');
    mkdirSync(job.runDir, { recursive: true });
    writeFileSync(join(job.runDir, 'config.yaml'), stringify(old));
    fakeRun(job.runDir, oldHash, 6);
    const d = decide(job);
    assert.equal(d.action, 'collect');
    assert.equal(d.action === 'collect' && d.run.runHash, oldHash);
    assert.equal(d.action === 'collect' && d.run.metrics.AP, 0.6);

    // a config.yaml that is not the one the log's hash names proves nothing
    writeFileSync(join(job.runDir, 'config.yaml'), configToYaml(job.config));
    assert.throws(() => decide(job), /holds a run of another config \(hash /);

    writeFileSync(join(job.runDir, 'config.yaml'), stringify(old));
    rmSync(join(job.runDir, 'log.jsonl'));
    fakeRun(job.runDir, oldHash, 2);
    assert.throws(() => decide(job), /under an older config schema, but unfinished, so it cannot be resumed/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a run stopped with Ctrl-C is resumed at once', () => {
  const tmp = tempDir();
  try {
    const [job] = planJobs(getStudy('cop'), {
      seeds: [0],
      rows: ['cop_iou'],
      overrides: { runsDir: join(tmp, 'runs') },
      resultsDir: join(tmp, 'res'),
    }) as [Job];
    fakeRun(job.runDir, job.hash, 4);
    new JsonlLog(job.runDir).write('stop', { iter: 900, epoch: 5, batch: 10 });
    assert.deepEqual(decide(job), { action: 'train', epochsDone: 4 });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a corrupt or invalid result JSON is an error naming the file', () => {
  const tmp = tempDir();
  try {
    const [job] = planJobs(getStudy('cop'), {
      seeds: [0],
      rows: ['iop'],
      overrides: { runsDir: join(tmp, 'runs') },
      resultsDir: join(tmp, 'res'),
    }) as [Job];
    mkdirSync(join(tmp, 'res', 'cop'), { recursive: true });
    writeFileSync(job.resultPath, '{"format": "ladet-repro-res');
    assert.throws(
      () => decide(job),
      (e: Error) =>
        e.message.startsWith(`${job.resultPath}: not a readable result JSON (`) &&
        e.message.endsWith('delete it to record the run again'),
    );
    const fixture = JSON.parse(
      readFileSync(new URL('../../../test/fixtures/repro/table2/lad_s1.json', import.meta.url), 'utf8'),
    ) as Record<string, unknown>;
    writeFileSync(
      job.resultPath,
      JSON.stringify({ ...fixture, metrics: { ...(fixture.metrics as object), AP: 'high' } }),
    );
    assert.throws(
      () => decide(job),
      (e: Error) => e.message.startsWith(`${job.resultPath}: not a valid repro result: metrics.AP: `),
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a recorded teacher whose weights are gone is trained again when a student still needs it', async () => {
  const tmp = tempDir();
  try {
    const [teacher, lad] = planJobs(getStudy('table2'), {
      seeds: [1],
      rows: ['lad'],
      overrides: { runsDir: join(tmp, 'runs') },
      resultsDir: join(tmp, 'res'),
    }) as [Job, Job];
    assert.equal(teacher.row.id, 'teacher');
    assert.equal(teacher.teacherRunDir, null);
    assert.equal(lad.teacherRunDir, teacher.runDir);
    // a fresh clone: the teacher's result file is committed, its run directory is not
    fakeRun(teacher.runDir, teacher.hash, 6);
    const collected = await runJob(teacher, mustNotTrain, { git });
    assert.equal(collected.kind, 'collected');
    const recorded = (collected as { record: ResultRecord }).record;
    rmSync(teacher.runDir, { recursive: true });

    // the student is not recorded: it reads the teacher, so the teacher must be trained again
    assert.deepEqual([...teachersNeeded([teacher, lad])], [teacher.runDir]);
    assert.equal(decide(teacher).action, 'skip'); // nobody asks for its weights: the record stands
    assert.deepEqual(decide(teacher, Date.now(), true), { action: 'train', epochsDone: 0, retrainOf: recorded });
    // a finished log without weights (someone deleted weights/) is no teacher either
    fakeRun(teacher.runDir, teacher.hash, 6);
    assert.deepEqual(decide(teacher, Date.now(), true), { action: 'train', epochsDone: 0, retrainOf: recorded });
    const retrained = await runJob(
      teacher,
      async (_job, retrainOf) => {
        assert.deepEqual(retrainOf, recorded); // the trainer is told it retrains a recorded run
        mkdirSync(join(teacher.runDir, 'weights'), { recursive: true });
        writeFileSync(join(teacher.runDir, 'weights', 'best.safetensors'), 'weights');
        return { stopped: false };
      },
      { git, needWeights: true },
    );
    assert.equal(retrained.kind, 'trained');
    // the record the earlier students were trained against stays; the retraining is recorded beside it
    assert.deepEqual(retrained.kind === 'trained' && retrained.kept, recorded);
    assert.deepEqual(readRecord(teacher.resultPath), recorded);
    const beside = join(tmp, 'res', 'table2', 'teacher_s0.retrained.json');
    assert.equal(retrained.kind === 'trained' && retrained.path, beside);
    assert.equal(readRecord(beside).trainedByRepro, true);
    // with weights back, it is skipped even when needed
    assert.equal(decide(teacher, Date.now(), true).action, 'skip');

    // a student trained now records which teacher weights it read, by content
    const trained = await runJob(
      lad,
      async () => {
        fakeRun(lad.runDir, lad.hash, 6);
        return { stopped: false };
      },
      { git },
    );
    assert.equal(trained.kind === 'trained' && trained.path, lad.resultPath);
    assert.deepEqual(readRecord(lad.resultPath).teacherWeights, {
      file: join(teacher.runDir, 'weights', 'best.safetensors'),
      sha256: createHash('sha256').update('weights').digest('hex'),
    });

    // once the student is recorded, nothing needs the teacher's weights
    rmSync(join(teacher.runDir, 'weights'), { recursive: true });
    assert.equal(teachersNeeded([teacher, lad]).size, 0);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test("a row of a CoLAD run's other network shares the run, starts at its first seed and is scored by evaluating that network", async () => {
  const tmp = tempDir();
  try {
    const study = getStudy('colad');
    const jobs = planJobs(study, {
      seeds: [0, 1],
      extraSeeds: false,
      rows: ['local_stdmean', 'local_stdmean_net1'],
      overrides: { runsDir: join(tmp, 'runs') },
      resultsDir: join(tmp, 'res'),
    });
    // network 1 is recorded from seed 1 on: no job at seed 0, and its seed-1 job is the same run as network 2's
    assert.deepEqual(
      jobs.map((j) => `${j.row.id}:${j.seed}`),
      ['local_stdmean:0', 'local_stdmean:1', 'local_stdmean_net1:1'],
    );
    const [, net2, net1] = jobs as [Job, Job, Job];
    assert.equal(net1.runDir, net2.runDir);
    assert.equal(net1.hash, net2.hash);
    assert.equal(net1.resultPath, join(tmp, 'res', 'colad', 'local_stdmean_net1_s1.json'));
    assert.deepEqual(seedsOf(net1.row, [0, 1, 2]), [1, 2]);

    fakeRun(net2.runDir, net2.hash, 6);
    const evaluated: string[] = [];
    const evaluate = async (j: Job, net: 1 | 2) => {
      evaluated.push(`${j.runDir}:${net}`);
      return { AP: 0.25, AP50: 0.4, AP75: 0.3, APs: 0.2, APm: 0.3, APl: -1 };
    };
    // network 2's row takes the run's own final evaluation, without evaluating anything
    const own = await runJob(net2, mustNotTrain, { git, evaluate });
    assert.equal(own.kind === 'collected' && own.record.metrics.AP, 0.6);
    assert.equal(own.kind === 'collected' && own.record.net, undefined);
    assert.deepEqual(evaluated, []);
    // network 1's row evaluates network 1 of that run and records it as such
    const other = await runJob(net1, mustNotTrain, { git, evaluate });
    assert.equal(other.kind, 'collected');
    assert.deepEqual(evaluated, [`${net1.runDir}:1`]);
    const rec = readRecord(net1.resultPath);
    assert.deepEqual(
      [rec.row, rec.net, rec.metrics.AP, rec.trainSeconds],
      ['local_stdmean_net1', 1, 0.25, readRecord(net2.resultPath).trainSeconds],
    );
    // without an evaluator the row cannot be scored: an error, no record
    rmSync(net1.resultPath);
    await assert.rejects(runJob(net1, mustNotTrain, { git }), {
      message: `colad local_stdmean_net1: the row reports network 1 of ${net1.runDir}, and no evaluator was given to score it`,
    });
    assert.equal(existsSync(net1.resultPath), false);

    // a preset that is not CoLAD cannot have a network-1 row
    const bad = { ...study, rows: [{ ...study.rows[0]!, id: 'x', net: 1 as const }] };
    assert.throws(() => planJobs(bad, { seeds: [0], rows: null, overrides: {}, resultsDir: 'R' }), {
      message:
        "configs/paa_r18_fashion_mini.yaml: study colad row x reports network 1 of a CoLAD run, but the preset's distill.strategy is self",
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
