// Reads JSON fixtures from the source tree: tests run from dist/test/, the fixtures stay under test/.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Parses test/<relPath> (e.g. 'assign/fixtures/gmm_sklearn.json'). */
export function readFixture<T>(relPath: string): T {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  return JSON.parse(readFileSync(join(root, 'test', relPath), 'utf8')) as T;
}
