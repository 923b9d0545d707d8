// One ladet side of the `io` suite in its own process, so that its time is a first load (fresh memory, as when a
// program opens a checkpoint) and its peak RSS its own.
//   node io_child.js baseline     imports what the reading side imports, reads nothing
//   node io_child.js read FILE    readPthStateDict(FILE)'s two steps, timed: the file into one buffer
//                                 (readPthBytes), then parsing it (zip directory, CRC-32 of every record, the
//                                 unpickler, tensors as views: parsePth + pthStateDictOf); then a first use of
//                                 the tensors: one byte of every 4 KiB page read
// stdout: one JSON line {read_ms?, parse_ms?, total_ms?, touch_ms?, tensors?, bytes?, rss_before_kb?, peak_rss_kb}.
import { parsePth, pthStateDictOf, readPthBytes } from '../src/io/pth.js';

const [mode, file = ''] = process.argv.slice(2);
const out: Record<string, unknown> = {};
if (mode === 'read') {
  out.rss_before_kb = process.memoryUsage().rss / 1024;
  const t0 = performance.now();
  const bytes = readPthBytes(file);
  const t1 = performance.now();
  const sd = pthStateDictOf(parsePth(bytes, file), file);
  const t2 = performance.now();
  // first use: one byte of every 4 KiB page of every tensor (what torch's side does after its load too)
  let n = 0;
  let sum = 0;
  for (const t of sd.tensors.values()) {
    n += t.data.byteLength;
    for (let i = 0; i < t.data.byteLength; i += 4096) sum += t.data[i] as number;
  }
  const t3 = performance.now();
  Object.assign(out, {
    read_ms: t1 - t0,
    parse_ms: t2 - t1,
    total_ms: t2 - t0,
    touch_ms: t3 - t2,
    touch_sum: sum,
    tensors: sd.tensors.size,
    bytes: n,
  });
} else if (mode !== 'baseline') {
  throw new Error(`io_child: unknown mode '${mode}'`);
}
out.peak_rss_kb = process.resourceUsage().maxRSS;
console.log(JSON.stringify(out));
