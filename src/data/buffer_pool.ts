// Reused batch buffers. A fresh 25 MB Float32Array per 1333x800 batch costs more than filling it (zeroing and page
// faults, then garbage collection): once the training thread has copied a batch into its Tensor, the buffer goes
// back to the thread that filled it.

export class BufferPool {
  private readonly free: ArrayBuffer[] = [];

  constructor(private readonly max = 4) {}

  /** A Float32Array of exactly `floats` elements over a pooled buffer when one is big enough. Contents are stale. */
  take(floats: number): Float32Array {
    const bytes = floats * 4;
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i] as ArrayBuffer;
      if (b.byteLength >= bytes && (best < 0 || b.byteLength < (this.free[best] as ArrayBuffer).byteLength)) best = i;
    }
    if (best >= 0) return new Float32Array(this.free.splice(best, 1)[0] as ArrayBuffer, 0, floats);
    // allocUnsafeSlow: an unpooled, unzeroed ArrayBuffer of its own (so it can be transferred)
    return new Float32Array(Buffer.allocUnsafeSlow(bytes).buffer, 0, floats);
  }

  /** Returns a buffer for reuse (dropped when the pool is full or the buffer was detached). */
  give(buffer: ArrayBuffer): void {
    if (buffer.byteLength > 0 && this.free.length < this.max) this.free.push(buffer);
  }
}
