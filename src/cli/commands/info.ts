// `ladet info`: what engine ladet runs on.
import type { Command } from 'commander';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('print the libtorch version, threads and devices')
    .action(async () => {
      // Loaded on use: libtorch takes ~1-2 s to load, which commands that do not need it should not pay.
      const torch = await import('../../torch/index.js');
      console.log(`libtorch ${torch.libtorchVersion}`);
      console.log(`intra-op threads ${torch.getNumThreads()}`);
      console.log(`cuda devices ${torch.cudaDeviceCount()}`);
    });
}
