// Running the Python peers (Debian's python3-torch / torchvision / sklearn) from a benchmark.
import { spawnSync } from 'node:child_process';

/** The Python that has Debian's torch: /usr/bin/python3 first (a pyenv python3 on PATH usually does not). */
export function peerPython(modules: readonly string[]): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', modules.map((m) => `import ${m}`).join(';')], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return null;
}

/** Runs a Python script (source text) with args; returns its last stdout line parsed as JSON. */
export function runPeer(python: string, source: string, args: readonly string[] = []): Record<string, unknown> {
  const r = spawnSync(python, ['-c', source, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`peer script failed (${r.status}): ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] as string) as Record<string, unknown>;
}
