// `ladet export weights=RUN_DIR|FILE out=MODEL.safetensors|MODEL.onnx [format=runtime|onnx] [nms=true]
// [config=CONFIG.yaml] [net=1|2] [key.sub=value ...]`: writes one trained network as a runtime model file, which `ladet/runtime` (plain
// TypeScript, no libtorch) runs in a browser or any JS runtime (format=runtime, the default), or as an ONNX model
// (format=onnx, the default for out=*.onnx) for onnxruntime and other ONNX consumers; nms=true appends the
// post-processing to the ONNX graph. The settings that shape inference (data.testScale, eval.*) can be overridden here.
import type { Command } from 'commander';
import { netArg, pathArg, splitArgs, splitOwnKeys } from '../args.js';
import { UsageError } from '../../config/usage_error.js';

const USAGE =
  'ladet export weights=RUN_DIR|FILE out=MODEL.safetensors|MODEL.onnx [format=runtime|onnx] [nms=true] [config=CONFIG.yaml] [net=1|2] [key.sub=value ...]';
const OWN_KEYS = ['weights', 'out', 'config', 'net', 'format', 'nms'] as const;

export async function runExport(
  args: readonly string[],
  print: (line: string) => void = console.log,
): Promise<{ out: string; bytes: number }> {
  const { positional, kv } = splitArgs(args);
  if (positional.length) throw new UsageError(`ladet export: unexpected argument ${positional[0]} (usage: ${USAGE})`);
  const { ConfigSchema } = await import('../../config/schema.js');
  const { own, overrides } = splitOwnKeys(kv, OWN_KEYS, Object.keys(ConfigSchema.shape), 'export');
  const weights = pathArg(own, 'weights', 'export', { usage: USAGE });
  const out = pathArg(own, 'out', 'export', { usage: USAGE });
  const config = pathArg(own, 'config', 'export');
  const net = netArg(own, 'export');
  const format = own.format ?? (/\.onnx$/i.test(out) ? 'onnx' : 'runtime');
  if (format !== 'runtime' && format !== 'onnx')
    throw new UsageError(`ladet export: format= must be runtime or onnx (got ${JSON.stringify(own.format)})`);
  const nms = own.nms ?? false;
  if (typeof nms !== 'boolean')
    throw new UsageError(`ladet export: nms= must be true or false (got ${JSON.stringify(nms)})`);
  if (nms && format !== 'onnx')
    throw new UsageError('ladet export: nms=true appends NMS to an ONNX graph: it goes with format=onnx');
  if (format === 'runtime' && !out.endsWith('.safetensors'))
    throw new UsageError(`ladet export: out=${out}: the runtime model is a .safetensors file (or give format=onnx)`);
  if (format === 'onnx' && !/\.onnx$/i.test(out))
    throw new UsageError(`ladet export: out=${out}: format=onnx writes an .onnx file`);
  const { openDetector, resolveModelFiles } = await import('../../engine/open_detector.js');
  const { exportRuntime } = await import('../../engine/export_runtime.js');
  const { exportOnnx, ONNX_OPSET } = await import('../../engine/export_onnx.js');
  const { Outputs } = await import('../../io/outputs.js');
  const files = resolveModelFiles({ weights, ...(config ? { config } : {}) });
  const outputs = new Outputs({ command: 'ladet export', inputs: [weights, files.configPath] });
  outputs.check(out);
  const opened = openDetector(files, overrides, net === undefined ? {} : { net });
  outputs.addInput(opened.weightsPath);
  try {
    const bytes = outputs.writeWith(out, (p) =>
      format === 'onnx' ? exportOnnx(opened, p, { nms }) : exportRuntime(opened, p),
    );
    outputs.flush();
    const which = opened.net === null ? '' : ` network ${opened.net}`;
    const kind = format === 'onnx' ? `, ONNX opset ${ONNX_OPSET}${nms ? ' with NMS' : ''}` : '';
    print(
      `wrote ${out} (${(bytes / 2 ** 20).toFixed(1)} MiB${kind}):${which} ${opened.weightsPath}, ${opened.classes.length} classes, test scale ${opened.config.data.testScale.join('x')}`,
    );
    return { out, bytes };
  } finally {
    opened.model.dispose();
  }
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description(
      `write a trained network as a runtime model (ladet/runtime: no libtorch) or an ONNX model (onnxruntime): ${USAGE}`,
    )
    .argument('[args...]', 'weights=, out=, format=, nms=, config=, net=, key.sub=value config overrides')
    .action(async (args: string[]) => {
      await runExport(args);
    });
}
