// ladet's tensor engine: libtorch through the native addon.
import { availableParallelism } from 'node:os';
import { native } from './native.js';

export { Tensor, defOp, wrap, wrapAll, type Arg, type Scalar, type Shape, type ValuesIndices } from './tensor.js';
export * from './creation.js';
export { fromBytes, toBytes, hostBuffer } from './bytes.js';
export * from './functional.js';
export * from './autograd.js';
export { tidy, keep, dispose, memory, type MemoryInfo } from './memory.js';
export * from './autocast.js';
export { ProcessGroup, type ProcessGroupOptions, type StoreSpec } from './distributed.js';
export { type DType, BYTES_PER_ELEMENT, isFloating, type TypedArrayOf } from './dtype.js';

/** Sets libtorch's intra-op thread count. */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}

export function getNumThreads(): number {
  return native.getNumThreads();
}

export function cudaDeviceCount(): number {
  return native.cudaDeviceCount();
}

/** Whether two device strings name the same device ('cuda' is libtorch's current device, 'cuda:0' here). */
export function sameDevice(a: string, b: string): boolean {
  const norm = (d: string): string => (d === 'cuda' ? 'cuda:0' : d);
  return norm(a) === norm(b);
}

/** Waits until the current CUDA device has run every queued kernel (for timing); throws without a device. */
export function cudaSynchronize(): void {
  native.cudaSynchronize();
}

export function cudaAvailable(): boolean {
  return native.cudaDeviceCount() > 0;
}

export const libtorchVersion: string = native.libtorchVersion;

// DESIGN §4: intra-op threads default to the number of cores. Debian's libtorch starts with 1, so set it once
// here unless the user pinned it through OMP_NUM_THREADS or LADET_THREADS.
{
  const pinned = Number(process.env.LADET_THREADS ?? process.env.OMP_NUM_THREADS ?? 0);
  native.setNumThreads(pinned >= 1 ? Math.floor(pinned) : availableParallelism());
}
