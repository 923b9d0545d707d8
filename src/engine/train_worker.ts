// Runs `train` in a worker thread (DESIGN.md §4): all tensor work of the run happens on that one thread, while the
// main thread renders progress and handles Ctrl-C. A shared Int32 flag asks the worker to stop after its current
// step (it then saves weights/last.safetensors).
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Overrides } from '../config/overrides.js';
import type { StartMode, TrainProgress, TrainSummary } from './trainer.js';

export type { StartMode } from './trainer.js';

interface WorkerInput {
  configPath: string;
  overrides: Overrides;
  start: StartMode;
  stop: SharedArrayBuffer;
}

export type WorkerEvent =
  | { kind: 'progress'; progress: TrainProgress }
  | { kind: 'message'; line: string }
  | { kind: 'done'; summary: Pick<TrainSummary, 'runDir' | 'stopped' | 'epochsDone' | 'best'> }
  /** `name`: the error's class name (UsageError, RunLockedError, ...), kept so the caller can tell them apart */
  | { kind: 'error'; message: string; name: string };

export interface TrainInWorker {
  /** asks the run to stop after the current step and save `last` */
  requestStop(): void;
  result: Promise<Pick<TrainSummary, 'runDir' | 'stopped' | 'epochsDone' | 'best'>>;
}

export function trainInWorker(
  configPath: string,
  overrides: Overrides,
  start: StartMode,
  on: { progress?: (p: TrainProgress) => void; message?: (line: string) => void },
): TrainInWorker {
  const stop = new SharedArrayBuffer(4);
  const flag = new Int32Array(stop);
  const worker = new Worker(fileURLToPath(import.meta.url), {
    workerData: { configPath, overrides, start, stop } satisfies WorkerInput,
  });
  const result = new Promise<Pick<TrainSummary, 'runDir' | 'stopped' | 'epochsDone' | 'best'>>((resolve, reject) => {
    let settled = false;
    worker.on('message', (e: WorkerEvent) => {
      if (e.kind === 'progress') on.progress?.(e.progress);
      else if (e.kind === 'message') on.message?.(e.line);
      else if (e.kind === 'done') {
        settled = true;
        resolve(e.summary);
      } else {
        settled = true;
        const err = new Error(e.message);
        err.name = e.name;
        reject(err);
      }
    });
    worker.on('error', (e) => {
      settled = true;
      reject(e);
    });
    worker.on('exit', (code) => {
      if (!settled) reject(new Error(`training worker exited with code ${code}`));
    });
  });
  return { requestStop: () => Atomics.store(flag, 0, 1), result };
}

async function workerMain(): Promise<void> {
  const port = parentPort!;
  const input = workerData as WorkerInput;
  const flag = new Int32Array(input.stop);
  const post = (e: WorkerEvent): void => port.postMessage(e);
  try {
    const { loadConfig } = await import('../config/schema.js');
    const { train } = await import('./trainer.js');
    const config = loadConfig(input.configPath, input.overrides);
    const r = await train(config, {
      resume: input.start.resume,
      overwrite: input.start.overwrite === true,
      hooks: {
        onProgress: (progress) => post({ kind: 'progress', progress }),
        onMessage: (line) => post({ kind: 'message', line }),
        shouldStop: () => Atomics.load(flag, 0) === 1,
      },
    });
    post({ kind: 'done', summary: { runDir: r.runDir, stopped: r.stopped, epochsDone: r.epochsDone, best: r.best } });
  } catch (e) {
    const err = e as Error;
    post({ kind: 'error', message: err.message, name: err.name });
  }
}

if (!isMainThread && (workerData as Partial<WorkerInput> | null)?.stop instanceof SharedArrayBuffer) {
  void workerMain();
}
