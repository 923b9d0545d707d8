// A progress bar for long work (cli-progress): epoch, batch, the loss terms, lr, it/s and ETA. On a non-TTY
// (CI, logs piped to a file) it prints a plain line every few seconds instead of redrawing.
import cliProgress from 'cli-progress';
import type { TrainProgress } from '../engine/trainer.js';

export class ProgressDisplay {
  #bar: cliProgress.SingleBar | null = null;
  #phaseKey = '';
  #lastPlain = 0;
  #startedAt = performance.now();
  #startIter = 0;
  readonly #tty = process.stderr.isTTY === true;

  update(p: TrainProgress): void {
    const key = `${p.phase}:${p.epoch}`;
    const losses = Object.entries(p.losses)
      .filter(([k]) => k.startsWith('loss'))
      .map(([k, v]) => `${k.replace('loss_', '')} ${v.toFixed(3)}`)
      .join(' ');
    const label =
      p.phase === 'eval'
        ? `eval  ${p.epoch + 1}/${p.epochs}`
        : p.phase === 'data'
          ? 'data'
          : `epoch ${p.epoch + 1}/${p.epochs}${p.precision !== undefined && p.precision !== 'fp32' ? ` ${p.precision}` : ''}`;
    if (key !== this.#phaseKey) {
      this.#bar?.stop();
      this.#phaseKey = key;
      this.#startedAt = performance.now();
      this.#startIter = p.batch;
      if (this.#tty && p.phase !== 'data') {
        this.#bar = new cliProgress.SingleBar(
          {
            format: '{label} |{bar}| {value}/{total} {losses} lr {lr} {rate} it/s ETA {eta_formatted}',
            hideCursor: true,
            stream: process.stderr,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        );
        this.#bar.start(p.batches, p.batch, { label, losses: '', lr: '-', rate: '-' });
      } else if (p.phase === 'data') {
        process.stderr.write('preparing data...\n');
      }
    }
    const secs = (performance.now() - this.#startedAt) / 1000;
    const rate = secs > 0 ? ((p.batch - this.#startIter) / secs).toFixed(2) : '-';
    if (this.#bar) {
      this.#bar.update(p.batch, { label, losses, lr: p.lr ? p.lr.toExponential(2) : '-', rate });
    } else if (p.phase !== 'data' && (performance.now() - this.#lastPlain > 5000 || p.batch === p.batches)) {
      this.#lastPlain = performance.now();
      process.stderr.write(`${label} ${p.batch}/${p.batches} ${losses} ${rate} it/s\n`);
    }
  }

  message(line: string): void {
    if (this.#bar) process.stderr.write('\n');
    process.stderr.write(`${line}\n`);
  }

  stop(): void {
    this.#bar?.stop();
    this.#bar = null;
    this.#phaseKey = '';
  }
}

/** A bar for a counted job (evaluating, predicting): done/total, rate and ETA; plain lines when not a terminal. */
export class TaskProgress {
  #bar: cliProgress.SingleBar | null = null;
  #lastPlain = 0;
  #startedAt = performance.now();
  readonly #tty = process.stderr.isTTY === true;

  constructor(
    readonly label: string,
    readonly unit: string,
  ) {}

  update(done: number, total: number): void {
    if (this.#tty) {
      if (!this.#bar) {
        this.#bar = new cliProgress.SingleBar(
          {
            format: `${this.label} |{bar}| {value}/{total} ${this.unit} {rate} /s ETA {eta_formatted}`,
            hideCursor: true,
            stream: process.stderr,
            etaBuffer: 20,
          },
          cliProgress.Presets.shades_classic,
        );
        this.#bar.start(total, 0, { rate: '-' });
        this.#startedAt = performance.now();
      }
      const secs = (performance.now() - this.#startedAt) / 1000;
      this.#bar.setTotal(total);
      this.#bar.update(done, { rate: secs > 0 ? (done / secs).toFixed(2) : '-' });
    } else if (performance.now() - this.#lastPlain > 5000 || done === total) {
      this.#lastPlain = performance.now();
      process.stderr.write(`${this.label} ${done}/${total} ${this.unit}\n`);
    }
  }

  stop(): void {
    this.#bar?.stop();
    this.#bar = null;
  }
}
