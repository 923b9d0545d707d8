// The summary JSON `ladet eval` and `ladet test` write beside the printed 12-line COCO table: what was evaluated
// (`head`), then the evaluation's own fields, in one layout so scripts can read either command's output.
import type { Outputs } from '../io/outputs.js';
import type { CocoEvalResult } from '../eval/index.js';

/** Writes `{ ...head, maxDets, stats, perClassAP }` to `file` (atomically, through the command's outputs) and
 * reports the path through `print`. */
export function writeCocoSummary(
  outputs: Outputs,
  file: string,
  head: Record<string, unknown>,
  res: Pick<CocoEvalResult, 'maxDets' | 'named' | 'perClassAP'>,
  print: (line: string) => void,
): void {
  const summary = { ...head, maxDets: res.maxDets, stats: res.named, perClassAP: res.perClassAP };
  outputs.write(file, JSON.stringify(summary, null, 2) + '\n');
  outputs.flush();
  print(`wrote ${file}`);
}
