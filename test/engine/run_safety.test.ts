// Issue 19 in the trainer: a run directory has one owner (lock), a fresh start never replaces a run unless asked,
// a refused or failed start changes nothing, run names stay inside runsDir, stale temp files are cleaned up, and an
// epoch resumed mid-way logs the uninterrupted run's metrics row.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig, type ConfigInput } from '../../src/config/schema.js';
import { train } from '../../src/engine/trainer.js';
import { trainDetector } from '../../src/api/index.js';
import { parseMetricsCsv } from '../../src/engine/metrics_log.js';
import { lockRunDir, LOCK_FILE, RunLockedError } from '../../src/io/run_lock.js';
import { trainInWorker } from '../../src/engine/train_worker.js';
import { isBusyError } from '../../src/repro/run.js';

let work = '';
const quiet = { onMessage: (): void => {} };

function tiny(name: string, over: Partial<ConfigInput> = {}): ConfigInput {
  return {
    name,
    seed: 0,
    threads: 1,
    runsDir: join(work, 'runs'),
    data: {
      builtin: 'shapes',
      builtinArgs: { train: 8, val: 4, size: 96, maxItems: 3 },
      root: join(work, 'shapes'),
      trainScales: [[96, 96]],
      testScale: [96, 96],
      batchSize: 4,
      workers: 0,
    },
    model: {
      backbone: { depth: 18, widthMultiplier: 0.125 },
      neck: { outChannels: 16, numOuts: 4 },
      head: { featChannels: 16, stackedConvs: 1, gnGroups: 4, priorProb: 0.1 },
      anchors: { strides: [8, 16, 32, 64], octaveBaseScale: 4 },
    },
    schedule: { epochs: 2, warmupIters: 1, steps: [1] },
    eval: { every: 2 },
    ...over,
  };
}

/** Every file under `dir` with its bytes, to show that nothing changed. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(p.slice(dir.length + 1), readFileSync(p).toString('base64'));
    }
  };
  walk(dir);
  return out;
}

let finished = '';
before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ladet-run-safety-'));
  finished = (await train(parseConfig(tiny('finished')), { hooks: quiet })).runDir;
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('a fresh start on a finished run is refused and changes nothing; overwrite=true replaces it', async () => {
  const before = snapshot(finished);
  await assert.rejects(train(parseConfig(tiny('finished')), { hooks: quiet }), (e: Error) => {
    assert.match(
      e.message,
      /runs\/finished already holds a run \(config\.yaml, metrics\.csv, log\.jsonl, weights\/last\.safetensors, weights\/best\.safetensors, events\.out\.tfevents\.[^)]*\); pass resume=true to continue it, or overwrite=true to replace it/,
    );
    return true;
  });
  assert.deepEqual(snapshot(finished), before);
  // the library API obeys the same rule
  await assert.rejects(trainDetector(tiny('finished'), { onMessage: () => {} }), /already holds a run/);
  assert.deepEqual(snapshot(finished), before);

  const copy = tiny('replaced');
  await train(parseConfig(copy), { hooks: quiet });
  const keep = join(work, 'runs', 'replaced', 'notes.txt');
  writeFileSync(keep, 'mine');
  const lines: string[] = [];
  const r = await train(parseConfig({ ...copy, seed: 1 }), {
    overwrite: true,
    hooks: { onMessage: (l) => lines.push(l) },
  });
  assert.equal(r.stopped, false);
  assert.ok(
    lines.some((l) => /overwrite: removed the earlier run's config\.yaml, metrics\.csv, log\.jsonl/.test(l)),
    lines.join('\n'),
  );
  assert.equal(readFileSync(keep, 'utf8'), 'mine', 'a file the run did not write stays');
  // one start in the log, one TensorBoard file: the old run's logs are gone, not appended to
  const starts = readFileSync(join(r.runDir, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .filter((l) => l.includes('"event":"start"'));
  assert.equal(starts.length, 1);
  assert.equal(readdirSync(r.runDir).filter((f) => f.startsWith('events.out.tfevents.')).length, 1);
  assert.match(readFileSync(join(r.runDir, 'config.yaml'), 'utf8'), /^seed: 1$/m);
});

test('a refused resume (another config) and a failed start (device=banana) leave config.yaml byte-identical', async () => {
  const before = snapshot(finished);
  await assert.rejects(
    train(parseConfig(tiny('finished', { seed: 5 })), { resume: true, hooks: quiet }),
    /the run was started with a different config/,
  );
  assert.deepEqual(snapshot(finished), before);
  // overwrite=true with a device libtorch cannot use: the old run is not cleared for a start that cannot happen
  await assert.rejects(
    train(parseConfig(tiny('finished', { device: 'banana' })), { overwrite: true, hooks: quiet }),
    / device=banana: Expected one of cpu/,
  );
  assert.deepEqual(snapshot(finished), before);
  // a teacher that is not there: refused before the run directory is touched, and none is left behind
  const lad = tiny('lad_missing_teacher', {
    distill: { strategy: 'lad', teacher: { config: join(work, 'nope.yaml'), weights: join(work, 'nope') } },
  });
  await assert.rejects(train(parseConfig(lad), { hooks: quiet }), /distill\.teacher\.config: .*nope\.yaml not found/);
  assert.equal(existsSync(join(work, 'runs', 'lad_missing_teacher')), false);
});

test('run names stay inside runsDir: name=.. and name=. are refused, and so is a symlink leading out', async () => {
  const outside = snapshot(work);
  for (const name of ['..', '.']) {
    await assert.rejects(
      train(parseConfig(tiny(name)), { hooks: quiet }),
      /run name .*(has a '\.\.' segment|names .* itself)/,
    );
  }
  const { symlinkSync } = await import('node:fs');
  mkdirSync(join(work, 'elsewhere'));
  symlinkSync(join(work, 'elsewhere'), join(work, 'runs', 'escape'));
  await assert.rejects(
    train(parseConfig(tiny('escape')), { hooks: quiet }),
    /run name "escape" .* outside .*: a symlink leads out of it/,
  );
  assert.deepEqual(readdirSync(join(work, 'elsewhere')), []);
  const now = snapshot(work);
  for (const k of outside.keys()) assert.ok(now.has(k), `${k} vanished`);
});

test('two trainers on one run: the second is refused naming the first; a stale lock is taken over', async () => {
  // a live owner in another process
  const holder = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
    const { lockRunDir } = await import(${JSON.stringify(fileURLToPath(new URL('../../src/io/run_lock.js', import.meta.url)))});
    lockRunDir(${JSON.stringify(join(work, 'runs', 'busy'))}, 'ladet train (busy)');
    console.log('locked');
    setTimeout(() => {}, 60000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    await new Promise<void>((res) => holder.stdout.once('data', () => res()));
    await assert.rejects(train(parseConfig(tiny('busy')), { hooks: quiet }), (e: Error) => {
      assert.ok(e instanceof RunLockedError, String(e));
      assert.match(e.message, new RegExp(`runs/busy is in use by ladet train \\(busy\\) \\(pid ${holder.pid}, since `));
      return true;
    });
    assert.deepEqual(readdirSync(join(work, 'runs', 'busy')), [LOCK_FILE], 'the refused trainer wrote nothing');
  } finally {
    holder.kill('SIGKILL');
    await new Promise((res) => holder.once('close', res));
  }
  // the holder died without releasing (SIGKILL): its lock is stale and the next trainer takes it over
  const lines: string[] = [];
  const r = await train(parseConfig(tiny('busy')), { hooks: { onMessage: (l) => lines.push(l) } });
  assert.equal(r.stopped, false);
  assert.ok(
    lines.some((l) =>
      new RegExp(`taking over the lock of ladet train \\(busy\\) \\(pid ${holder.pid},.*no longer running`).test(l),
    ),
    lines.join('\n'),
  );
  assert.equal(existsSync(join(r.runDir, LOCK_FILE)), false, 'released at the end');

  // two trainers in one process (the API called twice at once): the second is refused
  const first = train(parseConfig(tiny('twice')), { hooks: quiet });
  await assert.rejects(
    train(parseConfig(tiny('twice')), { hooks: quiet }),
    /runs\/twice is in use by ladet train \(twice\) \(pid \d+ \(this process\)/,
  );
  await first;
  // and a lock is an ordinary exclusive lock for other callers too
  const lock = lockRunDir(join(work, 'runs', 'twice'), 'test');
  assert.throws(() => lockRunDir(join(work, 'runs', 'twice'), 'test 2'), RunLockedError);
  // a training worker (ladet repro's) refused the same way keeps the error's name, which tells repro to leave the run
  // to its owner (a second repro command that reached it a moment later) rather than stop
  const file = join(work, 'twice.yaml');
  writeFileSync(file, JSON.stringify(tiny('twice'))); // YAML reads JSON
  await assert.rejects(trainInWorker(file, {}, { resume: true }, {}).result, (e: Error) => {
    assert.equal(e.name, 'RunLockedError');
    assert.match(e.message, /runs\/twice is in use by test \(pid \d+ \(this process\), since /);
    assert.equal(isBusyError(e), true);
    return true;
  });
  lock.release();
  lockRunDir(join(work, 'runs', 'twice'), 'test 3').release();
});

test('a resumed epoch logs the uninterrupted metrics row; temp files of an interrupted write are removed', async () => {
  const over: Partial<ConfigInput> = { schedule: { epochs: 2, warmupIters: 1, steps: [1] }, eval: { every: 0 } };
  const straight = await train(parseConfig(tiny('rows_straight', over)), { hooks: quiet });
  let steps = 0;
  const cut = parseConfig(tiny('rows_cut', over));
  const first = await train(cut, { hooks: { ...quiet, shouldStop: () => ++steps === 3 } }); // inside epoch 2
  assert.equal(first.stopped, true);
  const tmp = join(first.runDir, 'weights', '.last.safetensors.12345.1700000000000.tmp');
  writeFileSync(tmp, 'half a checkpoint');
  const lines: string[] = [];
  await train(cut, { resume: true, hooks: { onMessage: (l) => lines.push(l) } });
  assert.equal(existsSync(tmp), false);
  assert.ok(
    lines.some(
      (l) => l.includes('removed 1 temp file(s)') && l.includes('weights/.last.safetensors.12345.1700000000000.tmp'),
    ),
    lines.join('\n'),
  );
  const rows = (dir: string) =>
    parseMetricsCsv(readFileSync(join(dir, 'metrics.csv'), 'utf8')).map((r) =>
      Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'time' && !k.endsWith('_ms'))),
    );
  assert.equal(rows(straight.runDir).length, 2);
  assert.deepEqual(rows(first.runDir), rows(straight.runDir));
});
