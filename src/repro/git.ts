// The code version a result was recorded at: HEAD and whether code, configs or package files had uncommitted
// changes. Generated outputs (benchmarks/results, README tables, runs/) do not count as dirty: they change while
// a reproduction runs without changing what is being run.
import { execFileSync } from 'node:child_process';

export interface GitState {
  commit: string | null;
  dirty: boolean | null;
}

const CODE_PATHS = ['src', 'native', 'configs', 'package.json', 'package-lock.json', 'tsconfig.json', 'binding.gyp'];

export function gitState(cwd: string = process.cwd()): GitState {
  const git = (args: string[]): string => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
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
