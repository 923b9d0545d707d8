// Puts a generated table into a markdown file between `<!-- repro:NAME -->` and `<!-- /repro:NAME -->`, leaving
// everything else as it is, so the paper study's tables in the docs come from result files and are never typed by hand.
import { readFileSync, existsSync } from 'node:fs';
import { UsageError } from '../config/usage_error.js';
import { writeFileAtomic } from '../io/atomic.js';

/** Where `ladet repro ... readme=true` writes the tables: the paper study's docs page (`readme=FILE` names another). */
export const DEFAULT_TABLES_FILE = 'docs/paper-study.md';

export function markers(name: string): { open: string; close: string } {
  return { open: `<!-- repro:${name} -->`, close: `<!-- /repro:${name} -->` };
}

function count(text: string, s: string): number {
  return text.split(s).length - 1;
}

/** `text` with the part between the markers of `name` replaced by `body`; `file` names the text in errors. */
export function injectSection(text: string, name: string, body: string, file: string): string {
  const { open, close } = markers(name);
  const opens = count(text, open);
  const closes = count(text, close);
  if (opens === 0)
    throw new UsageError(`${file}: no ${open} marker (put ${open} and ${close} where the ${name} table goes)`);
  if (closes === 0) throw new UsageError(`${file}: ${open} has no closing ${close} marker`);
  if (opens > 1 || closes > 1) throw new UsageError(`${file}: the ${name} markers appear more than once`);
  const start = text.indexOf(open) + open.length;
  const end = text.indexOf(close);
  if (end < start) throw new UsageError(`${file}: ${close} comes before ${open}`);
  return `${text.slice(0, start)}\n${body.trimEnd()}\n${text.slice(end)}`;
}

/** Rewrites `file` (atomically) with the section of `name` replaced by `body`; true when the text changed. */
export function injectIntoFile(file: string, name: string, body: string): boolean {
  if (!existsSync(file)) throw new UsageError(`${file}: file not found`);
  const text = readFileSync(file, 'utf8');
  const next = injectSection(text, name, body, file);
  if (next === text) return false;
  writeFileAtomic(file, next);
  return true;
}
