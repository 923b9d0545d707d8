// `ladet test CONFIG|RUN_DIR [weights=RUN_DIR|FILE] [data=ANN.json [images=DIR]] [out=DIR] [key.sub=value ...]`:
// evaluates a trained detector on the config's val split (or any COCO annotation file), prints the 12 COCO stats
// as pycocotools does and writes the results and a summary JSON. A CoLAD run holds two networks: net=1|2 picks one
// (default: the one the run evaluated, distill.colad.evalNet, network 2 unless set), net=both evaluates each in turn.
// weights=MODEL.onnx evaluates an exported ONNX model on onnxruntime-node (CPU) instead, through the same loader,
// post-processing and evaluation.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { netsArg, pathArg, precisionArg, splitArgs, splitOwnKeys } from '../args.js';
import { UsageError } from '../../config/usage_error.js';
import { type Overrides } from '../../config/overrides.js';
import { writeCocoSummary } from '../coco_summary.js';

const USAGE =
  'ladet test CONFIG|RUN_DIR [weights=RUN_DIR|FILE] [data=ANN.json [images=DIR]] [out=DIR] [net=1|2|both] [precision=fp32|bf16|auto] [key.sub=value ...]';
// The command's own keys; everything else overrides the config.
const OWN_KEYS = ['precision', 'weights', 'data', 'images', 'out', 'net'] as const;

export interface TestReport {
  stats: Record<string, number>;
  resultsFile: string;
  summaryFile: string;
}

/** One report per evaluated network (two for net=both). */
export async function runTest(
  args: readonly string[],
  print: (line: string) => void = console.log,
): Promise<TestReport[]> {
  const { positional, kv } = splitArgs(args);
  if (positional.length !== 1) {
    throw new UsageError(
      positional.length
        ? `ladet test: unexpected argument ${positional[1]} (usage: ${USAGE})`
        : `ladet test: missing CONFIG or RUN_DIR (usage: ${USAGE})`,
    );
  }
  const target = positional[0] as string;
  const { ConfigSchema } = await import('../../config/schema.js');
  const { own, overrides } = splitOwnKeys(kv, OWN_KEYS, Object.keys(ConfigSchema.shape), 'test');
  const weights = pathArg(own, 'weights', 'test');
  const data = pathArg(own, 'data', 'test');
  const images = pathArg(own, 'images', 'test');
  const out = pathArg(own, 'out', 'test');
  const net = netsArg(own, 'test');
  const precision = precisionArg(own, 'test');
  if (images !== undefined && data === undefined)
    throw new UsageError('ladet test: images= goes with data=ANN.json (the config names its own image folder)');
  if (!existsSync(target)) throw new UsageError(`ladet test: config file or run directory not found: ${target}`);
  const isRun = statSync(target).isDirectory();

  const { openDetector, resolveModelFiles } = await import('../../engine/open_detector.js');
  const files = resolveModelFiles(
    isRun ? { run: target, ...(weights ? { weights } : {}) } : { config: target, ...(weights ? { weights } : {}) },
  );
  const { isOnnxFile, openOnnxDetector } = await import('../../engine/onnx_detector.js');
  if (isOnnxFile(files.weights)) {
    if (net !== undefined)
      throw new UsageError(
        `ladet test: net= picks a network of a CoLAD run's weights; ${files.weights} holds one (export with net= to choose)`,
      );
    if (precision !== undefined && precision !== 'fp32')
      throw new UsageError(`ladet test: precision=${precision} is for libtorch weights; an ONNX model runs in fp32`);
    const onnx = await openOnnxDetector(files, overrides);
    try {
      const { config, configPath } = onnx;
      if (config === null || configPath === null) throw new Error('ladet test: an ONNX model needs its config here');
      return [await evaluate({ ...onnx, config, configPath }, { data, images, out, overrides }, print)];
    } finally {
      onnx.model.dispose();
    }
  }
  const nets = net === 'both' ? ([1, 2] as const) : [net];
  const reports: TestReport[] = [];
  for (const k of nets) {
    // one network in memory at a time; opening network 1 first also rejects a run that is not CoLAD before any work
    const opened = openDetector(files, overrides, {
      ...(k === undefined ? {} : { net: k }),
      ...(precision ? { precision } : {}),
    });
    if (opened.model.precision !== 'fp32') print(`precision: ${opened.model.precision}`);
    try {
      if (nets.length > 1) print(`network ${k} (${opened.weightsPath}):`);
      reports.push(await evaluate(opened, { data, images, out, overrides }, print));
    } finally {
      opened.model.dispose();
    }
  }
  if (reports.length > 1) {
    const ap = (r: TestReport): string => (r.stats.AP ?? NaN).toFixed(3);
    print(`AP: network 1 ${ap(reports[0] as TestReport)}, network 2 ${ap(reports[1] as TestReport)}`);
  }
  return reports;
}

/** What evaluation reads of an opened network: libtorch weights, or an ONNX model run by onnxruntime. */
type Opened = Pick<
  import('../../engine/open_detector.js').OpenedDetector,
  'config' | 'configPath' | 'runDir' | 'weightsPath' | 'classes' | 'net'
> & { model: import('../../models/detector.js').Detector | import('../../engine/predict.js').BatchDetector };

async function evaluate(
  opened: Opened,
  o: { data: string | undefined; images: string | undefined; out: string | undefined; overrides: Overrides },
  print: (line: string) => void,
): Promise<TestReport> {
  const { valSplitFiles } = await import('../../engine/open_detector.js');
  const { openSplit } = await import('../../engine/data_setup.js');
  const { readCoco } = await import('../../data/coco.js');
  const { guessImageDir } = await import('../../data/layout.js');
  const { evaluateDetector } = await import('../../engine/evaluate.js');
  const { AnchorCache } = await import('../../assign/targets.js');
  const { buildAnchorGenerator, inferenceConfigOf, testPipelineOf } = await import('../../build/model.js');
  const { formatSummary } = await import('../../eval/index.js');
  const { Outputs } = await import('../../io/outputs.js');
  const { setNumThreads } = await import('../../torch/index.js');
  const { TaskProgress } = await import('../progress.js');

  const { config, classes } = opened;
  if (config.threads) setNumThreads(config.threads);
  let annotations: string;
  let imageDir: string;
  let dataset: import('../../data/coco.js').CocoDataset;
  if (o.data !== undefined) {
    if (!existsSync(o.data)) throw new UsageError(`ladet test: data=${o.data}: annotation file not found`);
    annotations = o.data;
    imageDir = o.images ?? guessImageDir(o.data);
    dataset = readCoco(o.data);
  } else {
    ({ annotations, images: imageDir } = valSplitFiles(config, opened.configPath));
    dataset = openSplit(config, 'val').dataset; // data.valLimit applies, as in the trainer's evaluation
  }
  if (!existsSync(imageDir) || !statSync(imageDir).isDirectory())
    throw new UsageError(`ladet test: image folder not found: ${imageDir} (the images of ${annotations})`);
  const outDir = o.out ?? join(opened.runDir, 'eval');
  // the two networks of a CoLAD run write apart
  const tag = `test_${basename(annotations).replace(/\.json$/i, '')}${opened.net === null ? '' : `_net${opened.net}`}`;
  const resultsFile = join(outDir, `${tag}_results.json`);
  const summaryFile = join(outDir, `${tag}_summary.json`);
  // checked before the evaluation: never over the annotations, the images or the weights, nor a file ladet did not write
  // (test_* files in a run's own eval/ written before output manifests existed are this command's too)
  const runEval = opened.runDir === null ? null : join(opened.runDir, 'eval');
  const outputs = new Outputs({
    command: 'ladet test',
    inputs: [annotations, imageDir, opened.weightsPath, opened.configPath],
    owns: (p) => o.out === undefined && dirname(p) === runEval && /^test_.+_(results|summary)\.json$/.test(basename(p)),
  });
  outputs.check(resultsFile);
  outputs.check(summaryFile);
  // Labels map to the model's categories; the test set's must be among them, under the same names.
  const byId = new Map(classes.map((c) => [c.id, c.name]));
  for (const c of dataset.categories) {
    const name = byId.get(c.id);
    if (name === undefined) {
      throw new UsageError(
        `${annotations}: category id ${c.id} ('${c.name}') is not a class of the model (${opened.weightsPath} knows ${classes.map((k) => `${k.id} '${k.name}'`).join(', ')})`,
      );
    }
    if (name !== c.name)
      throw new UsageError(
        `${annotations}: category id ${c.id} is '${c.name}' here but '${name}' in the model's classes (${opened.weightsPath})`,
      );
  }

  const anchors = new AnchorCache(buildAnchorGenerator(config.model), config.device);
  const progress = new TaskProgress('test', 'batches');
  let run: Awaited<ReturnType<typeof evaluateDetector>>;
  try {
    run = await evaluateDetector({
      model: opened.model,
      dataset,
      annotations,
      imageDir,
      pipeline: testPipelineOf(config),
      anchors,
      inference: inferenceConfigOf(config),
      batchSize: config.data.batchSize,
      workers: config.data.workers,
      categoryIds: classes.map((c) => c.id),
      onBatch: (done, total) => progress.update(done, total),
    });
  } finally {
    progress.stop();
    anchors.dispose();
  }
  const { coco } = run;
  print(formatSummary(coco.stats, coco.iouThresholds, coco.maxDets));

  outputs.write(resultsFile, JSON.stringify(run.results) + '\n');
  print(`wrote ${resultsFile}`);
  const head = {
    weights: opened.weightsPath,
    config: opened.configPath,
    ...(opened.net === null ? {} : { net: opened.net }),
    overrides: o.overrides,
    annotations,
    images: run.images,
    skipped: run.skipped,
    detections: run.results.length,
    seconds: run.seconds,
  };
  writeCocoSummary(outputs, summaryFile, head, coco, print);
  return { stats: coco.named, resultsFile, summaryFile };
}

export function registerTest(program: Command): void {
  program
    .command('test')
    .description(`evaluate a trained detector (12 COCO stats): ${USAGE}`)
    .argument('<target>', 'config YAML or run directory')
    .argument('[args...]', 'weights=, data=, images=, out=, net=, key.sub=value config overrides')
    .action(async (target: string, args: string[]) => {
      await runTest([target, ...args]);
    });
}
