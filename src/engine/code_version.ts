// The code version a run was trained, or a result recorded, with: ladet's package version and, in a git checkout of
// ladet, HEAD and whether code, configs or package files had uncommitted changes. Generated outputs
// (benchmarks/results, the generated tables in docs/, runs/) do not count as dirty: they change while a reproduction
// runs without changing what is being run.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface GitState {
  commit: string | null;
  dirty: boolean | null;
}

export interface CodeVersion extends GitState {
  /** ladet's package.json version */
  version: string;
}

const CODE_PATHS = ['src', 'native', 'configs', 'package.json', 'package-lock.json', 'tsconfig.json', 'binding.gyp'];

/** HEAD of the checkout at `cwd` and whether its code paths have uncommitted changes; nulls outside a checkout. */
export function gitState(cwd: string = process.cwd()): GitState {
  const git = (args: string[]): string =>
    execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  let commit: string;
  try {
    commit = git(['rev-parse', 'HEAD']).trim();
  } catch {
    return { commit: null, dirty: null };
  }
  try {
    return { commit, dirty: git(['status', '--porcelain', '--', ...CODE_PATHS]).trim() !== '' };
  } catch {
    return { commit, dirty: null };
  }
}

/** ladet's own root: the nearest folder above this file with ladet's package.json (dist/src/engine -> three up). */
function packageRoot(): { dir: string; version: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      const meta = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown; version?: unknown };
      if (meta.name === 'ladet') return { dir, version: String(meta.version) };
    }
    dir = dirname(dir);
  }
  return { dir: '', version: 'unknown' };
}

/**
 * The ladet code this process runs. The git part is read only when ladet's root is itself a checkout: installed
 * under a user's node_modules, `git` would otherwise report the user's repository.
 */
export function codeVersion(): CodeVersion {
  const root = packageRoot();
  const git =
    root.dir !== '' && existsSync(join(root.dir, '.git')) ? gitState(root.dir) : { commit: null, dirty: null };
  return { version: root.version, ...git };
}
