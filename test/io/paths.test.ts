import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveInside } from '../../src/io/paths.js';

test('resolveInside: relative paths inside the folder come back joined; absolute, .. and symlinks out are refused', () => {
  const top = realpathSync(mkdtempSync(join(tmpdir(), 'ladet-paths-')));
  try {
    const base = join(top, 'imgs');
    const outside = join(top, 'secret');
    mkdirSync(join(base, 'sub'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(base, 'a.png'), 'a');
    writeFileSync(join(outside, 'x.png'), 'x');
    symlinkSync(join(base, 'a.png'), join(base, 'inner.png')); // a link that stays inside: fine
    symlinkSync(join(outside, 'x.png'), join(base, 'out.png'));
    symlinkSync(outside, join(base, 'outdir'));
    symlinkSync(join(outside, 'missing.png'), join(base, 'dangling.png'));

    assert.equal(resolveInside(base, 'a.png', 'image file'), join(base, 'a.png'));
    assert.equal(resolveInside(base, 'sub/new.png', 'image file'), join(base, 'sub', 'new.png')); // need not exist
    assert.equal(resolveInside(base, 'inner.png', 'image file'), join(base, 'inner.png'));
    assert.equal(resolveInside(join(top, 'nowhere'), 'a.png', 'run name'), join(top, 'nowhere', 'a.png'));

    assert.throws(() => resolveInside(base, '/etc/passwd', 'image file'), {
      message: `image file "/etc/passwd" is an absolute path; it must be relative to ${base}`,
    });
    assert.throws(() => resolveInside(base, '../secret/x.png', 'image file'), {
      message: `image file "../secret/x.png" has a '..' segment; it must stay inside ${base}`,
    });
    assert.throws(
      () => resolveInside(base, 'sub/../a.png', 'run name'),
      /^Error: run name "sub\/\.\.\/a\.png" has a '\.\.' segment/,
    );
    assert.throws(() => resolveInside(base, '', 'run name'), /run name is empty/);
    assert.throws(() => resolveInside(base, 'out.png', 'image file'), {
      message: `image file "out.png" (${join(base, 'out.png')}) resolves to ${join(outside, 'x.png')}, outside ${base}: a symlink leads out of it`,
    });
    // a folder on the way that links out, also for a file that does not exist there yet
    assert.throws(
      () => resolveInside(base, 'outdir/x.png', 'image file'),
      new RegExp(`resolves to ${join(outside, 'x.png')}, outside ${base}`),
    );
    assert.throws(
      () => resolveInside(base, 'outdir/new/y.png', 'run name'),
      new RegExp(`resolves to ${join(outside, 'new', 'y.png')}, outside`),
    );
    // a dangling symlink counts as its target
    assert.throws(
      () => resolveInside(base, 'dangling.png', 'image file'),
      new RegExp(`resolves to ${join(outside, 'missing.png')}, outside`),
    );
    // the base itself may be a symlink (data on another disk): compared by realpath, and named both ways
    symlinkSync(base, join(top, 'link'));
    assert.equal(resolveInside(join(top, 'link'), 'a.png', 'image file'), join(top, 'link', 'a.png'));
    assert.throws(
      () => resolveInside(join(top, 'link'), 'out.png', 'image file'),
      new RegExp(`outside ${join(top, 'link')} \\(${base}\\): a symlink`),
    );
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});
