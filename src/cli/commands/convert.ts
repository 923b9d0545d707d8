// `ladet convert IN OUT [net=1|2] [part=backbone]`: a PyTorch `.pth` (torchvision, mmdetection, ...) to a safetensors
// file ladet reads, or a ladet safetensors file to a `.pth` that torch.load opens and mmdetection / torchvision load
// by name. The direction follows IN's content; OUT never replaces IN (src/io/outputs.ts).
import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { netArg, rejectUnknown, splitArgs } from '../args.js';
import { UsageError } from '../../config/usage_error.js';

const USAGE = 'ladet convert IN.pth OUT.safetensors | IN.safetensors OUT.pth [net=1|2] [part=backbone]';

export async function runConvert(
  args: readonly string[],
  print: (line: string) => void = console.log,
): Promise<{ out: string; bytes: number }> {
  const { positional, kv } = splitArgs(args);
  if (positional.length !== 2)
    throw new UsageError(`ladet convert: expected IN and OUT, got ${positional.length} paths (usage: ${USAGE})`);
  rejectUnknown(kv, ['net', 'part'], 'convert');
  const [input, out] = positional as [string, string];
  const net = netArg(kv, 'convert');
  if (kv.part !== undefined && kv.part !== 'backbone')
    throw new UsageError(`ladet convert: part= must be 'backbone' (got ${JSON.stringify(kv.part)})`);
  if (!existsSync(input)) throw new UsageError(`ladet convert: ${input} not found`);
  if (statSync(input).isDirectory())
    throw new UsageError(`ladet convert: ${input} is a folder; give a weights file (a run's weights/best.safetensors)`);
  const { convertWeights } = await import('../../build/convert.js');
  const { Outputs } = await import('../../io/outputs.js');
  const outputs = new Outputs({ command: 'ladet convert', inputs: [input] });
  outputs.check(out);
  let c;
  try {
    c = convertWeights(input, { ...(net ? { net } : {}), ...(kv.part === 'backbone' ? { part: 'backbone' } : {}) });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const want = c.direction === 'pth->safetensors' ? '.safetensors' : '.pth';
  if (!out.endsWith(want) && !(want === '.pth' && out.endsWith('.pt')))
    throw new UsageError(
      `ladet convert: ${input} is ${c.direction.split('->')[0]}, so OUT is a ${want} file (got ${out})`,
    );
  outputs.write(out, c.bytes);
  outputs.flush();
  print(
    `wrote ${out} (${(c.bytes.length / 2 ** 20).toFixed(1)} MiB, ${c.direction}): ${c.tensors} tensors, ${c.layout}`,
  );
  if (c.classes)
    print(`  classes: ${c.classes.length} (${c.classes.slice(0, 3).join(', ')}${c.classes.length > 3 ? ', ...' : ''})`);
  if (c.dropped.length) {
    const whys = new Map<string, number>();
    for (const d of c.dropped) whys.set(d.why, (whys.get(d.why) ?? 0) + 1);
    for (const [why, n] of whys) print(`  dropped ${n}: ${why}`);
  }
  return { out, bytes: c.bytes.length };
}

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description(`PyTorch .pth <-> safetensors weights, names kept: ${USAGE}`)
    .argument('[args...]', 'IN OUT, net=, part=')
    .action(async (args: string[]) => {
      await runConvert(args);
    });
}
