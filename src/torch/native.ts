// Loads the libtorch addon and types its surface. The only module that touches the addon directly.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An opaque handle to a native at::Tensor. */
export interface NativeTensor {
  readonly __nativeTensor: unique symbol;
}

/** An opaque handle to a native c10d process group (native/distributed.cc). */
export interface NativeProcessGroup {
  readonly __nativeProcessGroup: unique symbol;
}

/** processGroupNew's options; src/torch/distributed.ts validates them first. */
export interface NativeProcessGroupOptions {
  rank: number;
  worldSize: number;
  /** Bounds each collective and Gloo's connections. */
  timeoutMs: number;
  /** Bounds reaching the store and waiting for every rank to join; default timeoutMs. */
  initTimeoutMs?: number;
  store: 'tcp' | 'file';
  host?: string;
  port?: number;
  path?: string;
  /** Network interfaces for Gloo, comma-separated (GLOO_SOCKET_IFNAME). */
  ifname?: string;
}

/** What JS may pass as an operator argument. */
export type NativeArg = NativeTensor | number | bigint | boolean | string | null | undefined | readonly NativeArg[];

export interface NativeBinding {
  opHandle(name: string, overload: string): number;
  opSchema(id: number): string;
  call(id: number, args: readonly NativeArg[]): unknown;
  fromBuffer(data: ArrayBufferView, dtype: number, shape: readonly number[]): NativeTensor;
  toBuffer(t: NativeTensor): ArrayBuffer;
  /** Uninitialised host memory; blocks of 2 MiB and more in transparent huge pages (native/host_memory.cc). */
  hugeBuffer(bytes: number): ArrayBuffer;
  /** [dtype code, device, requiresGrad, ...shape] */
  meta(t: NativeTensor): [number, string, boolean, ...number[]];
  item(t: NativeTensor): number | boolean;
  dispose(t: NativeTensor): void;
  isAlive(t: NativeTensor): boolean;
  setRequiresGrad(t: NativeTensor, on: boolean): void;
  grad(t: NativeTensor): NativeTensor | null;
  setGrad(t: NativeTensor, g: NativeTensor | null): void;
  isLeaf(t: NativeTensor): boolean;
  backward(t: NativeTensor, gradient: NativeTensor | null, retainGraph: boolean): void;
  gradEnabled(): boolean;
  setGradEnabled(on: boolean): void;
  manualSeed(seed: number): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  /** [live tensor handles, bytes of their distinct storages] */
  memory(): [number, number];
  cudaDeviceCount(): number;
  cudaSynchronize(): void;
  // c10d process groups (native/distributed.cc); absent from an addon built before them. Collectives block until done.
  /** Whether the addon was built with c10d's Gloo backend; without it the functions below throw. */
  c10dAvailable?(): boolean;
  processGroupNew?(o: NativeProcessGroupOptions): NativeProcessGroup;
  /** In-place sum over the ranks; CPU, contiguous tensors of one dtype. */
  pgAllReduce?(pg: NativeProcessGroup, tensors: readonly NativeTensor[]): void;
  /** In place from rank root; any dtypes. */
  pgBroadcast?(pg: NativeProcessGroup, tensors: readonly NativeTensor[], root: number): void;
  pgBarrier?(pg: NativeProcessGroup): void;
  pgStoreSet?(pg: NativeProcessGroup, key: string): void;
  pgStoreWait?(pg: NativeProcessGroup, key: string, timeoutMs: number): void;
  /** A new tensor [worldSize, ...t.shape] whose row r is rank r's t. */
  pgAllGather?(pg: NativeProcessGroup, t: NativeTensor): NativeTensor;
  /** Releases the group (idempotent); any later call on it throws. */
  pgDestroy?(pg: NativeProcessGroup): void;
  readonly libtorchVersion: string;
}

function findAddon(): string {
  // dist/src/torch/native.js -> repository root is three levels up; src/torch/native.ts (ts-node style) two.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'build', 'Release', 'ladet_native.node');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(
    'ladet: the native addon (build/Release/ladet_native.node) is not built. Run `npm run build:native` ' +
      '(or `bash scripts/setup.sh`). It needs libtorch: set LIBTORCH to a folder with include/ and lib/, ' +
      'install PyTorch for python3, or apt-get install libtorch-dev.',
  );
}

function load(): NativeBinding {
  // libtorch's OpenMP threads spin while they wait for work by default. On a machine whose cores are shared (data
  // workers, a second run, CI) spinning threads stall each other: a training step measured 5-7x slower. Passive
  // waiting costs nothing measurable when the cores are free. libgomp reads this when it loads, i.e. below.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  const require = createRequire(import.meta.url);
  const path = findAddon();
  try {
    return require(path) as NativeBinding;
  } catch (e) {
    throw new Error(`ladet: failed to load the native addon ${path}: ${(e as Error).message}`, { cause: e });
  }
}

export const native: NativeBinding = load();
