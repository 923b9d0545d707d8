// The key=value argument layer every command goes through: value parsing, overrides onto a nested config, the
// usage errors, and the shell line `ladet train` prints to continue a stopped run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { applyOverrides, parseValue } from '../../src/config/overrides.js';
import { netArg, netsArg, pathArg, rejectUnknown, shellJoin, splitArgs, splitOwnKeys } from '../../src/cli/args.js';
import { UsageError } from '../../src/config/usage_error.js';

test('parseValue: JSON scalars and arrays, everything else stays a string', () => {
  assert.equal(parseValue('3'), 3);
  assert.equal(parseValue('-0.25'), -0.25);
  assert.equal(parseValue('1e-3'), 0.001);
  assert.equal(parseValue('true'), true);
  assert.equal(parseValue('null'), null);
  assert.deepEqual(parseValue('[1,2]'), [1, 2]);
  assert.deepEqual(parseValue('{"a":1}'), { a: 1 });
  assert.equal(parseValue('[1,'), '[1,'); // not JSON: kept as typed
  assert.equal(parseValue('runs/x'), 'runs/x');
  assert.equal(parseValue('1.2.3'), '1.2.3');
  assert.equal(parseValue(''), '');
});

test('splitArgs: key=value pairs by a key-shaped left side, the rest positional', () => {
  const { positional, kv } = splitArgs(['configs/a.yaml', 'train.lr=0.01', 'out=runs/a=b', '=x', '1=2', 'name=']);
  assert.deepEqual(positional, ['configs/a.yaml', '=x', '1=2']);
  assert.deepEqual(kv, { 'train.lr': 0.01, out: 'runs/a=b', name: '' });
});

test('applyOverrides: sets nested keys on a copy, creating missing levels', () => {
  const base = { train: { lr: 0.1, epochs: 6 }, model: { depth: 18 }, tags: [1] };
  const out = applyOverrides(base, { 'train.lr': 0.01, 'model.neck.width': 64, 'tags.x': 1, seed: 3 });
  assert.deepEqual(out, {
    train: { lr: 0.01, epochs: 6 },
    model: { depth: 18, neck: { width: 64 } },
    tags: { x: 1 },
    seed: 3,
  });
  assert.deepEqual(base, { train: { lr: 0.1, epochs: 6 }, model: { depth: 18 }, tags: [1] });
});

test('applyOverrides: prototype keys are refused, and nothing leaks onto Object.prototype', () => {
  for (const key of ['__proto__.polluted', 'a.constructor.prototype.polluted', 'a..b']) {
    assert.throws(
      () => applyOverrides({ a: {} }, { [key]: 1 }),
      (e: Error) => e instanceof UsageError && e.message.includes(`override '${key}'`),
    );
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  // an inherited name (toString) is not walked into either: it becomes a plain own object
  const out = applyOverrides({}, { 'toString.x': 1 }) as Record<string, unknown>;
  assert.deepEqual(out.toString, { x: 1 });
});

test('rejectUnknown and splitOwnKeys name every bad key and what was expected', () => {
  assert.doesNotThrow(() => rejectUnknown({ a: 1 }, ['a', 'b'], 'x'));
  assert.throws(() => rejectUnknown({ a: 1, c: 2, d: 3 }, ['a', 'b'], 'eval'), {
    name: 'UsageError',
    message: 'ladet eval: unknown arguments c, d (expected: a, b)',
  });
  const { own, overrides } = splitOwnKeys({ run: 'r', 'eval.scoreThr': 0.1 }, ['run'], ['eval', 'train'], 'test');
  assert.deepEqual(own, { run: 'r' });
  assert.deepEqual(overrides, { 'eval.scoreThr': 0.1 });
  assert.throws(
    () => splitOwnKeys({ evl: 1 }, ['run'], ['eval'], 'test'),
    /ladet test: unknown argument evl \(expected: run, or config overrides/,
  );
});

test('pathArg, netArg, netsArg: absent, valid and invalid values', () => {
  assert.equal(pathArg({}, 'out', 'x'), undefined);
  assert.equal(pathArg({ out: 'a/b' }, 'out', 'x'), 'a/b');
  assert.throws(() => pathArg({}, 'out', 'x', { usage: 'ladet x out=DIR' }), {
    message: 'ladet x: missing out= (usage: ladet x out=DIR)',
  });
  assert.throws(() => pathArg({ out: 3 }, 'out', 'x'), { message: 'ladet x: out= needs a path (got 3)' });
  assert.throws(() => pathArg({ out: '' }, 'out', 'x'), /needs a path \(got ""\)/);
  assert.equal(netArg({}, 'test'), undefined);
  assert.equal(netArg({ net: 2 }, 'test'), 2);
  assert.throws(() => netArg({ net: 'both' }, 'test'), /net= must be 1 or 2/);
  assert.equal(netsArg({ net: 'both' }, 'test'), 'both');
  assert.throws(() => netsArg({ net: 3 }, 'test'), /net= must be 1, 2 or both, .*\(got 3\)/);
});

test('shellJoin: a POSIX shell reads the printed line back as the same arguments', (t) => {
  const args = [
    'configs/a b.yaml',
    "name=it's",
    'train.lr=0.01',
    '',
    'x;rm -rf y',
    '$HOME',
    '`id`',
    'a\\b',
    'résumé',
    'resume=true',
  ];
  const line = shellJoin(args);
  assert.equal(
    shellJoin(['configs/a.yaml', 'train.lr=0.01', 'resume=true']),
    'configs/a.yaml train.lr=0.01 resume=true',
  );
  assert.ok(line.startsWith(`'configs/a b.yaml' 'name=it'\\''s' train.lr=0.01 '' `), line);
  const sh = spawnSync('sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  if (sh.error) {
    t.skip(`no sh here: ${sh.error.message}`);
    return;
  }
  assert.equal(sh.status, 0, sh.stderr);
  assert.deepEqual(sh.stdout.split('\0').slice(0, -1), args);
});
