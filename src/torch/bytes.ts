// Raw element bytes in and out of tensors, for file formats (safetensors) that store them verbatim.
// Bytes are in the host's byte order; callers that need little-endian check os.endianness().
import { native } from './native.js';
import { Tensor, type Shape } from './tensor.js';
import { dtypeCode, type DType } from './dtype.js';

/**
 * A new CPU tensor of `dtype` and `shape` holding a copy of `bytes` (row-major, numel * element size bytes).
 * Unlike tensor(), this works for every dtype, float16/bfloat16 included, and at any byte offset.
 */
export function fromBytes(bytes: Uint8Array, dtype: DType, shape: Shape): Tensor {
  return new Tensor(native.fromBuffer(bytes, dtypeCode(dtype), shape));
}

/** A copy of the tensor's elements as bytes, row-major, read back to the CPU. */
export function toBytes(t: Tensor): Uint8Array {
  return new Uint8Array(native.toBuffer(t.handle));
}

/**
 * `size` uninitialised bytes for a large read (a checkpoint file). Blocks of 2 MiB and more are in transparent huge
 * pages where Linux offers them: on a virtual machine, faulting in fresh 4 KiB pages dominated the time to read a
 * 200 MB file (native/host_memory.cc). Freed by the GC like any ArrayBuffer.
 */
export function hostBuffer(size: number): Uint8Array {
  return new Uint8Array(native.hugeBuffer(size));
}
