// An exclusive lock on a folder (a run directory has one owner, issue 19): `<dir>/.lock` holds the owner's host,
// pid and process start time. It is made with link(2), which fails when the name exists, so exactly one process
// wins even when two start together. Released when the owner is done and, as a backstop, on process exit; a lock
// left by a process that died (SIGKILL, power loss) is recognised on the same host (its pid is gone, or now
// belongs to a process started at another time) and taken over with a message.
// Not a library (proper-lockfile): those refresh the lock's mtime on a timer, and a training step or an
// evaluation blocks the event loop long enough for such a lock to look stale to a second process.
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmdirSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = '.lock';

export class RunLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunLockedError';
  }
}

interface LockInfo {
  host: string;
  pid: number;
  /** /proc/<pid>/stat start time (clock ticks since boot), null where there is no /proc */
  start: number | null;
  since: string;
  what: string;
}

function processStart(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // field 22; the command name (field 2) may hold spaces and parentheses, so count from its closing one
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

function alive(info: LockInfo): boolean {
  try {
    process.kill(info.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // the pid exists: it is the owner unless it was reused by a process started later
  const start = processStart(info.pid);
  return info.start === null || start === null || start === info.start;
}

function readLock(path: string): LockInfo | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    return typeof v.pid === 'number' && typeof v.host === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** Who holds the lock of `dir` now (a live process, or one on another host), or null when nobody does. */
export function lockOwner(dir: string): { what: string; pid: number; host: string; since: string } | null {
  const owner = readLock(join(dir, LOCK_FILE));
  if (owner === null || (owner.host === hostname() && !alive(owner))) return null;
  return { what: owner.what, pid: owner.pid, host: owner.host, since: owner.since };
}

const held = new Set<string>();
process.on('exit', () => {
  for (const p of held) {
    try {
      unlinkSync(p);
    } catch {
      // already gone
    }
  }
});

export interface RunLock {
  readonly path: string;
  /** true when this lock's acquisition made the folder (a failed start then removes it again) */
  readonly madeDir: boolean;
  release(): void;
}

/**
 * Takes the lock of `dir` (made if missing) for `what` (e.g. 'ladet train'). Throws RunLockedError naming the
 * owner when a live process holds it; `say` reports a stale lock taken over.
 */
export function lockRunDir(dir: string, what: string, say: (line: string) => void = () => {}): RunLock {
  const madeDir = !existsSync(dir);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const info: LockInfo = {
    host: hostname(),
    pid: process.pid,
    start: processStart(process.pid),
    since: new Date().toISOString(),
    what,
  };
  const tmp = join(dir, `${LOCK_FILE}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify(info) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, path);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw e;
      }
      const owner = readLock(path);
      if (owner === null) {
        // a lock file without readable content was cut short while being made (link(2) publishes whole files,
        // so only a crash of an older writer leaves one); an owner's file is always complete
        takeOver(path, null);
        say(`${dir}: removed an unreadable lock file`);
        continue;
      }
      if (owner.host !== info.host) {
        throw new RunLockedError(
          `${dir} is in use by ${owner.what} (pid ${owner.pid} on host ${owner.host}, since ${owner.since}); if that process is gone, delete ${path}`,
        );
      }
      if (alive(owner)) {
        const me = owner.pid === process.pid ? ' (this process)' : '';
        throw new RunLockedError(
          `${dir} is in use by ${owner.what} (pid ${owner.pid}${me}, since ${owner.since}); wait for it to finish or use another name`,
        );
      }
      takeOver(path, owner);
      say(
        `${dir}: taking over the lock of ${owner.what} (pid ${owner.pid}, since ${owner.since}), which is no longer running`,
      );
    }
  } finally {
    unlinkSync(tmp);
  }
  held.add(path);
  let released = false;
  return {
    path,
    madeDir,
    release: () => {
      if (released) return;
      released = true;
      held.delete(path);
      // only our own lock is removed (never one a later owner took over after a stale-lock check elsewhere)
      const now = readLock(path);
      if (now && now.pid === info.pid && now.since === info.since) unlinkSync(path);
      if (madeDir) {
        try {
          rmdirSync(dir); // only when the failed start left it empty
        } catch {
          // not empty: the run wrote into it
        }
      }
    },
  };
}

/** Moves a stale lock aside and removes it; if another process replaced it meanwhile, puts that one back. */
function takeOver(path: string, stale: LockInfo | null): void {
  const aside = `${path}.stale.${process.pid}`;
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else took it over first
    throw e;
  }
  const moved = readLock(aside);
  const same =
    stale === null ? moved === null : moved !== null && moved.pid === stale.pid && moved.since === stale.since;
  if (!same) {
    // we moved a live lock taken a moment ago: give it back (link fails only if yet another owner exists)
    try {
      linkSync(aside, path);
    } catch {
      // the name is held again; either way the next attempt reads the owner
    }
  }
  unlinkSync(aside);
}
