// Where the images of an annotation file live when the user does not say: the COCO layout
// (annotations/instances_NAME.json beside NAME/), which `ladet data make` writes too, then a few common variants.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The folders tried, in order, for the images of `annotationFile`. */
export function imageDirCandidates(annotationFile: string): string[] {
  const dir = dirname(annotationFile);
  const stem = basename(annotationFile).replace(/\.json$/i, '');
  const name = stem.replace(/^instances_/, '');
  return [join(dir, '..', name), join(dir, name), join(dir, '..', 'images', name), join(dir, 'images'), dir];
}

/** The first candidate folder that exists; throws listing them when none does. */
export function guessImageDir(annotationFile: string): string {
  const candidates = imageDirCandidates(annotationFile);
  for (const c of candidates) {
    if (existsSync(c) && statSync(c).isDirectory() && c !== dirname(annotationFile)) return c;
  }
  // The annotation file's own folder is the last resort (images stored beside the JSON).
  const own = dirname(annotationFile);
  if (existsSync(own)) return own;
  throw new Error(`${annotationFile}: cannot find its image folder (tried ${candidates.join(', ')}); pass images=DIR`);
}
