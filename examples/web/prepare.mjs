// The web page's models: the demo's shipped teacher (assets/demo_teacher_r18w50.safetensors, its preset
// configs/demo/teacher_r18w50.yaml) exported by `ladet export` as a ladet/runtime model (.safetensors) and as ONNX
// (.onnx), into examples/web/models/ (git-ignored), each only when missing or older than the weights.
//   node examples/web/prepare.mjs [--out DIR]        (`npm run web` runs it after building ladet)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const WEIGHTS = join(repo, 'assets', 'demo_teacher_r18w50.safetensors');
const CONFIG = join(repo, 'configs', 'demo', 'teacher_r18w50.yaml');
const MAIN = join(repo, 'dist', 'src', 'cli', 'main.js');
/** the file names page.mts loads by default (under /models/) */
export const MODEL_FILES = { runtime: 'demo_teacher_r18w50.safetensors', onnx: 'demo_teacher_r18w50.onnx' };

const fresh = (file) => existsSync(file) && statSync(file).mtimeMs >= statSync(WEIGHTS).mtimeMs;

/** Exports what is missing into `out`; returns the two model files. Throws when ladet is not built or an export fails. */
export function prepareModels(out, log = console.log) {
  if (!existsSync(MAIN)) throw new Error(`${relative(repo, MAIN)} is missing: build ladet first (npx tsc -p .)`);
  mkdirSync(out, { recursive: true });
  const files = { runtime: join(out, MODEL_FILES.runtime), onnx: join(out, MODEL_FILES.onnx) };
  for (const [format, file] of Object.entries(files)) {
    if (fresh(file)) continue;
    const r = spawnSync(
      process.execPath,
      [MAIN, 'export', `weights=${WEIGHTS}`, `config=${CONFIG}`, `format=${format}`, `out=${file}`],
      { cwd: repo, encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`ladet export format=${format} failed:\n${r.stderr || r.stdout}`);
    log(r.stdout.trim());
  }
  return files;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let out = join(repo, 'examples', 'web', 'models');
  if (args[0] === '--out' && args[1]) out = resolve(args[1]);
  else if (args.length) {
    console.error('usage: node examples/web/prepare.mjs [--out DIR]');
    process.exit(2);
  }
  try {
    prepareModels(out);
  } catch (e) {
    console.error(`prepare.mjs: ${e.message}`);
    process.exit(1);
  }
}
