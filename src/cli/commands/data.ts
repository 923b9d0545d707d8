// `ladet data make|check|preview|list`: the built-in datasets and COCO dataset validation.
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { Outputs } from '../../io/outputs.js';
import { checkDataset, formatReport } from '../../data/check.js';
import { readCoco } from '../../data/coco.js';
import { guessImageDir } from '../../data/layout.js';
import { renderPreview } from '../../data/preview.js';
import { DEFAULT_PARAMS, type GeneratorParams } from '../../data/synth/generator.js';
import { makeDataset } from '../../data/synth/make.js';
import { GENERATORS } from '../../data/synth/registry.js';
import { rejectUnknown, splitArgs } from '../args.js';
import { UsageError } from '../../config/usage_error.js';
import { type Overrides } from '../../config/overrides.js';

export function registerData(program: Command): void {
  const data = program.command('data').description('make the built-in datasets, check COCO datasets');

  data
    .command('make')
    .description(
      `write a built-in dataset as a COCO dataset (${Object.keys(GENERATORS).join(', ')}); ` +
        `keys: out=DIR seed=N workers=N force=true ${Object.keys(DEFAULT_PARAMS)
          .map((k) => `${k}=N`)
          .join(' ')}`,
    )
    .argument('<name>', 'dataset name')
    .argument('[args...]', 'key=value settings')
    .action(async (name: string, args: string[]) => {
      const { positional, kv } = splitArgs(args);
      if (positional.length)
        throw new UsageError(`ladet data make: unexpected argument ${positional.join(' ')} (settings are key=value)`);
      const gen = GENERATORS[name];
      if (!gen)
        throw new UsageError(
          `ladet data make: no built-in dataset '${name}' (have: ${Object.keys(GENERATORS).join(', ')})`,
        );
      const paramKeys = Object.keys(DEFAULT_PARAMS) as (keyof GeneratorParams)[];
      rejectUnknown(kv, ['out', 'seed', 'workers', 'force', ...paramKeys], 'data make');
      const missing = gen.missing();
      if (missing) {
        const fallback = name === 'fashion-det' ? '\n(`ladet data make shapes` needs no external data)' : '';
        throw new UsageError(`ladet data make ${name}: ${missing}${fallback}`);
      }
      const params: Partial<GeneratorParams> = {};
      for (const k of paramKeys) if (k in kv) params[k] = num(kv, k, 'data make');
      const out = resolve(typeof kv.out === 'string' ? kv.out : `data/${name}`);
      const bar = progressBar('canvases');
      const started = Date.now();
      try {
        const r = await makeDataset(name, {
          out,
          seed: 'seed' in kv ? num(kv, 'seed', 'data make') : 0,
          params,
          ...('workers' in kv ? { workers: num(kv, 'workers', 'data make') } : {}),
          force: kv.force === true,
          onProgress: (done, total) => bar?.update(done, total),
          onWait: (line) => console.log(line),
        });
        bar?.stop();
        if (!r.made)
          console.log(`${out} already holds this dataset (same generator, seed and settings); nothing to do`);
        else console.log(`made ${name} in ${out} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
        for (const [split, s] of Object.entries(r.splits)) {
          console.log(`  ${split}: ${s.canvases} images, ${s.boxes} boxes  ${s.annotations}  images=${s.images}`);
        }
      } catch (e) {
        bar?.stop();
        throw e instanceof Error && /must|already holds|force=true/.test(e.message)
          ? new UsageError(`ladet data make: ${e.message}`)
          : e;
      }
    });

  data
    .command('check')
    .description(
      'validate a COCO dataset (annotation file and every image) and print a summary; keys: images=DIR decode=false problems=N',
    )
    .argument('<annotations>', 'COCO annotation file (.json)')
    .argument('[args...]', 'key=value settings')
    .action(async (file: string, args: string[]) => {
      const { positional, kv } = splitArgs(args);
      if (positional.length) throw new UsageError(`ladet data check: unexpected argument ${positional.join(' ')}`);
      rejectUnknown(kv, ['images', 'decode', 'problems'], 'data check');
      const imageDir = typeof kv.images === 'string' ? kv.images : guessImageDir(file);
      const bar = progressBar('images');
      const report = await checkDataset(file, {
        imageDir,
        decode: kv.decode !== false,
        onProgress: (done, total) => bar?.update(done, total),
      });
      bar?.stop();
      console.log(formatReport(report, 'problems' in kv ? num(kv, 'problems', 'data check') : 50));
      if (report.errors > 0) process.exitCode = 1;
    });

  data
    .command('preview')
    .description('draw a grid of images with their boxes to a PNG; keys: images=DIR out=FILE n=8 columns=4 scale=2')
    .argument('<annotations>', 'COCO annotation file (.json)')
    .argument('[args...]', 'key=value settings')
    .action(async (file: string, args: string[]) => {
      const { positional, kv } = splitArgs(args);
      if (positional.length) throw new UsageError(`ladet data preview: unexpected argument ${positional.join(' ')}`);
      rejectUnknown(kv, ['images', 'out', 'n', 'columns', 'scale'], 'data preview');
      const dataset = readCoco(file);
      const imageDir = typeof kv.images === 'string' ? kv.images : guessImageDir(file);
      const png = await renderPreview(dataset, imageDir, {
        count: 'n' in kv ? num(kv, 'n', 'data preview') : 8,
        columns: 'columns' in kv ? num(kv, 'columns', 'data preview') : 4,
        scale: 'scale' in kv ? num(kv, 'scale', 'data preview') : 2,
      });
      const out = typeof kv.out === 'string' ? kv.out : 'preview.png';
      new Outputs({ command: 'ladet data preview', inputs: [file, imageDir] }).write(out, png);
      console.log(`wrote ${out}`);
    });

  data
    .command('list')
    .description('list the built-in datasets and whether they can be made here')
    .action(() => {
      for (const g of Object.values(GENERATORS)) {
        const missing = g.missing();
        console.log(
          `${g.name.padEnd(12)} ${g.description}${missing ? `\n${' '.repeat(13)}unavailable: ${missing}` : ''}`,
        );
      }
    });
}

function num(kv: Overrides, key: string, command: string): number {
  const v = kv[key];
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new UsageError(`ladet ${command}: ${key} must be a number (got ${JSON.stringify(v)})`);
  return v;
}

/** A progress bar on stderr when it is a terminal; null otherwise (logs and CI stay clean). */
function progressBar(unit: string): { update: (done: number, total: number) => void; stop: () => void } | null {
  if (!process.stderr.isTTY) return null;
  const bar = new cliProgress.SingleBar(
    {
      format: `{bar} {percentage}% | {value}/{total} ${unit} | {duration_formatted} (eta {eta_formatted})`,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.setTotal(total);
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
