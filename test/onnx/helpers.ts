// Shared by the ONNX tests: Debian's ONNX checker (/usr/bin/python3 with python3-onnx) over model files, skipped
// with the reason where it is not installed, and max-abs differences.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const PYTHON = '/usr/bin/python3';

/** Why the checker cannot run here, or false. */
export function onnxCheckerSkip(): string | false {
  const r = spawnSync(PYTHON, ['-c', 'import onnx'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} not found (the ONNX checker needs Debian's python3-onnx)`;
  if (r.status !== 0) {
    const last = r.stderr.trim().split('\n').pop() ?? '';
    return `${PYTHON} cannot import onnx (${last}): install python3-onnx`;
  }
  return false;
}

/**
 * onnx.checker.check_model(model, full_check=True) (structure, every node against its opset 17 schema, shape
 * inference) on each file, in one Python process; fails with the checker's message. Returns the opset each declares.
 */
export function checkModels(files: readonly string[]): number[] {
  const script = [
    'import json, sys, onnx',
    'out = []',
    'for f in sys.argv[1:]:',
    '    m = onnx.load(f)',
    '    onnx.checker.check_model(m, full_check=True)',
    '    out.append(m.opset_import[0].version)',
    'print(json.dumps(out))',
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', script, ...files], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `onnx.checker.check_model failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as number[];
}

export function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}
