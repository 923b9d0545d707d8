// Mixed precision: libtorch's own autocast, scoped like torch.autocast. Inside a scope, ops dispatched through the
// addon pass libtorch's autocast kernels: conv2d, linear, matmul (and the rest of libtorch's lower-precision list)
// cast their inputs to bfloat16 (float16 on CUDA) and compute in it; the fp32 list runs in float32; everything else
// runs in the dtype of its inputs. Parameters, gradients and optimizer state stay float32 (autograd casts each
// gradient back to its parameter's dtype). What must stay float32 (losses, the PAA cost, the GMM, evaluation) runs
// outside the scope, on float32 tensors: see Detector.precision (src/models/detector.ts) for the seam the trainer uses.
import { readFileSync } from 'node:fs';
import { native } from './native.js';
import { dtypeCode, dtypeFromCode } from './dtype.js';

/** The lower precision of a scope: bfloat16 (CPU and CUDA) or float16 (CUDA only in libtorch 1.13). */
export type AutocastDType = 'bfloat16' | 'float16';
export type AutocastDevice = 'cpu' | 'cuda';
/**
 * The precision a network's forward computes in: 'bf16' (CPU with native bf16, or CUDA) and 'fp16' (CUDA only, and
 * trained with a gradient scaler: src/optim/grad_scaler.ts) under autocast, or plain 'fp32'.
 */
export type RunPrecision = 'fp32' | 'bf16' | 'fp16';
/** A run's precision setting (config `train.precision`); resolvePrecision turns 'auto' into one of the others. */
export type Precision = RunPrecision | 'auto';

/** The autocast dtype of a precision (null for fp32). */
export function autocastDtypeOf(p: RunPrecision): AutocastDType | null {
  return p === 'bf16' ? 'bfloat16' : p === 'fp16' ? 'float16' : null;
}

// The addon's autocast entry points (native/addon.cc), typed here: src/torch/native.ts types the older surface.
interface AutocastBinding {
  autocastState(device: AutocastDevice): [boolean, number];
  setAutocast(device: AutocastDevice, enabled: boolean, dtype: number): void;
  autocastNesting(delta: 1 | -1): number;
  autocastClearCache(): void;
  cudaBf16Supported(): boolean;
}
const addon = native as unknown as AutocastBinding;

/**
 * Runs fn with autocast in `dtype` on `device` (default 'cpu'), or with autocast off there when dtype is null, and
 * restores the previous state afterwards, also when fn throws. Scopes nest; when the outermost one ends, libtorch's
 * cache of lower-precision weight copies is cleared (as torch.autocast's __exit__), so no copy outlives a step or an
 * optimizer update. fn must be synchronous (the state is the thread's, not the async context's): a Promise result is
 * refused with a TypeError after the state is restored. Only the network's forward belongs inside; backward may run
 * outside (autograd replays the casts).
 */
export function autocast<T>(dtype: AutocastDType | null, fn: () => T, device: AutocastDevice = 'cpu'): T {
  if (dtype !== null && dtype !== 'bfloat16' && dtype !== 'float16') {
    throw new TypeError(`autocast: dtype must be 'bfloat16', 'float16' or null (got ${String(dtype)})`);
  }
  const [wasEnabled, prevDtype] = addon.autocastState(device);
  addon.setAutocast(device, dtype !== null, dtype === null ? prevDtype : dtypeCode(dtype));
  addon.autocastNesting(1);
  let result: T;
  try {
    result = fn();
  } finally {
    if (addon.autocastNesting(-1) === 0) addon.autocastClearCache();
    addon.setAutocast(device, wasEnabled, prevDtype);
  }
  if (result instanceof Promise) {
    throw new TypeError('autocast(dtype, fn): fn must be synchronous (it returned a Promise)');
  }
  return result;
}

/** Whether autocast is on for `device` (default 'cpu') on this thread. */
export function isAutocastEnabled(device: AutocastDevice = 'cpu'): boolean {
  return addon.autocastState(device)[0];
}

/** The lower precision autocast casts to on `device` when on, or null when it is off. */
export function autocastDtype(device: AutocastDevice = 'cpu'): AutocastDType | null {
  const [enabled, code] = addon.autocastState(device);
  return enabled ? (dtypeFromCode(code) as AutocastDType) : null;
}

let cpuFlags: Set<string> | null = null;

function readCpuFlags(): Set<string> {
  if (cpuFlags === null) {
    cpuFlags = new Set();
    if (process.platform === 'linux') {
      try {
        const m = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
        if (m) for (const f of (m[1] as string).trim().split(/\s+/)) cpuFlags.add(f);
      } catch {
        // no /proc (a container without it): report no native bf16
      }
    }
  }
  return cpuFlags;
}

/**
 * Whether this CPU has native bfloat16 dot products (x86 `avx512_bf16` or `amx_bf16`, read from Linux's
 * /proc/cpuinfo): there oneDNN runs bf16 convolutions about 2-3x faster than fp32; elsewhere it emulates them and bf16
 * is slower than fp32. `LADET_CPU_BF16=1` (or `0`) overrides the answer, to simulate either kind of CPU.
 */
export function cpuHasNativeBf16(): boolean {
  const o = process.env.LADET_CPU_BF16;
  if (o === '1') return true;
  if (o === '0') return false;
  if (o !== undefined && o !== '') throw new Error(`LADET_CPU_BF16 must be 0 or 1 (got '${o}')`);
  const flags = readCpuFlags();
  return flags.has('avx512_bf16') || flags.has('amx_bf16');
}

/** Whether the current CUDA device computes in bfloat16 natively (compute capability 8.0+); false without a GPU. */
export function cudaHasBf16(): boolean {
  return addon.cudaBf16Supported();
}

/**
 * The precision a run uses on `device` ('cpu', 'cuda', 'cuda:1', ...): 'fp32', 'bf16' and 'fp16' as given ('fp16'
 * on CUDA only: libtorch's CPU autocast computes in bfloat16); 'auto' is 'bf16' where bf16 is native (a CPU with
 * avx512_bf16 / amx_bf16, a CUDA device of compute capability 8.0+) and 'fp32' elsewhere. 'auto' never picks fp16:
 * on a GPU without bf16 it is a choice with a cost (loss scaling, overflow-skipped steps) the user should make.
 */
export function resolvePrecision(p: Precision, device: string): RunPrecision {
  const cuda = device === 'cuda' || device.startsWith('cuda:');
  if (p === 'fp16' && !cuda) {
    throw new TypeError(
      `precision fp16 runs on CUDA devices only (device is '${device}'): on a CPU use bf16 (native bf16) or fp32`,
    );
  }
  if (p === 'fp32' || p === 'bf16' || p === 'fp16') return p;
  if (p !== 'auto') throw new TypeError(`precision must be 'fp32', 'bf16', 'fp16' or 'auto' (got ${String(p)})`);
  if (device === 'cpu') return cpuHasNativeBf16() ? 'bf16' : 'fp32';
  if (cuda) return cudaHasBf16() ? 'bf16' : 'fp32';
  throw new TypeError(`resolvePrecision: unknown device '${device}'`);
}

/** The autocast device of a tensor's device string ('cpu', 'cuda:0', ...). */
export function autocastDeviceOf(device: string): AutocastDevice {
  return device.startsWith('cuda') ? 'cuda' : 'cpu';
}
