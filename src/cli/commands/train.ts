// `ladet train CONFIG [key.sub=value ...] [resume=true]`: trains a detector from a YAML preset. The run executes in
// a worker thread; this thread shows the progress bar (losses, lr, it/s, ETA) and turns Ctrl-C into "save
// weights/last.safetensors and stop" (resume=true continues); so do SIGTERM and SIGHUP. A fresh start on a run
// directory that holds a run is refused unless overwrite=true. nproc=N starts N data-parallel ranks (../launch.ts).
import type { Command } from 'commander';
import { shellJoin, splitArgs } from '../args.js';
import { UsageError } from '../../config/usage_error.js';
import { ProgressDisplay } from '../progress.js';
import { StopOnSignal } from '../ctrl_c.js';

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a detector: ladet train configs/NAME.yaml [key.sub=value ...] [resume=true | overwrite=true]')
    .argument('<config>', 'YAML preset')
    .argument('[overrides...]', 'key.sub=value overrides')
    .action(async (configPath: string, rest: string[]) => {
      const { positional, kv } = splitArgs(rest);
      if (positional.length)
        throw new UsageError(`ladet train: unexpected argument '${positional[0]}' (overrides are key=value)`);
      const resume = kv.resume === true;
      const overwrite = kv.overwrite === true;
      for (const k of ['resume', 'overwrite'] as const) {
        if (k in kv && typeof kv[k] !== 'boolean')
          throw new UsageError(`ladet train: ${k} must be true or false (got ${JSON.stringify(kv[k])})`);
        delete kv[k];
      }
      // nproc=N (and nnodes, node_rank, master_addr, master_port): this process only launches the ranks
      const { launchOptionsOf, launch, withoutLaunchArgs } = await import('../launch.js');
      // how to continue a stopped run: the same command (the launcher's options included), resume=true
      const continueLine = (): string =>
        `continue with: ladet train ${shellJoin([configPath, ...rest.filter((a) => !/^(resume|overwrite)=/.test(a)), 'resume=true'])}`;
      const launching = launchOptionsOf(kv);
      // Validate here first, so a config error is reported before a worker (and libtorch) starts.
      const { loadConfig } = await import('../../config/schema.js');
      loadConfig(configPath, kv);
      if (launching !== null) {
        const argv = [process.argv[1] as string, 'train', configPath, ...withoutLaunchArgs(rest)];
        process.exitCode = await launch(launching, argv);
        if (process.exitCode === 130 || process.exitCode === 143 || process.exitCode === 129)
          console.log(continueLine());
        return;
      }
      // a rank of a data-parallel job other than 0 shows nothing: rank 0 speaks for the job
      const dataParallel = (process.env.WORLD_SIZE ?? '1') !== '1';
      const quietRank = dataParallel && (process.env.RANK ?? '0') !== '0';
      const { trainInWorker } = await import('../../engine/train_worker.js');
      const progress = new ProgressDisplay();
      const run = trainInWorker(
        configPath,
        kv,
        { resume, overwrite },
        quietRank
          ? { progress: () => {}, message: () => {} }
          : { progress: (p) => progress.update(p), message: (l) => progress.message(l) },
      );
      const ctrlC = new StopOnSignal(quietRank ? () => {} : (l) => progress.message(l));
      ctrlC.attach(run);
      try {
        const r = await run.result;
        progress.stop();
        if (r.stopped) {
          // under a launcher the launcher says how to continue (with its own options)
          if (!dataParallel) console.log(continueLine());
          process.exitCode = ctrlC.exitCode || 130;
        } else {
          const best = r.best ? `best bbox mAP ${r.best.metric.toFixed(4)} at epoch ${r.best.epoch}` : 'no evaluation';
          console.log(`done: ${r.runDir} (${best})`);
        }
      } catch (e) {
        if ((e as Error).name === 'UsageError') throw new UsageError((e as Error).message);
        throw e;
      } finally {
        progress.stop();
        ctrlC.dispose();
      }
    });
}
