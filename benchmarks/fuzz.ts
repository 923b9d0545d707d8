// `npm run fuzz -- [--runs N] [--seed S] [target ...]`: the fuzz suite of test/fuzz/ run longer than `npm test` does
// (there each target has a fixed seed and a run count that keeps the suite at 1-2 minutes). Without --seed each run
// draws a fresh seed and prints it; a failure prints fast-check's counterexample, or the input a hang or a crash was on.
// Targets: coco, safetensors, config, detections, pth (default: all).
import { randomInt } from 'node:crypto';
import { runIsolated } from '../test/fuzz/harness.js';
import { targets } from '../test/fuzz/targets.js';

function usage(msg: string): never {
  console.error(
    `npm run fuzz: ${msg}\nusage: npm run fuzz -- [--runs N] [--seed S] [${Object.keys(targets).join('|')} ...]`,
  );
  process.exit(2);
}

let runs = 10_000;
let seed: number | null = null;
const names: string[] = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const a = args[i] as string;
  const value = (): number => {
    const v = Number(args[++i]);
    if (!Number.isSafeInteger(v) || v < 0) usage(`${a} needs a non-negative integer`);
    return v;
  };
  if (a === '--runs') runs = value();
  else if (a === '--seed') seed = value();
  else if (a.startsWith('-')) usage(`unknown option ${a}`);
  else if (targets[a] === undefined) usage(`unknown target '${a}'`);
  else names.push(a);
}

let failed = 0;
for (const name of names.length ? names : Object.keys(targets)) {
  const s = seed ?? randomInt(2 ** 31);
  console.log(`== fuzz ${name}: seed ${s}, ${runs} runs (replay: npm run fuzz -- --seed ${s} --runs ${runs} ${name})`);
  const t0 = performance.now();
  try {
    const cases = await runIsolated(name, { seed: s, runs });
    console.log(`   ok: ${cases} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    failed++;
    console.log(`   FAILED after ${((performance.now() - t0) / 1000).toFixed(1)} s:\n${(e as Error).message}`);
  }
}
process.exit(failed ? 1 : 0);
