#!/usr/bin/env node
// The `ladet` command. Thin: each command parses its arguments, validates them and calls the library.
import { Command } from 'commander';
import { UsageError } from '../config/usage_error.js';
import { registerData } from './commands/data.js';
import { registerInfo } from './commands/info.js';
import { registerEval } from './commands/eval.js';
import { registerTrain } from './commands/train.js';
import { registerDemo } from './commands/demo.js';
import { registerTest } from './commands/test.js';
import { registerPredict } from './commands/predict.js';
import { registerRepro } from './commands/repro.js';
import { registerExport } from './commands/export.js';
import { registerConvert } from './commands/convert.js';

const program = new Command();
program.name('ladet').description('Label Assignment Distillation for one-stage object detectors').showHelpAfterError();

registerInfo(program);
registerEval(program);
registerTrain(program);
registerDemo(program);
registerTest(program);
registerPredict(program);
registerExport(program);
registerConvert(program);
registerData(program);
registerRepro(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const err = e as Error;
  process.stderr.write(`${err instanceof UsageError ? '' : 'ladet: '}${err.message}\n`);
  if (process.env.LADET_DEBUG && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
}
