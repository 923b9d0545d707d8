// `npm run bench -- [suite ...]`: runs benchmark suites and writes their JSON to benchmarks/results/<suite>.json.
// Each suite measures ladet against its peer in the same run and stores ratios (ladet/peer time, `*ratio*`)
// or speed-ups (peer/ladet time, `*speedup*`): on a noisy machine only same-run comparisons mean anything.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { writeFileAtomic } from '../src/io/atomic.js';
import { suites } from './suites.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length ? wanted : Object.keys(suites);
for (const name of names) {
  const suite = suites[name];
  if (!suite) {
    console.error(`unknown benchmark suite '${name}' (have: ${Object.keys(suites).join(', ')})`);
    process.exit(2);
  }
  console.log(`== bench ${name}`);
  const result = await suite();
  const out = join(root, 'benchmarks', 'results', `${name}.json`);
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version };
  const record = { suite: name, date: new Date().toISOString(), commit: gitCommit(), machine, ...result };
  writeFileAtomic(out, JSON.stringify(record, null, 2) + '\n');
  console.log(JSON.stringify(record, null, 2));
  console.log(`wrote ${out}`);
}
