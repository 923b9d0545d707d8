// `ladet demo`: PAA vs LAD on the built-in data, with a report folder. See src/engine/demo.ts. Each run trains in a
// worker thread as `ladet train` does, so Ctrl-C saves it; rerunning the demo continues where it stopped.
import type { Command } from 'commander';
import { ProgressDisplay } from '../progress.js';
import { StopOnSignal } from '../ctrl_c.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'train a small student with PAA and with LAD on the built-in dataset, compare them, write runs/demo/report',
    )
    .action(async () => {
      const { runDemo, formatTable } = await import('../../engine/demo.js');
      const { trainInWorker } = await import('../../engine/train_worker.js');
      const progress = new ProgressDisplay();
      const ctrlC = new StopOnSignal((l) => progress.message(l));
      try {
        const r = await runDemo({
          hooks: { onMessage: (l) => progress.message(l) },
          trainer: async (configPath, overrides, start) => {
            const run = trainInWorker(configPath, overrides, start, {
              progress: (p) => progress.update(p),
              message: (l) => progress.message(l),
            });
            ctrlC.attach(run);
            try {
              return await run.result;
            } finally {
              ctrlC.attach(null);
            }
          },
        });
        progress.stop();
        if (r.stopped) {
          console.log(`stopped: ${r.runDir} is saved; run \`ladet demo\` again to continue from there`);
          process.exitCode = ctrlC.exitCode || 130;
          return;
        }
        console.log(`\n${formatTable(r.rows)}\n\nreport: ${r.reportDir}/report.md`);
      } finally {
        progress.stop();
        ctrlC.dispose();
      }
    });
}
