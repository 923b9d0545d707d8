// `ladet repro` from the command line: argument errors, and report=true regenerating a table (and a docs section)
// from recorded result files without training.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planJobs } from '../../src/repro/plan.js';
import { writeRecord } from '../../src/repro/record.js';
import { getStudy } from '../../src/repro/studies.js';
import { lockRunDir } from '../../src/io/run_lock.js';
import { fakeRecord, fakeRun } from './fake_run.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const fixtures = fileURLToPath(new URL('../../../test/fixtures/repro/table2/', import.meta.url));
const ladet = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });

test('ladet repro: unknown tables, rows and arguments are one clear line', () => {
  let r = ladet('repro', 'table9');
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    "ladet repro: unknown table 'table9' (expected one of: table2, table3, colad, cop, regimes, all)\n",
  );
  r = ladet('repro', 'table2', 'rows=lad,sollad', 'report=true');
  assert.equal(
    r.stderr,
    'ladet repro table2: unknown row sollad (rows of table2: teacher, baseline, kd, lad, solad)\n',
  );
  r = ladet('repro', 'table2', 'seeds=0,x');
  assert.equal(
    r.stderr,
    'ladet repro: seeds= must be a comma list of non-negative integers, e.g. seeds=0,1,2 (got "0,x")\n',
  );
  r = ladet('repro', 'all', 'rows=lad');
  assert.equal(r.stderr, 'ladet repro: rows= needs one TABLE, not all\n');
  r = ladet('repro', 'cop', 'plan=true', 'readme=true');
  assert.equal(r.stderr, 'ladet repro: plan=true only shows what would be done; drop report= and readme=\n');
  r = ladet('repro', 'cop', 'sede=1');
  assert.equal(
    r.stderr,
    'ladet repro: unknown argument sede (expected: seeds, rows, plan, report, readme, results, or config overrides such as eval.scoreThr=0.1)\n',
  );
  assert.equal(r.status, 1);
});

test('ladet repro table2 report=true: the markdown and the docs section come from the result files', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ladet-repro-cli-'));
  try {
    const results = join(tmp, 'results');
    // the recorded fixtures, re-hashed to the presets' current config hashes (one left stale on purpose)
    const jobs = planJobs(getStudy('table2'), { seeds: [0, 1, 2], rows: null, overrides: {}, resultsDir: results });
    mkdirSync(join(results, 'table2'), { recursive: true });
    for (const f of readdirSync(fixtures)) {
      const rec = JSON.parse(readFileSync(join(fixtures, f), 'utf8')) as {
        row: string;
        seed: number;
        configHash: string;
      };
      const job = jobs.find((j) => j.row.id === rec.row && j.seed === rec.seed)!;
      if (!(rec.row === 'kd' && rec.seed === 2)) rec.configHash = job.hash;
      writeFileSync(job.resultPath, JSON.stringify(rec));
    }
    const readme = join(tmp, 'paper-study.md');
    writeFileSync(readme, '# x\n<!-- repro:table2 -->\n<!-- /repro:table2 -->\nend\n');
    const r = ladet('repro', 'table2', 'report=true', `results=${results}`, `readme=${readme}`);
    assert.equal(r.stderr, '');
    // the cost covers every table's trainings at seeds 0-2 and the open claims' rows at 3-4 (63 distinct); only
    // table2's 11 current records exist
    assert.equal(
      r.stdout,
      `wrote ${join(results, 'table2.md')}\nupdated the table2 section of ${readme}\n` +
        `wrote ${join(results, 'cost.md')}: 11 of 63 trainings done\n${readme}: no <!-- repro:cost --> marker, cost left out\n`,
    );
    const cost = readFileSync(join(results, 'cost.md'), 'utf8');
    assert.ok(cost.includes('\n| all | 63 | 11 | '), cost);
    const md = readFileSync(join(results, 'table2.md'), 'utf8');
    assert.ok(md.startsWith('# LAD Table 2: a bigger teacher into a smaller student\n'));
    // kd seed 2 left out: 0.32 and 0.33 remain
    assert.ok(
      md.includes(
        '| soft-label KD from R18w50 | `configs/lad/t2_kd_r18w25_from_r18w50.yaml` | 2/3 (incomplete) | 32.5 ± 0.7 |',
      ),
      md,
    );
    assert.ok(
      md.includes(
        `- left out \`${join(results, 'table2', 'kd_s2.json')}\`: recorded for config hash c2c2c2c2c2c2…, configs/lad/t2_kd_r18w25_from_r18w50.yaml now gives ${jobs.find((j) => j.row.id === 'kd' && j.seed === 2)!.hash.slice(0, 12)}… (rerun \`ladet repro table2\`)`,
      ),
      md,
    );
    assert.ok(md.includes('- LAD > baseline: **holds** (+2.5 AP, seed spread 1.5; paper +1.2)'));
    const section = readFileSync(readme, 'utf8');
    const body = md.slice(md.indexOf('\n\n') + 2).trimEnd();
    assert.equal(section, `# x\n<!-- repro:table2 -->\n${body}\n<!-- /repro:table2 -->\nend\n`);
    // asking for one seed (as when training seed 2 alone) still reports the study's three, and so does seed 5: a run
    // beside the study, not in its tables
    const head = '# Training cost of the study (seeds 0, 1, 2, some rows also 3, 4)\n';
    for (const seeds of ['seeds=1', 'seeds=5']) {
      assert.equal(ladet('repro', 'table2', 'report=true', seeds, `results=${results}`).stderr, '');
      assert.equal(readFileSync(join(results, 'table2.md'), 'utf8'), md, seeds);
      assert.ok(readFileSync(join(results, 'cost.md'), 'utf8').startsWith(head), seeds);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('two ladet repro commands share a table: a run another process trains is left to it, with the students that read it', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ladet-repro-busy-'));
  try {
    const runs = join(tmp, 'runs');
    const results = join(tmp, 'res');
    const jobs = planJobs(getStudy('table2'), {
      seeds: [0, 1],
      rows: ['teacher', 'lad'],
      overrides: { runsDir: runs },
      resultsDir: results,
    });
    const job = (row: string, seed: number) => jobs.find((j) => j.row.id === row && j.seed === seed)!;
    const teacher = job('teacher', 0);
    assert.equal(job('lad', 0).teacherRunDir, teacher.runDir);
    // the teacher half trained and locked by a live process (this one); LAD seed 1 already recorded
    fakeRun(teacher.runDir, teacher.hash, 3);
    const lock = lockRunDir(teacher.runDir, 'ladet train (t2_teacher)');
    writeRecord(job('lad', 1).resultPath, fakeRecord(job('lad', 1), 0.3));
    try {
      const r = ladet('repro', 'table2', 'rows=teacher,lad', 'seeds=0,1', `runsDir=${runs}`, `results=${results}`);
      assert.equal(r.stderr, '');
      assert.equal(r.status, 75);
      const lines = r.stdout.split('\n');
      const at = (j: (typeof jobs)[number], k: number) => `[${k}/3] table2 ${j.row.id} seed ${j.seed} (${j.runDir}): `;
      assert.ok(
        lines[0]!.startsWith(
          `${at(teacher, 1)}left to another process: ${teacher.runDir} is unfinished (3/${teacher.config.schedule.epochs} epochs) and is being trained by ladet train (t2_teacher) (pid ${process.pid} `,
        ),
        lines[0],
      );
      assert.equal(
        lines[1],
        `${at(job('lad', 0), 2)}left for later: its teacher ${teacher.runDir} is being trained by another process`,
      );
      assert.equal(lines[2], `${at(job('lad', 1), 3)}already recorded, AP 30.0 -> ${job('lad', 1).resultPath}`);
      assert.ok(
        r.stdout.includes(
          '\n1 run left to other processes, and 1 student waiting for a teacher among them: run the same command again once they finish (exit code 75)\n',
        ),
        r.stdout,
      );
      // nothing of the busy run was touched, and no run of the waiting student was started
      assert.ok(!existsSync(job('lad', 0).runDir));
    } finally {
      lock.release();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
