// `ladet eval ann=GT.json results=DETS.json [out=summary.json]`: COCO bbox evaluation of any detector's results file.
import type { Command } from 'commander';
import { pathArg, rejectUnknown, splitArgs } from '../args.js';
import { UsageError } from '../../config/usage_error.js';
import { evaluateCoco, formatSummary, readCocoGt, readDetections, type CocoEvalResult } from '../../eval/index.js';
import { writeCocoSummary } from '../coco_summary.js';
import { Outputs } from '../../io/outputs.js';

const USAGE = 'ladet eval ann=GT.json results=DETS.json [out=summary.json]';

/** Parses the arguments, evaluates, prints the 12-line summary and writes `out` if given. */
export function runEval(args: readonly string[], print: (line: string) => void = console.log): CocoEvalResult {
  const { positional, kv } = splitArgs(args);
  if (positional.length) throw new UsageError(`ladet eval: unexpected argument ${positional[0]} (usage: ${USAGE})`);
  rejectUnknown(kv, ['ann', 'results', 'out'], 'eval');
  const ann = pathArg(kv, 'ann', 'eval', { usage: USAGE });
  const results = pathArg(kv, 'results', 'eval', { usage: USAGE });
  const out = pathArg(kv, 'out', 'eval');

  // out= may not replace the ground truth or the results it evaluates, nor a file ladet did not write
  const outputs = new Outputs({ command: 'ladet eval', inputs: [ann, results] });
  if (out) outputs.check(out);
  const gt = readCocoGt(ann);
  const dets = readDetections(results, gt);
  const res = evaluateCoco(gt, dets);
  print(formatSummary(res.stats, res.iouThresholds, res.maxDets));
  if (out)
    writeCocoSummary(outputs, out, { ann, results, images: res.imageIds.length, detections: dets.count }, res, print);
  return res;
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('COCO bbox evaluation (pycocotools numbers) of a results file against COCO ground truth')
    .argument('[args...]', 'ann=GT.json results=DETS.json [out=summary.json]')
    .action((args: string[]) => {
      runEval(args);
    });
}
