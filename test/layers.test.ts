// The folder tree is the architecture (DESIGN.md §2): each folder of src/ imports only from the folders below it,
// and the CLI is the top floor. The order is written once, in the README's "Layout" section (lowest first); this
// test reads it from there and checks every relative import of the compiled sources (static, dynamic and
// `export ... from`) against it. A folder missing from the list, an upward import or a folder cycle fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const distSrc = resolve(dirname(fileURLToPath(import.meta.url)), '../src');
const repo = resolve(distSrc, '../..');

/** The folders of src/ in the README's Layout block, lowest first (each line `src/<folder>/ ...`). */
export function layerOrder(readme: string): string[] {
  const section = readme.split(/^## /m).find((s) => s.startsWith('Layout'));
  assert.ok(section, 'README.md has no "## Layout" section');
  const order: string[] = [];
  for (const m of section.matchAll(/^src\/([a-z_]+)\/(?=\s)/gm)) order.push(m[1] as string);
  return order;
}

/** Every `from '…'` / `import('…')` specifier of a compiled file. */
function specifiers(js: string): string[] {
  const out: string[] = [];
  for (const m of js.matchAll(/(?:^|[\s;])(?:import|export)\s[^;]*?from\s*['"]([^'"]+)['"]/gm))
    out.push(m[1] as string);
  for (const m of js.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1] as string);
  return out;
}

/** The compiled files of `dir` whose TypeScript source still exists (tsc leaves the output of a moved file behind). */
function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return jsFiles(p);
    const source = join(repo, 'src', relative(distSrc, p)).replace(/\.js$/, '.ts');
    return p.endsWith('.js') && existsSync(source) ? [p] : [];
  });
}

/** folder -> folders it imports (relative imports between src/ folders), from the compiled tree. */
function folderImports(): Map<string, Map<string, string>> {
  const edges = new Map<string, Map<string, string>>();
  for (const file of jsFiles(distSrc)) {
    const from = relative(distSrc, file).split(sep)[0] as string;
    if (from.endsWith('.js')) continue; // src/index.js: the package entry re-exports every layer
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = relative(distSrc, resolve(dirname(file), spec)).split(sep)[0] as string;
      if (target === from || target.startsWith('..') || target.endsWith('.js')) continue;
      if (!edges.has(from)) edges.set(from, new Map());
      edges.get(from)!.set(target, relative(distSrc, file));
    }
  }
  return edges;
}

test('every src/ folder imports only from the folders below it in the README layout (lowest first); cli is the top', () => {
  const order = layerOrder(readFileSync(join(repo, 'README.md'), 'utf8'));
  assert.ok(order.length >= 10, `the layout lists ${order.join(', ')}`);
  assert.equal(order[order.length - 1], 'cli', 'the CLI is the top floor');
  const folders = readdirSync(distSrc).filter((f) => statSync(join(distSrc, f)).isDirectory());
  const sourceFolders = folders.filter((f) => jsFiles(join(distSrc, f)).length > 0);
  const missing = sourceFolders.filter((f) => !order.includes(f));
  assert.deepEqual(missing, [], 'folders of src/ missing from the README layout');
  const rank = new Map(order.map((f, i) => [f, i]));
  const upward: string[] = [];
  for (const [from, targets] of folderImports()) {
    for (const [to, file] of targets) {
      if ((rank.get(to) ?? Infinity) >= (rank.get(from) ?? -1))
        upward.push(`${file} imports ${to}/ (${from}/ is not above it)`);
    }
  }
  assert.deepEqual(upward, []);
});

test('the folder graph has no cycle (checked apart from the order, so a wrong layout line cannot hide one)', () => {
  const edges = folderImports();
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (f: string): void => {
    if (state.get(f) === 'done') return;
    assert.notEqual(state.get(f), 'open', `folder cycle: ${[...path.slice(path.indexOf(f)), f].join(' -> ')}`);
    state.set(f, 'open');
    path.push(f);
    for (const to of edges.get(f)?.keys() ?? []) visit(to);
    path.pop();
    state.set(f, 'done');
  };
  for (const f of edges.keys()) visit(f);
});

test('layerOrder reads the folders of the Layout block in order, and an upward import would be caught', () => {
  const readme =
    '# x\n\n## Layout\n\n```\nnative/  addon\nsrc/torch/     tensors\nsrc/io/  files\nsrc/cli/  top\n```\n\n## Next\nsrc/other/ x\n';
  assert.deepEqual(layerOrder(readme), ['torch', 'io', 'cli']);
  // the rule the first test applies, on a made-up edge: io importing cli is upward
  const rank = new Map(layerOrder(readme).map((f, i) => [f, i]));
  assert.ok((rank.get('cli') as number) >= (rank.get('io') as number));
});
