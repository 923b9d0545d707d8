// ladet's tensor engine: libtorch through the native addon.
import { native } from './native.js';

export { Tensor, defOp, wrap, wrapAll, type Arg, type Scalar, type Shape, type ValuesIndices } from './tensor.js';
export * from './creation.js';
export { fromBytes, toBytes } from './bytes.js';
export * from './functional.js';
export * from './autograd.js';
export { tidy, keep, dispose, memory, type MemoryInfo } from './memory.js';
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

export function cudaAvailable(): boolean {
  return native.cudaDeviceCount() > 0;
}

export const libtorchVersion: string = native.libtorchVersion;
