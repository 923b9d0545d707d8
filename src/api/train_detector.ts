// Training from application code: the same loop as `ladet train` (PAA, LAD / KD / SoLAD or CoLAD, as the config's
// distill section says), with the config given as a YAML path or an object, progress as callbacks, and an
// AbortSignal in place of Ctrl-C: aborting saves the run's `last` checkpoint, and resume: true continues it.
import type { Overrides } from '../config/overrides.js';
import { applyOverrides } from '../config/overrides.js';
import { loadConfig, parseConfig, type Config, type ConfigInput } from '../config/schema.js';
import { train, type TrainProgress, type TrainSummary } from '../engine/trainer.js';

export interface TrainDetectorOptions {
  /** config overrides by dotted key, e.g. { 'schedule.epochs': 1, seed: 3 } */
  overrides?: Overrides;
  /** continue runs/<name>/weights/last.safetensors when it exists (the config must be the same) */
  resume?: boolean;
  /** replace a run already in runs/<name> (without it, a fresh start there is refused; nothing is deleted) */
  overwrite?: boolean;
  /** called at data preparation, after every training step and during evaluation */
  onProgress?: (p: TrainProgress) => void;
  /** the trainer's status lines (a stop saved, a run resumed); default: console.log */
  onMessage?: (line: string) => void;
  /** aborting stops after the current step, saves `last`, and resolves with stopped: true */
  signal?: AbortSignal;
}

/**
 * Trains the detector a config describes into its run directory (runsDir/name) and resolves when it has finished
 * or stopped. `config`: a YAML preset path, or a config object (validated the same way; errors name the key).
 */
export async function trainDetector(
  config: string | ConfigInput,
  opts: TrainDetectorOptions = {},
): Promise<TrainSummary> {
  const overrides = opts.overrides ?? {};
  const resolved: Config =
    typeof config === 'string'
      ? loadConfig(config, overrides)
      : parseConfig(applyOverrides(config as Record<string, unknown>, overrides), 'config object');
  if (opts.signal?.aborted) throw new Error('trainDetector: the signal was aborted before training started');
  const signal = opts.signal;
  return train(resolved, {
    ...(opts.resume === undefined ? {} : { resume: opts.resume }),
    ...(opts.overwrite === undefined ? {} : { overwrite: opts.overwrite }),
    hooks: {
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.onMessage ? { onMessage: opts.onMessage } : {}),
      ...(signal ? { shouldStop: () => signal.aborted } : {}),
    },
  });
}
