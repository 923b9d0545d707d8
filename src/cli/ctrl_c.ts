// Ctrl-C for the commands that train in a worker thread (`train`, `demo`, `repro`): the first press asks the run in
// progress to stop after its current step, which saves weights/last.safetensors so a rerun resumes it; a second
// press exits at once.
export interface Stoppable {
  requestStop(): void;
}

export class StopOnCtrlC {
  /** a stop was asked for; callers check it before starting more work */
  requested = false;
  private current: Stoppable | null = null;
  private readonly onSigint = (): void => {
    if (this.requested) process.exit(130);
    this.requested = true;
    this.current?.requestStop();
    this.say(this.current ? 'stopping after this step: saving weights/last.safetensors (Ctrl-C again to abort)' : 'stopping before the next run');
  };

  /** `say` shows a line (the progress display's message line, or the console when none is up). */
  constructor(private readonly say: (line: string) => void) {
    process.on('SIGINT', this.onSigint);
  }

  /** The run a Ctrl-C stops from now on (null between runs); one attached after a Ctrl-C is stopped at once. */
  attach(run: Stoppable | null): void {
    this.current = run;
    if (run && this.requested) run.requestStop();
  }

  dispose(): void {
    process.off('SIGINT', this.onSigint);
  }
}
