// The summary JSON `ladet eval` and `ladet test` write beside the printed 12-line COCO table: what was evaluated
// (`head`), then the evaluation's own fields, in one layout so scripts can read either command's output.
import { writeFileAtomic } from '../io/atomic.js';
import type { CocoEvalResult } from '../eval/index.js';

/** Writes `{ ...head, maxDets, stats, perClassAP }` to `file` atomically and reports the path through `print`. */
export function writeCocoSummary(
  file: string,
  head: Record<string, unknown>,
  res: Pick<CocoEvalResult, 'maxDets' | 'named' | 'perClassAP'>,
  print: (line: string) => void,
): void {
  const summary = { ...head, maxDets: res.maxDets, stats: res.named, perClassAP: res.perClassAP };
  writeFileAtomic(file, JSON.stringify(summary, null, 2) + '\n');
  print(`wrote ${file}`);
}
