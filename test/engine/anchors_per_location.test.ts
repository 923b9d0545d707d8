// Several anchors per location (model.anchors.ratios × scalesPerOctave): the PAA head predicts A*C class, A*4 box and
// A IoU channels, in the anchor generator's order, and a run trains, evaluates and reopens with them; COP and IOP
// heads, written for one anchor per location, refuse such a config by its field. (Export and post-processing of
// the same layout against libtorch: test/onnx/export.test.ts's paa3 case.)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type ConfigInput } from '../../src/config/schema.js';
import { train } from '../../src/engine/trainer.js';
import { openDetector, resolveModelFiles } from '../../src/engine/open_detector.js';
import { buildAnchorGenerator } from '../../src/build/model.js';
import { manualSeed, noGrad, randn, tidy } from '../../src/torch/index.js';
import { tinyRun } from './tiny_run.js';

const work = mkdtempSync(join(tmpdir(), 'ladet-anchors-'));
after(() => rmSync(work, { recursive: true, force: true }));

const RATIOS = [0.5, 1, 2];
function run(name: string, head: Record<string, unknown> = {}): ConfigInput {
  const base = tinyRun(work, name, 8);
  return {
    ...base,
    model: {
      ...base.model!,
      head: { ...base.model!.head, ...head },
      anchors: { ...base.model!.anchors, ratios: RATIOS },
    },
  } as ConfigInput;
}

test('COP and IOP heads refuse several anchors per location, naming model.anchors.ratios', () => {
  for (const type of ['cop', 'iop'] as const) {
    assert.throws(
      () => parseConfig(run(`refused_${type}`, { type }), 'r.yaml'),
      new RegExp(
        `r\\.yaml: model\\.anchors\\.ratios: the ${type} head predicts one anchor per location; ratios \\[0\\.5, 1, 2\\] × scalesPerOctave 1 give 3`,
      ),
    );
  }
  assert.doesNotThrow(() => parseConfig(run('paa_ok'), 'r.yaml'));
});

test('a PAA run with 3 anchors per location trains (positives, finite losses), evaluates and reopens', async () => {
  const config = parseConfig(run('paa3'));
  const r = await train(config, { hooks: { onMessage: () => undefined } });
  const epochs = readFileSync(join(r.runDir, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number | string>)
    .filter((e) => e.event === 'epoch');
  assert.equal(epochs.length, 2);
  for (const e of epochs) {
    assert.ok((e['train/num_pos'] as number) > 0, JSON.stringify(e));
    for (const k of ['train/loss_cls', 'train/loss_bbox', 'train/loss_iou'])
      assert.ok(Number.isFinite(e[k] as number), `${k}: ${String(e[k])}`);
  }
  assert.ok(Number.isFinite(epochs[1]!['val/AP'] as number));

  const opened = openDetector(resolveModelFiles({ run: r.runDir }), {}, {});
  try {
    const gen = buildAnchorGenerator(opened.config.model);
    assert.equal(gen.numBaseAnchors, 3);
    const classes = opened.classes.length;
    manualSeed(3);
    tidy(() =>
      noGrad(() => {
        const out = opened.model.forward(randn([1, 3, 96, 96]));
        out.cls.forEach((c, l) => {
          const side = 96 / (8 * 2 ** l);
          assert.deepEqual(c.shape, [1, 3 * classes, side, side]);
          assert.deepEqual(out.reg[l]!.shape, [1, 3 * 4, side, side]);
          assert.deepEqual(out.iou![l]!.shape, [1, 3, side, side]);
        });
      }),
    );
  } finally {
    opened.model.dispose();
  }
});
