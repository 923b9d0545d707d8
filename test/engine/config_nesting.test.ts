// Deeply nested YAML is refused before the yaml parser sees it (found by test/fuzz/config: `[` x 1000 loaded twice in
// one fresh process aborted Node with a fatal V8 error instead of an error naming the file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MAX_CONFIG_NESTING, loadConfig, yamlNestingBeyond } from '../../src/config/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'ladet-config-nesting-'));
const configModule = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'config', 'schema.js')).href;

test('a config nested 1000 deep, loaded twice in a fresh process: an error naming the file each time, no abort', () => {
  for (const [name, text] of [
    ['flow.yaml', `${'['.repeat(1000)}${']'.repeat(1000)}`],
    ['compact.yaml', `${'- '.repeat(1000)}x`],
  ] as const) {
    const path = join(dir, name);
    writeFileSync(path, text);
    const script = `
      const { loadConfig } = await import(${JSON.stringify(configModule)});
      for (let k = 0; k < 2; k++) {
        try { loadConfig(${JSON.stringify(path)}); console.log('loaded'); } catch (e) { console.log(e.name + ': ' + e.message); }
      }`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.signal, null, `${name}: the process was killed by ${r.signal}`);
    assert.equal(r.status, 0, `${name}: exit ${r.status}: ${r.stderr.slice(0, 400)}`);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    for (const l of lines)
      assert.equal(
        l,
        `UsageError: ${path}: invalid YAML: line 1 nests more than ${MAX_CONFIG_NESTING} levels deep (a config nests a few)`,
      );
  }
});

test('deep block nesting is refused at the line that goes too deep', () => {
  const path = join(dir, 'block.yaml');
  writeFileSync(path, `name: x\n${Array.from({ length: 200 }, (_, i) => `${' '.repeat(i)}a:`).join('\n')}\n`);
  assert.throws(() => loadConfig(path), {
    name: 'UsageError',
    message: `${path}: invalid YAML: line ${MAX_CONFIG_NESTING + 2} nests more than ${MAX_CONFIG_NESTING} levels deep (a config nests a few)`,
  });
});

test('yamlNestingBeyond: every preset is far from the limit; quotes, comments and block scalars do not count', () => {
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((f) =>
      statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : f.endsWith('.yaml') ? [join(d, f)] : [],
    );
  const presets = walk('configs');
  assert.ok(presets.length > 10);
  for (const p of presets) assert.equal(yamlNestingBeyond(readFileSync(p, 'utf8'), 8), null, p);
  const limit = 10;
  const deep = '['.repeat(limit + 1);
  assert.equal(yamlNestingBeyond(`a: ${deep}`, limit), 1);
  assert.equal(yamlNestingBeyond(`a: x\nb: {c: ${deep}`, limit), 2);
  assert.equal(yamlNestingBeyond(`${'- '.repeat(limit + 1)}x`, limit), 1);
  assert.equal(
    yamlNestingBeyond(Array.from({ length: limit + 1 }, (_, i) => `${' '.repeat(2 * i)}k:`).join('\n'), limit),
    limit + 1,
  );
  assert.equal(yamlNestingBeyond(`a: "${deep}"\nb: '${deep} it''s ${deep}'`, limit), null);
  assert.equal(yamlNestingBeyond(`a: 1 # ${deep}\n# ${deep}`, limit), null);
  assert.equal(
    yamlNestingBeyond(
      `a: |\n${Array.from({ length: 30 }, (_, i) => `${' '.repeat(i + 2)}x: ${deep}`).join('\n')}\nb: 1`,
      limit,
    ),
    null,
  );
  // a '|' in a comment opens no block scalar: the lines below still count
  assert.equal(
    yamlNestingBeyond(
      `a: 1 # |\n${Array.from({ length: limit + 1 }, (_, i) => `${' '.repeat(i + 1)}b:`).join('\n')}`,
      limit,
    ),
    limit + 1,
  );
  // JSON is YAML: brackets count
  assert.equal(yamlNestingBeyond(JSON.stringify({ a: { b: [1, [2, [3]]] } }), 3), 1);
});
