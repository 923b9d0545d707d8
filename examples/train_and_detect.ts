// Train a detector from a preset, then detect objects in an image with it: ladet as a library.
//   node dist/examples/train_and_detect.js CONFIG.yaml IMAGE [scoreThr=0.3] [key.sub=value ...]
// e.g. node dist/examples/train_and_detect.js configs/paa_r18_fashion_mini.yaml data/fashion-det/val/000001.png schedule.epochs=1 name=example
import { TrainedDetector, trainDetector } from 'ladet';

const [config, image, ...rest] = process.argv.slice(2);
if (!config || !image) throw new Error('usage: train_and_detect CONFIG.yaml IMAGE [scoreThr=0.3] [key.sub=value ...]');
const value = (v: string): unknown => {
  try {
    return JSON.parse(v); // numbers, booleans, [320, 320]
  } catch {
    return v; // a bare string: name=example
  }
};
const { scoreThr = 0.3, ...overrides } = Object.fromEntries(
  rest.map((kv) => [kv.slice(0, kv.indexOf('=')), value(kv.slice(kv.indexOf('=') + 1))]),
);

// Ctrl-C stops after the current step and saves the run; `resume: true` picks it up next time.
const stop = new AbortController();
process.once('SIGINT', () => stop.abort());
const run = await trainDetector(config, {
  overrides,
  resume: true,
  signal: stop.signal,
  onProgress: (p) => {
    if (p.phase === 'train' && p.batch === p.batches)
      console.log(`epoch ${p.epoch + 1}/${p.epochs}: loss_cls ${p.losses.loss_cls?.toFixed(3)}`);
  },
});
if (run.stopped) process.exit(130);
console.log(`trained ${run.runDir}: best AP ${run.best?.metric.toFixed(3)} at epoch ${run.best?.epoch}`);

const detector = TrainedDetector.open({ run: run.runDir });
try {
  for (const d of await detector.detect(image, { scoreThr: Number(scoreThr) })) {
    console.log(`${d.label} ${d.score.toFixed(2)} at [${d.box.map((v) => v.toFixed(1)).join(', ')}]`);
  }
} finally {
  detector.dispose();
}
