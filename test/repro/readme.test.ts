import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TABLES_FILE, injectIntoFile, injectSection, markers } from '../../src/repro/readme.js';
import { parseReproArgs } from '../../src/cli/commands/repro.js';

const before =
  '# Reproducing the paper\n\nintro\n\n## Table 2\n\n<!-- repro:table2 -->\nold table\nold line 2\n<!-- /repro:table2 -->\n\nafter text\n<!-- repro:cop -->\n<!-- /repro:cop -->\n';

test('the table goes between its markers; everything else is kept; a second run changes nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-readme-'));
  try {
    const f = join(dir, 'paper-study.md');
    writeFileSync(f, before);
    assert.equal(injectIntoFile(f, 'table2', '| a | b |\n|---|---|\n| 1 | 2 |\n'), true);
    const after = readFileSync(f, 'utf8');
    assert.equal(
      after,
      '# Reproducing the paper\n\nintro\n\n## Table 2\n\n<!-- repro:table2 -->\n| a | b |\n|---|---|\n| 1 | 2 |\n<!-- /repro:table2 -->\n\nafter text\n<!-- repro:cop -->\n<!-- /repro:cop -->\n',
    );
    assert.equal(injectIntoFile(f, 'table2', '| a | b |\n|---|---|\n| 1 | 2 |'), false);
    assert.equal(readFileSync(f, 'utf8'), after);
    // an empty section fills too, and the other section is untouched
    assert.equal(injectIntoFile(f, 'cop', 'cop table'), true);
    assert.equal(
      readFileSync(f, 'utf8'),
      after.replace('<!-- repro:cop -->\n<!-- /repro:cop -->', '<!-- repro:cop -->\ncop table\n<!-- /repro:cop -->'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('missing, unclosed, repeated or reversed markers are errors naming the file', () => {
  assert.throws(() => injectSection(before, 'table3', 'x', 'paper-study.md'), {
    name: 'UsageError',
    message:
      'paper-study.md: no <!-- repro:table3 --> marker (put <!-- repro:table3 --> and <!-- /repro:table3 --> where the table3 table goes)',
  });
  assert.throws(() => injectSection('<!-- repro:table2 -->\n', 'table2', 'x', 'R.md'), {
    message: 'R.md: <!-- repro:table2 --> has no closing <!-- /repro:table2 --> marker',
  });
  assert.throws(() => injectSection(before + before, 'table2', 'x', 'R.md'), {
    message: 'R.md: the table2 markers appear more than once',
  });
  assert.throws(() => injectSection('<!-- /repro:cop -->\n<!-- repro:cop -->\n', 'cop', 'x', 'R.md'), {
    message: 'R.md: <!-- /repro:cop --> comes before <!-- repro:cop -->',
  });
  assert.throws(() => injectIntoFile('/nonexistent/paper-study.md', 'cop', 'x'), {
    message: '/nonexistent/paper-study.md: file not found',
  });
});

test('readme=true writes into docs/paper-study.md, readme=FILE into FILE; the docs page holds every marker once', async () => {
  assert.equal(DEFAULT_TABLES_FILE, 'docs/paper-study.md');
  assert.equal((await parseReproArgs(['all', 'report=true', 'readme=true'])).readme, 'docs/paper-study.md');
  assert.equal((await parseReproArgs(['all', 'report=true', 'readme=notes/tables.md'])).readme, 'notes/tables.md');
  assert.equal((await parseReproArgs(['all', 'report=true'])).readme, null);
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const page = readFileSync(join(root, DEFAULT_TABLES_FILE), 'utf8');
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  for (const name of ['cost', 'table2', 'table3', 'colad', 'cop', 'regimes']) {
    // injectSection throws unless both markers are there once, in order; with the same body it changes nothing
    const { open, close } = markers(name);
    const body = page.slice(page.indexOf(open) + open.length, page.indexOf(close)).trim();
    assert.equal(injectSection(page, name, body, DEFAULT_TABLES_FILE), page, name);
    assert.ok(!readme.includes(open) && !readme.includes(close), `README.md still has the ${name} markers`);
  }
});
