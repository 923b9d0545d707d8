// Process groups over libtorch's c10d (the Gloo backend): the collectives data-parallel training is built on
// (issue 23). A thin layer over native/distributed.cc that checks arguments with clear errors and splits a mixed-dtype
// all-reduce by dtype; the training logic above it (DDP, the sampler, the launcher) lives elsewhere.
import { native, type NativeBinding, type NativeProcessGroup, type NativeTensor } from './native.js';
import { Tensor, wrap } from './tensor.js';

/** Where the ranks meet: a TCP store served by rank 0 (MASTER_ADDR:MASTER_PORT) or a file all ranks can open. */
export type StoreSpec = { kind: 'tcp'; host: string; port: number } | { kind: 'file'; path: string };

export interface ProcessGroupOptions {
  /** This process's rank, in [0, worldSize). */
  rank: number;
  worldSize: number;
  /**
   * Bounds every collective: a peer that exited fails it at once, one that hangs fails it after this long
   * (default 30 000 ms). The group is unusable after a failed collective: destroy it.
   */
  timeoutMs?: number;
  /** Bounds reaching the store and waiting for every rank to join (default timeoutMs). */
  initTimeoutMs?: number;
  /**
   * The rendezvous. A file store's path must not be left over from an earlier group that did not end cleanly
   * (c10d would read its stale keys): use a fresh path per job.
   */
  store: StoreSpec;
  /**
   * Network interfaces Gloo listens on, comma-separated (default $GLOO_SOCKET_IFNAME, else the interface that
   * reaches the TCP store's host, or 127.0.0.1 for a file store).
   */
  ifname?: string;
}

type Collectives = Required<
  Pick<
    NativeBinding,
    | 'processGroupNew'
    | 'pgAllReduce'
    | 'pgBroadcast'
    | 'pgBarrier'
    | 'pgAllGather'
    | 'pgDestroy'
    | 'pgStoreSet'
    | 'pgStoreWait'
  >
>;

function collectives(): Collectives {
  const b = native;
  const names = ['processGroupNew', 'pgAllReduce', 'pgBroadcast', 'pgBarrier', 'pgAllGather', 'pgDestroy'] as const;
  if (![...names, 'pgStoreSet', 'pgStoreWait'].every((n) => typeof b[n as keyof typeof b] === 'function')) {
    throw new Error('ProcessGroup: the native addon predates process groups; rebuild it (npm run build:native)');
  }
  return b as Collectives;
}

function checkInt(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new RangeError(`ProcessGroup: ${name} must be an integer ${range}, got ${String(v)}`);
  }
  return v;
}

function handles(what: string, tensors: readonly Tensor[]): NativeTensor[] {
  if (!Array.isArray(tensors)) throw new TypeError(`ProcessGroup.${what}: an array of tensors is expected`);
  return tensors.map((t, i) => {
    if (!(t instanceof Tensor)) throw new TypeError(`ProcessGroup.${what}: element ${i} is not a Tensor`);
    if (t.isDisposed) throw new Error(`ProcessGroup.${what}: tensor ${i} was disposed`);
    return t.handle;
  });
}

/**
 * One process's membership of a c10d process group (Gloo). Every rank must call the same collectives in the same
 * order with tensors of the same shapes and dtypes; each call blocks until it is done here. CPU, contiguous tensors.
 */
export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  #handle: NativeProcessGroup | null;
  readonly #native: Collectives;

  private constructor(handle: NativeProcessGroup, rank: number, worldSize: number, n: Collectives) {
    this.#handle = handle;
    this.rank = rank;
    this.worldSize = worldSize;
    this.#native = n;
  }

  /** Whether this build of the addon has c10d's Gloo backend (libtorch with c10d and gloo's headers). */
  static available(): boolean {
    return native.c10dAvailable?.() ?? false;
  }

  /**
   * Joins the group: blocks until all worldSize ranks have joined, or throws (port in use, store unreachable, a rank
   * missing past initTimeoutMs) with an Error that says which.
   */
  static create(o: ProcessGroupOptions): ProcessGroup {
    if (o === null || typeof o !== 'object') throw new TypeError('ProcessGroup.create: an options object is expected');
    const worldSize = checkInt('worldSize', o.worldSize, 1);
    const rank = checkInt('rank', o.rank, 0);
    if (rank >= worldSize) throw new RangeError(`ProcessGroup: rank ${rank} is not below worldSize ${worldSize}`);
    const timeoutMs = checkInt('timeoutMs', o.timeoutMs ?? 30_000, 1, 2 ** 31 - 1);
    const initTimeoutMs = checkInt('initTimeoutMs', o.initTimeoutMs ?? timeoutMs, 1, 2 ** 31 - 1);
    const ifname = o.ifname ?? process.env.GLOO_SOCKET_IFNAME;
    if (ifname !== undefined && typeof ifname !== 'string')
      throw new TypeError('ProcessGroup: ifname must be a string');
    const s = o.store;
    let where: { store: 'tcp'; host: string; port: number } | { store: 'file'; path: string };
    if (s?.kind === 'tcp') {
      if (typeof s.host !== 'string' || s.host === '')
        throw new TypeError('ProcessGroup: store.host must be a host name');
      where = { store: 'tcp', host: s.host, port: checkInt('store.port', s.port, 1, 65535) };
    } else if (s?.kind === 'file') {
      if (typeof s.path !== 'string' || s.path === '')
        throw new TypeError('ProcessGroup: store.path must be a file path');
      where = { store: 'file', path: s.path };
    } else {
      throw new TypeError("ProcessGroup: store must be { kind: 'tcp', host, port } or { kind: 'file', path }");
    }
    if (!ProcessGroup.available()) {
      throw new Error(
        'ProcessGroup: c10d is not available in this libtorch build (the addon was built without c10d/Gloo: ' +
          'install libgloo-dev, e.g. bash scripts/setup.sh, then npm run build:native)',
      );
    }
    const n = collectives();
    const handle = n.processGroupNew({
      rank,
      worldSize,
      timeoutMs,
      initTimeoutMs,
      ...where,
      ...(ifname ? { ifname } : {}),
    });
    return new ProcessGroup(handle, rank, worldSize, n);
  }

  #live(what: string): NativeProcessGroup {
    if (this.#handle === null) throw new Error(`ProcessGroup.${what}: the process group was destroyed`);
    return this.#handle;
  }

  /** Sums each tensor over the ranks, in place. Tensors of several dtypes go in one call per dtype. */
  allReduce(tensors: readonly Tensor[]): void {
    const pg = this.#live('allReduce');
    const hs = handles('allReduce', tensors);
    // grouped in order of first appearance, which is the same on every rank given the same list
    const byDtype = new Map<string, NativeTensor[]>();
    tensors.forEach((t, i) => {
      const group = byDtype.get(t.dtype);
      if (group) group.push(hs[i] as NativeTensor);
      else byDtype.set(t.dtype, [hs[i] as NativeTensor]);
    });
    for (const group of byDtype.values()) this.#native.pgAllReduce(pg, group);
  }

  /** Overwrites each tensor, on every rank, with rank `root`'s, in place (several tensors go in coalesced buckets). */
  broadcast(tensors: readonly Tensor[], root = 0): void {
    const pg = this.#live('broadcast');
    checkInt('broadcast root', root, 0, this.worldSize - 1);
    this.#native.pgBroadcast(pg, handles('broadcast', tensors), root);
  }

  /** Sets a flag `key` in the rendezvous store (see waitFor). */
  signal(key: string): void {
    this.#native.pgStoreSet(this.#live('signal'), key);
  }

  /**
   * Returns once some rank has signalled `key`, or throws after timeoutMs: a wait that may outlast the collectives'
   * timeout (rank 0 making a dataset while the others wait).
   */
  waitFor(key: string, timeoutMs: number): void {
    checkInt('waitFor timeoutMs', timeoutMs, 1, 2 ** 31 - 1);
    this.#native.pgStoreWait(this.#live('waitFor'), key, timeoutMs);
  }

  /** Returns once every rank has called barrier. */
  barrier(): void {
    this.#native.pgBarrier(this.#live('barrier'));
  }

  /** A new tensor [worldSize, ...t.shape]: row r is rank r's `t` (same shape and dtype on every rank). */
  allGather(t: Tensor): Tensor {
    const pg = this.#live('allGather');
    const [h] = handles('allGather', [t]);
    return wrap(this.#native.pgAllGather(pg, h as NativeTensor));
  }

  get isDestroyed(): boolean {
    return this.#handle === null;
  }

  /** Leaves the group and frees its connections (idempotent); any later collective on it throws. */
  destroy(): void {
    if (this.#handle !== null) {
      this.#native.pgDestroy(this.#handle);
      this.#handle = null;
    }
  }

  [Symbol.dispose](): void {
    this.destroy();
  }
}
