// The one error type for "ladet was called wrongly" (a bad config key, a bad argument): the CLI prints its message
// without a stack trace. Low in the layers, so config, build, engine, repro and api can all throw it.

/** An error caused by how ladet was called: printed without a stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}
