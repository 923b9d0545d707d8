// Where a command may write (issue 19): never over a file it was given as input, never inside a folder it reads
// wholesale (predict's source=DIR), and never over an existing file that ladet did not write itself. What ladet
// wrote is recorded in a small manifest, `.ladet-outputs.json`, in each folder it writes to (name -> inode, size,
// mtime, so a file replaced or edited since counts as the user's). Every command that writes files outside a run
// directory goes through one Outputs; a run directory has its own owner, the run lock (src/io/run_lock.ts).
import { existsSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import { realPathOf } from './paths.js';
import { writeFileAtomic } from './atomic.js';

export const OUTPUTS_MANIFEST = '.ladet-outputs.json';

/** An output that would replace an input or a file ladet did not write; the message names both paths. */
export class OutputRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputRefusedError';
  }
}

interface FileStamp {
  ino: number;
  size: number;
  mtimeMs: number;
}

interface Manifest {
  version: 1;
  files: Record<string, FileStamp>;
}

export interface OutputsOptions {
  /** names the command in errors, e.g. 'ladet predict' */
  command: string;
  /** files and folders the command reads; outputs may neither replace them nor go inside such a folder */
  inputs?: readonly (string | null | undefined)[];
  /** recognises an existing file as an earlier output of this command that carries its own identity (a repro
   * record committed to git has no manifest entry); called only for files the manifest does not know */
  owns?: (path: string) => boolean;
}

function inside(child: string, folder: string): boolean {
  return child === folder || child.startsWith(folder.endsWith(sep) ? folder : folder + sep);
}

function stampOf(st: Stats): FileStamp {
  return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
}

function readManifest(dir: string): Manifest {
  const path = join(dir, OUTPUTS_MANIFEST);
  if (!existsSync(path)) return { version: 1, files: {} };
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
    if (m && typeof m === 'object' && m.files && typeof m.files === 'object') return m;
  } catch {
    // a damaged manifest vouches for nothing: every existing file then counts as the user's
  }
  return { version: 1, files: {} };
}

export class Outputs {
  private readonly inputs: { path: string; real: string; dir: boolean; ino: number; dev: number }[] = [];
  /** manifests read or changed by this command, by folder; flushed at most once a second and by flush() */
  private readonly manifests = new Map<string, { m: Manifest; dirty: boolean }>();
  private lastFlush = 0;

  constructor(private readonly opts: OutputsOptions) {
    for (const p of opts.inputs ?? []) if (p) this.addInput(p);
  }

  /** Adds a file or folder the command reads (one found after construction, e.g. a resolved weights file). */
  addInput(path: string): void {
    if (!existsSync(path)) return;
    const st = statSync(path);
    this.inputs.push({ path, real: realpathSync(path), dir: st.isDirectory(), ino: st.ino, dev: st.dev });
  }

  /** Throws OutputRefusedError unless `path` may be written now. */
  check(path: string): void {
    const real = realPathOf(path);
    const st = existsSync(path) ? statSync(path) : null;
    for (const i of this.inputs) {
      const same = i.dir
        ? inside(real, i.real)
        : real === i.real || (st !== null && st.ino === i.ino && st.dev === i.dev);
      if (same) {
        const what = i.dir ? `inside the input folder ${i.path}` : `the input ${i.path}`;
        throw new OutputRefusedError(
          `${this.opts.command}: refusing to write ${path}: it would replace or mix with ${what}; choose another out=`,
        );
      }
    }
    if (st === null) return;
    if (st.isDirectory())
      throw new OutputRefusedError(`${this.opts.command}: refusing to write ${path}: a folder is there`);
    const stamp = this.manifest(dirname(real)).files[basename(real)];
    if (stamp && stamp.ino === st.ino && stamp.size === st.size && stamp.mtimeMs === st.mtimeMs) return;
    if (this.opts.owns?.(path)) return;
    const why = stamp ? 'ladet wrote it, but it was changed since' : 'ladet did not write it';
    throw new OutputRefusedError(
      `${this.opts.command}: refusing to overwrite ${path}: ${why}; move it away or choose another out=`,
    );
  }

  /** Checks, writes atomically and records `path` as ladet's. */
  write(path: string, data: string | Uint8Array | readonly Uint8Array[]): void {
    this.writeWith(path, (p) => writeFileAtomic(p, data));
  }

  /** For files written by their own atomic writer (safetensors): checks, calls `writer(path)`, records. */
  writeWith<T>(path: string, writer: (path: string) => T): T {
    this.check(path);
    const r = writer(path);
    this.record(path);
    return r;
  }

  /** Writes the manifests changed since the last flush. Call once the command is done (a crash before it
   * at worst leaves the last second's outputs unrecorded: a rerun then refuses to replace them, losing nothing). */
  flush(): void {
    for (const [dir, e] of this.manifests) {
      if (!e.dirty) continue;
      writeFileAtomic(join(dir, OUTPUTS_MANIFEST), JSON.stringify(e.m, null, 1) + '\n');
      e.dirty = false;
    }
    this.lastFlush = Date.now();
  }

  private manifest(dir: string): Manifest {
    let e = this.manifests.get(dir);
    if (!e) this.manifests.set(dir, (e = { m: readManifest(dir), dirty: false }));
    return e.m;
  }

  private record(path: string): void {
    const real = realPathOf(path);
    const dir = dirname(real);
    this.manifest(dir).files[basename(real)] = stampOf(statSync(real));
    (this.manifests.get(dir) as { dirty: boolean }).dirty = true;
    if (Date.now() - this.lastFlush >= 1000) this.flush();
  }
}
