// A worker thread of `ladet data make`: renders a range of canvases, writes their PNGs and returns their boxes.
import { parentPort } from 'node:worker_threads';
import { renderRange, type RangeRequest, type RangeResult } from './render_range.js';

export type MakeWorkerReply = { ok: true; result: RangeResult } | { ok: false; message: string };

if (!parentPort) throw new Error('make_worker.js must run as a worker thread');
const port = parentPort;
port.on('message', (req: RangeRequest) => {
  renderRange(req).then(
    (result) => port.postMessage({ ok: true, result } satisfies MakeWorkerReply),
    (e: unknown) => port.postMessage({ ok: false, message: (e as Error).stack ?? String(e) } satisfies MakeWorkerReply),
  );
});
