// `ladet predict weights=RUN_DIR|FILE source=IMAGE|DIR [config=CONFIG.yaml] [out=DIR] [scoreThr=0.3] [net=1|2] [precision=fp32|bf16|auto] [key.sub=value ...]`:
// runs a trained detector on image files and writes, per image, a PNG with the boxes, class names and scores drawn
// and a JSON of the detections in original pixels, plus one predictions.json for the whole source. An image that
// cannot be read is reported and skipped; the others are still done. net=1|2 picks a network of a CoLAD run.
// weights=MODEL.onnx runs an exported ONNX model on onnxruntime-node (CPU) instead: its classes, and without a
// config its test pipeline and post-processing settings, come from the file.
import { basename, dirname, extname, join } from 'node:path';
import type { Command } from 'commander';
import { netArg, pathArg, precisionArg, splitArgs, splitOwnKeys } from '../args.js';
import { UsageError } from '../../config/usage_error.js';
import type { Detection } from '../../engine/predict.js';

export type { Detection } from '../../engine/predict.js';

const USAGE =
  'ladet predict weights=RUN_DIR|FILE source=IMAGE|DIR [config=CONFIG.yaml] [out=DIR] [scoreThr=0.3] [net=1|2] [key.sub=value ...]';
const OWN_KEYS = ['precision', 'weights', 'source', 'config', 'out', 'scoreThr', 'net'] as const;

export interface ImageResult {
  file: string;
  width: number;
  height: number;
  /** the drawn PNG and the JSON, in out= */
  png: string;
  json: string;
  detections: Detection[];
}

export interface PredictReport {
  out: string;
  images: ImageResult[];
  skipped: { file: string; reason: string }[];
}

export async function runPredict(
  args: readonly string[],
  print: (line: string) => void = console.log,
): Promise<PredictReport> {
  const { positional, kv } = splitArgs(args);
  if (positional.length) throw new UsageError(`ladet predict: unexpected argument ${positional[0]} (usage: ${USAGE})`);
  const { ConfigSchema } = await import('../../config/schema.js');
  const { own, overrides } = splitOwnKeys(kv, OWN_KEYS, Object.keys(ConfigSchema.shape), 'predict');
  const weights = pathArg(own, 'weights', 'predict', { usage: USAGE });
  const source = pathArg(own, 'source', 'predict', { usage: USAGE });
  const config = pathArg(own, 'config', 'predict');
  const net = netArg(own, 'predict');
  const precision = precisionArg(own, 'predict');
  const scoreThr = own.scoreThr ?? 0.3;
  if (typeof scoreThr !== 'number' || !(scoreThr >= 0 && scoreThr <= 1)) {
    throw new UsageError(`ladet predict: scoreThr must be a number in [0, 1] (got ${JSON.stringify(own.scoreThr)})`);
  }

  const { listImages, predictImages, toDetections } = await import('../../engine/predict.js');
  const { openDetector, resolveModelFiles } = await import('../../engine/open_detector.js');
  const { decodeImage } = await import('../../data/image.js');
  const { drawDetections } = await import('../../data/draw.js');
  const { Outputs } = await import('../../io/outputs.js');
  const { setNumThreads } = await import('../../torch/index.js');
  const { TaskProgress } = await import('../progress.js');

  const files = listImages(source);
  const modelFiles = resolveModelFiles({ weights, ...(config ? { config } : {}) });
  const { isOnnxFile, openOnnxDetector } = await import('../../engine/onnx_detector.js');
  let opened: Opened;
  if (isOnnxFile(modelFiles.weights)) {
    if (net !== undefined)
      throw new UsageError(
        `ladet predict: net= picks a network of a CoLAD run's weights; ${weights} holds one (export with net= to choose)`,
      );
    if (precision !== undefined && precision !== 'fp32')
      throw new UsageError(`ladet predict: precision=${precision} is for libtorch weights; an ONNX model runs in fp32`);
    const o = await openOnnxDetector(modelFiles, overrides);
    opened = { ...o, threads: o.config?.threads, settings: o.settings };
  } else {
    const o = openDetector(modelFiles, overrides, {
      ...(net === undefined ? {} : { net }),
      ...(precision ? { precision } : {}),
    });
    opened = { ...o, threads: o.config.threads, settings: o.config };
  }
  const out =
    pathArg(own, 'out', 'predict') ?? join(opened.runDir, opened.net === null ? 'predict' : `predict_net${opened.net}`);
  // never over the images it reads (out= inside source= is refused: a rerun would draw on the drawings)
  // (a run's own predict/ folder written before output manifests existed is this command's too)
  const ownFolder = pathArg(own, 'out', 'predict') === undefined;
  const outputs = new Outputs({
    command: 'ladet predict',
    inputs: [source, opened.weightsPath, opened.configPath],
    owns: (p) => ownFolder && dirname(p) === out,
  });
  try {
    outputs.check(join(out, 'predictions.json'));
  } catch (e) {
    opened.model.dispose();
    throw e;
  }
  const names = outputNames(files);
  const { classes } = opened;
  const labelOf = new Map(classes.map((c, i) => [c.id, i])); // drawing colours by class index
  if (opened.threads) setNumThreads(opened.threads);

  const report: PredictReport = { out, images: [], skipped: [] };
  const progress = new TaskProgress('predict', 'images');
  const skip = (file: string, reason: string): void => {
    report.skipped.push({ file, reason });
    progress.stop();
    process.stderr.write(`ladet predict: skipped ${file}: ${reason}\n`);
  };
  try {
    const stream = predictImages({
      model: opened.model,
      ...('pipeline' in opened.settings ? { settings: opened.settings } : { config: opened.settings }),
      classes,
      files,
      onSkip: skip,
      onProgress: (done, total) => progress.update(done, total),
    });
    for await (const p of stream) {
      // files get 0.01 px and 1e-4 score precision
      const detections: Detection[] = toDetections(p, classes, scoreThr).map((d) => {
        const [x1, y1, x2, y2] = d.box.map((v) => round(v, 100)) as [number, number, number, number];
        return {
          ...d,
          score: round(d.score, 1e4),
          box: [x1, y1, x2, y2],
          bbox: [x1, y1, round(x2 - x1, 100), round(y2 - y1, 100)],
        };
      });
      const stem = names.get(p.file) as string;
      const result: ImageResult = {
        file: p.file,
        width: p.width,
        height: p.height,
        png: join(out, `${stem}.png`),
        json: join(out, `${stem}.json`),
        detections,
      };
      let png: Buffer;
      try {
        const image = await decodeImage(p.file);
        const drawn = detections.map((d) => ({
          box: d.box,
          label: labelOf.get(d.category_id) as number,
          text: `${d.label} ${d.score.toFixed(2)}`,
        }));
        png = await drawDetections(image, drawn);
      } catch (e) {
        skip(p.file, `cannot draw the detections: ${(e as Error).message}`);
        continue;
      }
      outputs.write(result.png, png);
      outputs.write(
        result.json,
        JSON.stringify({ file: p.file, width: p.width, height: p.height, detections }, null, 2) + '\n',
      );
      report.images.push(result);
    }
  } finally {
    progress.stop();
    opened.model.dispose();
    outputs.flush();
  }
  const combined = {
    weights: opened.weightsPath,
    config: opened.configPath,
    ...(opened.net === null ? {} : { net: opened.net }),
    scoreThr,
    classes,
    images: report.images,
    skipped: report.skipped,
  };
  const all = join(out, 'predictions.json');
  outputs.write(all, JSON.stringify(combined, null, 2) + '\n');
  outputs.flush();
  const dets = report.images.reduce((n, r) => n + r.detections.length, 0);
  const skipped = report.skipped.length ? `; skipped ${report.skipped.length} unreadable` : '';
  print(
    `${report.images.length} of ${files.length} images, ${dets} detections with score >= ${scoreThr}${skipped}: ${out}`,
  );
  print(`wrote ${all}`);
  return report;
}

/** What predict reads of an opened network: libtorch weights (settings from the config) or an ONNX model. */
interface Opened {
  model: import('../../models/detector.js').Detector | import('../../engine/predict.js').BatchDetector;
  classes: import('../../data/label_map.js').Category[];
  runDir: string;
  net: 1 | 2 | null;
  weightsPath: string;
  configPath: string | null;
  threads: number | undefined;
  /** the config (libtorch weights), or the settings an ONNX model runs with */
  settings: import('../../config/schema.js').Config | import('../../engine/predict.js').TestSettings;
}

/** Output stems: the file name without its extension, or with it (a.jpg -> a_jpg) when two files share a stem. */
export function outputNames(files: readonly string[]): Map<string, string> {
  const stem = (f: string): string => basename(f, extname(f));
  const count = new Map<string, number>();
  for (const f of files) count.set(stem(f), (count.get(stem(f)) ?? 0) + 1);
  return new Map(files.map((f) => [f, (count.get(stem(f)) as number) > 1 ? basename(f).replace(/\./g, '_') : stem(f)]));
}

function round(v: number, scale: number): number {
  return Math.round(v * scale) / scale;
}

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description(`draw a trained detector's detections on images: ${USAGE}`)
    .argument('[args...]', 'weights=, source=, config=, out=, scoreThr=, net=, key.sub=value config overrides')
    .action(async (args: string[]) => {
      const r = await runPredict(args);
      if (r.images.length === 0) {
        process.stderr.write('ladet predict: no image could be read\n');
        process.exitCode = 1;
      }
    });
}
