import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

// The tiny detector config the CLI tests train: a 1/8-width ResNet-18 on 16 shapes images at 96 px, one epoch.
// A high classification prior keeps the barely trained head's scores above the 0.05 threshold, so there are
// detections to check. `extra` is appended as further top-level YAML (e.g. a distill section).
export function tinyConfig(name: string, root: string, runs: string, extra = ''): string {
  return `name: ${name}
runsDir: ${runs}
seed: 0
data:
  builtin: shapes
  builtinArgs: { train: 16, val: 8, size: 96, maxItems: 3 }
  root: ${root}
  trainScales: [[96, 96]]
  testScale: [96, 96]
  batchSize: 8
  workers: 0
model:
  backbone: { depth: 18, widthMultiplier: 0.125 }
  neck: { outChannels: 16, numOuts: 4 }
  head: { featChannels: 16, stackedConvs: 1, gnGroups: 4, priorProb: 0.1 }
  anchors: { strides: [8, 16, 32, 64], octaveBaseScale: 4 }
schedule: { epochs: 1, warmupIters: 1 }
${extra}`;
}

/**
 * Images for predict-style tests in `source` (created), from the tiny dataset's val split: val1.png (a val image as
 * it is), wide.jpg (resized to a non-square 150x97 JPEG) and rotated.jpg (stored 120x80 with EXIF orientation 6,
 * so shown 80x120).
 */
export async function predictSources(dataRoot: string, source: string): Promise<void> {
  mkdirSync(source, { recursive: true });
  const val = (n: number): string => join(dataRoot, 'val', `00000${n}.png`);
  copyFileSync(val(1), join(source, 'val1.png'));
  await sharp(val(2)).resize(150, 97, { fit: 'fill' }).jpeg().toFile(join(source, 'wide.jpg'));
  await sharp(val(3))
    .resize(120, 80, { fit: 'fill' })
    .withMetadata({ orientation: 6 })
    .jpeg()
    .toFile(join(source, 'rotated.jpg'));
}
