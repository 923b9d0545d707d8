// `ladet demo`: PAA vs LAD on the built-in data, with a report folder. See src/engine/demo.ts.
import type { Command } from 'commander';
import { ProgressDisplay } from '../progress.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('train a small student with PAA and with LAD on the built-in dataset, compare them, write runs/demo/report')
    .action(async () => {
      const { runDemo, formatTable } = await import('../../engine/demo.js');
      const progress = new ProgressDisplay();
      try {
        const r = await runDemo({ hooks: { onProgress: (p) => progress.update(p), onMessage: (l) => progress.message(l) } });
        progress.stop();
        console.log(`\n${formatTable(r.rows)}\n\nreport: ${r.reportDir}/report.md`);
      } finally {
        progress.stop();
      }
    });
}
