// The one error type of ladet's PyTorch `.pth` reading and writing (src/io/pth.ts and the zip and pickle layers
// under it): a malformed, hostile or unsupported file, or tensors that cannot be written.
export class PthError extends Error {
  /** the file (or source) name the message starts with */
  readonly source: string;

  constructor(source: string, message: string, options?: { cause?: unknown }) {
    super(`${source}: ${message}`, options);
    this.name = 'PthError';
    this.source = source;
  }
}
