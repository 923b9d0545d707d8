// Paths that must stay inside a folder: image files under their image folder, run directories under runs/.
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep, win32 } from 'node:path';

/**
 * `join(base, rel)`, refused (an Error naming `what`, `rel` and `base`) when it could lead outside `base`:
 * - `rel` is empty, absolute (also a Windows drive or UNC path), holds a NUL, or has a `..` segment (split at `/`
 *   and `\`), even one that would stay inside: callers normalise first where that is allowed;
 * - on disk, the path resolves (realpath: symlinks followed, a dangling one to its target) outside realpath(base).
 *   Only the part that exists is resolved: a missing file (or a missing base) is returned for the caller to report.
 * Returns the path as the caller wrote base (not the realpath), so messages show the user's paths.
 */
export function resolveInside(base: string, rel: string, what: string): string {
  const q = JSON.stringify(rel);
  if (rel === '') throw new Error(`${what} is empty; it must name something inside ${base}`);
  if (rel.includes('\0')) throw new Error(`${what} ${q} contains a NUL character`);
  if (isAbsolute(rel) || win32.isAbsolute(rel))
    throw new Error(`${what} ${q} is an absolute path; it must be relative to ${base}`);
  if (rel.split(/[\\/]/).includes('..'))
    throw new Error(`${what} ${q} has a '..' segment; it must stay inside ${base}`);
  const path = join(base, rel);
  let realBase: string;
  try {
    realBase = realpathSync.native(base);
  } catch {
    return path; // no base on disk: nothing there can lead out of it
  }
  const real = realOf(resolve(path), 0);
  const r = relative(realBase, real);
  if (r === '..' || r.startsWith(`..${sep}`) || isAbsolute(r)) {
    throw new Error(
      `${what} ${q} (${path}) resolves to ${real}, outside ${base}${realBase === resolve(base) ? '' : ` (${realBase})`}: a symlink leads out of it`,
    );
  }
  return path;
}

/** The real path of `p` (relative to the working directory or absolute) whose tail may not exist yet. */
export function realPathOf(p: string): string {
  return realOf(resolve(p), 0);
}

/** realpath of an absolute path whose tail may not exist yet; a dangling symlink counts as its target. */
function realOf(p: string, links: number): string {
  try {
    return realpathSync.native(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
  }
  const parent = dirname(p);
  if (parent === p) return p;
  let link: string | null = null;
  try {
    if (lstatSync(p).isSymbolicLink()) link = readlinkSync(p);
  } catch {
    // p itself is missing: resolve its parent and keep the name
  }
  const realParent = realOf(parent, links);
  if (link === null) return join(realParent, basename(p));
  if (links >= 40) throw new Error(`${p}: too many levels of symbolic links`);
  return realOf(resolve(realParent, link), links + 1);
}
