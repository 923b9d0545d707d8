// `ladet demo` end to end on a tiny schedule (16 shapes images, one epoch each for teacher, PAA and LAD students):
// stopped during the LAD student, it saves that run; a rerun reuses the finished runs, resumes the stopped one, and
// the report folder has its table, curves and the predictions picture, and report.md links them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { DEMO_PICTURE, inThreadTrainer, runDemo, type DemoTrainer } from '../../src/engine/demo.js';
import { GRID, gridSize } from '../../src/engine/prediction_grid.js';
import { RuntimeDetector } from '../../src/runtime/index.js';

test("runDemo stops and resumes, and writes report.md with the table, the teacher's AP and a linked predictions picture", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ladet-demo-'));
  try {
    const root = join(dir, 'shapes');
    const overrides = {
      'data.builtin': 'shapes',
      'data.root': root,
      'data.builtinArgs': { train: 16, val: 8, size: 96, maxItems: 3 },
      'data.trainScales': [[96, 96]],
      'data.testScale': [96, 96],
      'data.workers': 0,
      'schedule.epochs': 1,
      'schedule.warmupIters': 1,
      'eval.every': 1,
      // scores above evaluation's 0.05 after one epoch, so the runtime check has detections to compare
      'model.head.priorProb': 0.1,
    };
    const runsDir = join(dir, 'runs');
    // first: a stop request as soon as the LAD student starts (after its first step)
    let armed = false;
    const first = await runDemo({
      runsDir,
      hooks: { onMessage: (l) => (armed ||= l.includes('with LAD')), shouldStop: () => armed },
      overrides,
    });
    assert.deepEqual(first, { stopped: true, runDir: join(runsDir, 'demo_lad') });
    assert.ok(existsSync(join(runsDir, 'demo_lad', 'weights', 'last.safetensors')));
    assert.ok(!existsSync(join(runsDir, 'demo_lad', 'eval', 'epoch_1.json')), 'stopped before its evaluation');
    assert.ok(!existsSync(join(runsDir, 'report')));

    // then: every run is resumed (the finished teacher and PAA student are reused as they are)
    const calls: { name: unknown; resume: boolean }[] = [];
    const inThread = inThreadTrainer({});
    const trainer: DemoTrainer = async (configPath, o, start) => {
      calls.push({ name: o.name ?? 'demo_teacher_r18w50', resume: start.resume });
      return inThread(configPath, o, start);
    };
    const paaEval = readFileSync(join(runsDir, 'demo_paa', 'eval', 'epoch_1.json'), 'utf8');
    const r = await runDemo({ runsDir, hooks: { onMessage: () => {} }, overrides, trainer });
    if (r.stopped) assert.fail('the rerun stopped');
    assert.deepEqual(calls, [
      { name: 'demo_teacher_r18w50', resume: true },
      { name: 'demo_paa', resume: true },
      { name: 'demo_lad', resume: true },
    ]);
    assert.equal(
      readFileSync(join(runsDir, 'demo_paa', 'eval', 'epoch_1.json'), 'utf8'),
      paaEval,
      'the finished PAA run is not retrained',
    );
    assert.equal(r.rows[0]?.AP, (JSON.parse(paaEval) as { stats: { AP: number } }).stats.AP);
    assert.ok(existsSync(join(runsDir, 'demo_lad', 'eval', 'epoch_1.json')), 'the stopped LAD run finished');
    assert.equal(r.reportDir, join(dir, 'runs', 'report'));
    assert.deepEqual(
      r.rows.map((row) => row.method),
      ['PAA (self-assigned)', 'LAD (teacher-assigned)'],
    );
    assert.equal(r.teacher.trainedHere, true);
    assert.ok(r.teacher.trainSeconds !== null && r.teacher.trainSeconds > 0);
    // the teacher's AP is the one its best checkpoint was chosen by
    const teacherEval = JSON.parse(
      readFileSync(join(dir, 'runs', 'demo_teacher_r18w50', 'eval', 'epoch_1.json'), 'utf8'),
    ) as { stats: { AP: number } };
    assert.equal(r.teacher.AP, teacherEval.stats.AP);

    // the picture: the first DEMO_PICTURE.images val images with objects (all 96 x 96), two columns
    const val = JSON.parse(readFileSync(join(root, 'annotations', 'instances_val.json'), 'utf8')) as {
      images: { id: number }[];
      annotations: { image_id: number }[];
    };
    const rows = Math.min(
      DEMO_PICTURE.images,
      val.images.filter((im) => val.annotations.some((a) => a.image_id === im.id)).length,
    );
    assert.equal(rows, 4);
    assert.equal(r.picture, join(r.reportDir, 'predictions.png'));
    const meta = await sharp(r.picture).metadata();
    const want = gridSize(rows, 2, 96, 96);
    assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', want.width, want.height, 3]);
    assert.deepEqual(want, {
      width: 2 * 96 * GRID.scale + 3 * GRID.gap,
      height: GRID.header + 4 * 96 * GRID.scale + 5 * GRID.gap,
    });

    const md = readFileSync(join(r.reportDir, 'report.md'), 'utf8');
    assert.match(md, /\n!\[predictions of both students\]\(predictions\.png\)\n/);
    for (const png of ['train_loss_cls.png', 'train_loss_bbox.png']) {
      assert.ok(md.includes(`(${png})`), `report.md links ${png}`);
      assert.ok(existsSync(join(r.reportDir, png)), png);
    }
    assert.ok(md.includes(`val AP ${(r.teacher.AP as number).toFixed(3)} at its best epoch`), md);
    // the LAD student exported for ladet/runtime, whose best detections on the first picture row are libtorch's
    assert.equal(r.runtime.model, join(r.reportDir, 'lad_student.runtime.safetensors'));
    assert.equal(r.runtime.bytes, readFileSync(r.runtime.model).length);
    assert.equal(RuntimeDetector.fromBytes(readFileSync(r.runtime.model)).classes.length, 8);
    assert.equal(r.runtime.sameDetections, true);
    assert.match(
      md,
      /## Deploy\n\n`lad_student\.runtime\.safetensors` \(\d+\.\d MiB\) is the LAD student as a ladet\/runtime model/,
    );
    assert.equal(r.runtime.compared, 10);
    assert.match(
      md,
      /On the first image above, its 10 best detections are those of ladet on libtorch \(classes equal, boxes within 0\.01 px\)\./,
    );
    // one table row per student with its training time
    for (const row of r.rows)
      assert.ok(md.includes(`| ${row.method} | ${row.AP.toFixed(3)} |`) && /\| \d+ s \|/.test(md), md);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
