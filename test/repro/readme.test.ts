import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { injectIntoFile, injectSection } from '../../src/repro/readme.js';

const before = '# ladet\n\nintro\n\n## Table 2\n\n<!-- repro:table2 -->\nold table\nold line 2\n<!-- /repro:table2 -->\n\nafter text\n<!-- repro:cop -->\n<!-- /repro:cop -->\n';

test('the table goes between its markers; everything else is kept; a second run changes nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-readme-'));
  try {
    const f = join(dir, 'README.md');
    writeFileSync(f, before);
    assert.equal(injectIntoFile(f, 'table2', '| a | b |\n|---|---|\n| 1 | 2 |\n'), true);
    const after = readFileSync(f, 'utf8');
    assert.equal(
      after,
      '# ladet\n\nintro\n\n## Table 2\n\n<!-- repro:table2 -->\n| a | b |\n|---|---|\n| 1 | 2 |\n<!-- /repro:table2 -->\n\nafter text\n<!-- repro:cop -->\n<!-- /repro:cop -->\n',
    );
    assert.equal(injectIntoFile(f, 'table2', '| a | b |\n|---|---|\n| 1 | 2 |'), false);
    assert.equal(readFileSync(f, 'utf8'), after);
    // an empty section fills too, and the other section is untouched
    assert.equal(injectIntoFile(f, 'cop', 'cop table'), true);
    assert.equal(readFileSync(f, 'utf8'), after.replace('<!-- repro:cop -->\n<!-- /repro:cop -->', '<!-- repro:cop -->\ncop table\n<!-- /repro:cop -->'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('missing, unclosed, repeated or reversed markers are errors naming the file', () => {
  assert.throws(
    () => injectSection(before, 'table3', 'x', 'README.md'),
    { name: 'UsageError', message: 'README.md: no <!-- repro:table3 --> marker (put <!-- repro:table3 --> and <!-- /repro:table3 --> where the table3 table goes)' },
  );
  assert.throws(() => injectSection('<!-- repro:table2 -->\n', 'table2', 'x', 'R.md'), { message: 'R.md: <!-- repro:table2 --> has no closing <!-- /repro:table2 --> marker' });
  assert.throws(() => injectSection(before + before, 'table2', 'x', 'R.md'), { message: 'R.md: the table2 markers appear more than once' });
  assert.throws(() => injectSection('<!-- /repro:cop -->\n<!-- repro:cop -->\n', 'cop', 'x', 'R.md'), { message: 'R.md: <!-- /repro:cop --> comes before <!-- repro:cop -->' });
  assert.throws(() => injectIntoFile('/nonexistent/README.md', 'cop', 'x'), { message: '/nonexistent/README.md: file not found' });
});
