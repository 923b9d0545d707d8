// Stopping the commands that train in a worker thread (`train`, `demo`, `repro`) the way users and machines stop
// programs: Ctrl-C (SIGINT), `kill` / `timeout` / systemd / docker stop / job schedulers (SIGTERM) and a closed
// terminal (SIGHUP). The first signal asks the run in progress to stop after its current step, which saves
// weights/last.safetensors so a rerun resumes it; the command then exits with 128 + the signal's number, as a
// shell expects. A second signal exits at once.
import { constants } from 'node:os';

export interface Stoppable {
  requestStop(): void;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type StopSignal = (typeof SIGNALS)[number];

export class StopOnSignal {
  /** a stop was asked for; callers check it before starting more work */
  requested = false;
  /** the first stop signal received, null when none */
  signal: StopSignal | null = null;
  private current: Stoppable | null = null;
  private readonly handlers = SIGNALS.map((sig) => [sig, (): void => this.onSignal(sig)] as const);

  /** `say` shows a line (the progress display's message line, or the console when none is up). */
  constructor(private readonly say: (line: string) => void) {
    for (const [sig, h] of this.handlers) process.on(sig, h);
  }

  /** 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP); 0 when none came. */
  get exitCode(): number {
    return this.signal === null ? 0 : 128 + constants.signals[this.signal];
  }

  private onSignal(sig: StopSignal): void {
    if (this.requested) process.exit(128 + constants.signals[sig]);
    this.requested = true;
    this.signal = sig;
    this.current?.requestStop();
    const how = sig === 'SIGINT' ? 'Ctrl-C' : sig;
    this.say(
      this.current
        ? `${how}: stopping after this step: saving weights/last.safetensors (${how === 'Ctrl-C' ? 'Ctrl-C' : 'a second signal'} again to abort)`
        : `${how}: stopping before the next run`,
    );
  }

  /** The run a signal stops from now on (null between runs); one attached after a signal is stopped at once. */
  attach(run: Stoppable | null): void {
    this.current = run;
    if (run && this.requested) run.requestStop();
  }

  dispose(): void {
    for (const [sig, h] of this.handlers) process.off(sig, h);
  }
}
