// `ladet train CONFIG [key.sub=value ...] [resume=true]`: trains a detector from a YAML preset. A progress bar
// shows losses, lr, it/s and ETA; Ctrl-C saves weights/last.safetensors and exits (resume=true continues).
import type { Command } from 'commander';
import { splitArgs, UsageError } from '../args.js';
import { ProgressDisplay } from '../progress.js';

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a detector: ladet train configs/NAME.yaml [key.sub=value ...] [resume=true]')
    .argument('<config>', 'YAML preset')
    .argument('[overrides...]', 'key.sub=value overrides')
    .allowUnknownOption(false)
    .action(async (configPath: string, rest: string[]) => {
      const { positional, kv } = splitArgs(rest);
      if (positional.length) throw new UsageError(`ladet train: unexpected argument '${positional[0]}' (overrides are key=value)`);
      const resume = kv.resume === true;
      delete kv.resume;
      const { loadConfig } = await import('../../engine/config.js');
      const { train } = await import('../../engine/trainer.js');
      const config = loadConfig(configPath, kv);
      const progress = new ProgressDisplay();
      let stopRequested = false;
      const onSigint = (): void => {
        if (stopRequested) process.exit(130); // a second Ctrl-C gives up at once
        stopRequested = true;
        progress.message('stopping after this step: saving weights/last.safetensors (Ctrl-C again to abort)');
      };
      process.on('SIGINT', onSigint);
      try {
        const r = await train(config, {
          resume,
          hooks: {
            onProgress: (p) => progress.update(p),
            shouldStop: () => stopRequested,
            onMessage: (l) => progress.message(l),
          },
        });
        progress.stop();
        if (!r.stopped) {
          const best = r.best ? `best bbox mAP ${r.best.metric.toFixed(4)} at epoch ${r.best.epoch}` : 'no evaluation';
          console.log(`done: ${r.runDir} (${best})`);
        }
      } finally {
        progress.stop();
        process.off('SIGINT', onSigint);
      }
    });
}
