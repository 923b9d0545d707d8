// Fuzz target: config files through loadConfig (every command that takes a config). Bases are the presets under
// configs/ (as YAML or as JSON text, which YAML also reads); mutations are structural (mutate.ts) plus YAML's own
// hazards: alias bombs, deep block nesting, several documents, tags, tabs.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { configHash, configToYaml, loadConfig, parseConfig } from '../../../src/config/schema.js';
import { checkCall, preview, type FuzzTarget } from '../harness.js';
import {
  applyByteMutations,
  applyTreeMutations,
  hostileScalar,
  isUnmutated,
  mutations,
  toJson,
  toYaml,
  type Mutations,
  type Tree,
} from '../mutate.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

function presetFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? presetFiles(p) : p.endsWith('.yaml') ? [p] : [];
    });
}

/** The presets as plain values (parsed once). */
const presets: { file: string; value: Tree }[] = presetFiles(join(root, 'configs')).map((file) => ({
  file,
  value: parseYaml(readFileSync(file, 'utf8')) as Tree,
}));

function aliasBomb(levels: number): string {
  let s = 'bomb0: &b0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n';
  for (let i = 1; i < levels; i++) s += `bomb${i}: &b${i} [${new Array(9).fill(`*b${i - 1}`).join(', ')}]\n`;
  return s;
}

function deepBlock(depth: number, seq: boolean): string {
  let s = 'deep:\n';
  for (let i = 1; i <= depth; i++) s += seq ? `${' '.repeat(i)}-\n` : `${' '.repeat(i)}a:\n`;
  return s;
}

/** YAML text appended to the document, or (replace) standing for the whole of it. */
const extraArb: fc.Arbitrary<{ label: string; text: string; replace?: boolean }> = fc.oneof(
  fc.tuple(fc.integer({ min: 50, max: 20000 }), fc.constantFrom('[', '{a: ', '- ')).map(([d, open]) => ({
    label: `document nested ${d} deep with '${open}'`,
    text: `${open.repeat(d)}${open === '- ' ? 'x' : open === '[' ? ']'.repeat(d) : `1${'}'.repeat(d)}`}`,
    replace: true,
  })),
  fc.integer({ min: 2, max: 12 }).map((n) => ({ label: `alias bomb ${n}`, text: aliasBomb(n) })),
  fc
    .tuple(fc.integer({ min: 20, max: 1200 }), fc.boolean())
    .map(([d, seq]) => ({ label: `block nesting ${d}`, text: deepBlock(d, seq) })),
  fc
    .integer({ min: 20, max: 5000 })
    .map((d) => ({ label: `compact nesting ${d}`, text: `deep: ${'- '.repeat(d)}x\n` })),
  fc.constantFrom(
    { label: 'second document', text: '---\nname: other\n' },
    { label: 'end marker', text: '...\n' },
    { label: 'merge key', text: 'base: &base {lr: 1}\nmerged:\n  <<: *base\n' },
    { label: 'tab indentation', text: 'data:\n\troot: x\n' },
    { label: 'duplicate name', text: 'name: again\n' },
    { label: 'directive', text: '%YAML 1.1\n---\n' },
    { label: 'proto key', text: '__proto__:\n  polluted: 1\n' },
    { label: 'complex key', text: '? [a, b]\n: c\n' },
    { label: 'anchor on top', text: '&top\n' },
    { label: 'binary', text: 'blob: !!binary |\n  R0lGODlhDAAMAIQAAP//9/X17unp5WZmZgAAAOfn515eXvPz7Y6OjuDg4J+fn5\n' },
  ),
);

const overrideKeys = [
  'data.batchSize',
  'data.root',
  'model.backbone.depth',
  'optimizer.lr',
  'schedule.steps',
  'distill.strategy',
  'eval.nmsIou',
  'name',
  'seed',
  'data.trainScales',
];

interface Case {
  preset: number;
  json: boolean;
  m: Mutations;
  extra: { label: string; text: string; replace?: boolean } | null;
  overrides: Record<string, Tree> | null;
  file: string;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  preset: fc.nat(),
  json: fc.boolean(),
  m: mutations,
  extra: fc.oneof({ arbitrary: fc.constant(null), weight: 5 }, { arbitrary: extraArb, weight: 1 }),
  overrides: fc.oneof(
    { arbitrary: fc.constant(null), weight: 6 },
    {
      arbitrary: fc.dictionary(fc.constantFrom(...overrideKeys), hostileScalar, { minKeys: 1, maxKeys: 2 }),
      weight: 1,
    },
  ),
  file: fc.constantFrom('preset.yaml', 'my config.yaml', 'ünï [1].yml'),
});

const protoNames = (): string => Object.getOwnPropertyNames(Object.prototype).sort().join(',');

export const configTarget: FuzzTarget = {
  name: 'config',
  ciRuns: 2000,
  property: ({ dir, onCase }) => {
    const protoBefore = protoNames();
    const scratch = join(dir, 'scratch');
    return fc.asyncProperty(caseArb, async (c) => {
      const preset = presets[c.preset % presets.length]!;
      const tree = applyTreeMutations(preset.value, c.m.tree);
      let text = c.json ? toJson(tree, 2) : toYaml(tree);
      if (c.extra?.replace) text = c.extra.text;
      else if (c.extra !== null && !c.json) text += c.extra.text;
      const bytes = applyByteMutations(Buffer.from(text, 'utf8'), c.m.bytes);
      const path = join(dir, c.file);
      writeFileSync(path, bytes);
      onCase(
        `${c.file} (${preset.file}${c.extra ? `, ${c.extra.label}` : ''}) ${preview(bytes)} overrides=${preview(JSON.stringify(c.overrides) ?? '')}`,
      );
      const valid = isUnmutated(c.m) && (c.extra === null || (c.json && !c.extra.replace)) && c.overrides === null;
      // overrides arrive as parsed CLI values: JSON-like, so Raw tokens become their JSON text parsed back where possible
      const overrides: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(c.overrides ?? {})) {
        try {
          overrides[k] = JSON.parse(toJson(v));
        } catch {
          overrides[k] = toJson(v);
        }
      }
      // loaded twice, as a long-lived process (the API, ladet repro) may: the same outcome both times
      let first: string | null = null;
      try {
        first = JSON.stringify(loadConfig(path, overrides));
      } catch (e) {
        first = e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
      }
      await checkCall({
        path,
        dir,
        label: 'loadConfig',
        call: () => {
          const again = loadConfig(path, overrides);
          assert.equal(JSON.stringify(again), first, 'a second load gave another result');
          return again;
        },
        expectOk: valid,
        verify: (cfg) => {
          assert.equal(protoNames(), protoBefore, 'Object.prototype was changed');
          assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was polluted');
          // a loaded config is a fixed point of validation, hashes, and survives its own YAML
          assert.deepEqual(parseConfig(structuredClone(cfg), 'again'), cfg);
          assert.match(configHash(cfg), /^[0-9a-f]{64}$/);
          mkdirSync(scratch, { recursive: true });
          const again = join(scratch, 'resolved.yaml');
          writeFileSync(again, configToYaml(cfg));
          assert.deepEqual(loadConfig(again), cfg);
          rmSync(scratch, { recursive: true, force: true });
          if (valid) assert.deepEqual(cfg, parseConfig(preset.value, preset.file));
        },
      });
      assert.equal(protoNames(), protoBefore, 'Object.prototype was changed');
    });
  },
};
