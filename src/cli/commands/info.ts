// `ladet info`: what engine ladet runs on.
import type { Command } from 'commander';
import { cudaDeviceCount, getNumThreads, libtorchVersion } from '../../torch/index.js';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('print the libtorch version, threads and devices')
    .action(() => {
      console.log(`libtorch ${libtorchVersion}`);
      console.log(`intra-op threads ${getNumThreads()}`);
      console.log(`cuda devices ${cudaDeviceCount()}`);
    });
}
