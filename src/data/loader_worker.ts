// A loader worker thread: builds whole batches (decode, augment, collate) and transfers their buffers back.
// It never touches libtorch: tensors are made on the training thread from the returned Float32Array.
import { parentPort } from 'node:worker_threads';
import { BufferPool } from './buffer_pool.js';
import { buildBatch, type BatchOptions, type RawBatch, type SampleSpec } from './batch.js';

export type WorkerRequest =
  | { type: 'init'; options: BatchOptions }
  | { type: 'batch'; id: number; specs: SampleSpec[] }
  | { type: 'recycle'; buffer: ArrayBuffer };
export type WorkerReply = { type: 'batch'; id: number; batch: RawBatch } | { type: 'error'; id: number; message: string };

if (!parentPort) throw new Error('loader_worker.js must run as a worker thread');
const port = parentPort;
let options: BatchOptions | null = null;
const pool = new BufferPool();

port.on('message', (msg: WorkerRequest) => {
  if (msg.type === 'init') {
    options = msg.options;
    return;
  }
  if (msg.type === 'recycle') {
    pool.give(msg.buffer);
    return;
  }
  const opts = options;
  if (!opts) {
    port.postMessage({ type: 'error', id: msg.id, message: 'loader worker: batch requested before init' } satisfies WorkerReply);
    return;
  }
  buildBatch(msg.specs, opts, (n) => pool.take(n)).then(
    (batch) => {
      const transfer: ArrayBuffer[] = [batch.data.buffer as ArrayBuffer];
      for (const t of batch.targets) transfer.push(t.boxes.buffer as ArrayBuffer, t.labels.buffer as ArrayBuffer);
      port.postMessage({ type: 'batch', id: msg.id, batch } satisfies WorkerReply, transfer);
    },
    (e: unknown) => {
      const err = e as Error;
      port.postMessage({ type: 'error', id: msg.id, message: err.stack ?? err.message } satisfies WorkerReply);
    },
  );
});
