#!/usr/bin/env node
// Builds the addon with node-gyp against the headers of the running Node when they are installed locally
// (Debian/nodesource ship include/node), so no header download is ever needed.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const prefix = dirname(dirname(process.execPath));
const args = ['rebuild', '-j', 'max'];
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);

let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js');
} catch {
  // npm bundles node-gyp; use that copy when the project has none of its own
  const npmDir = dirname(dirname(process.env.npm_execpath ?? join(prefix, 'lib', 'node_modules', 'npm', 'bin', 'x')));
  gyp = join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
}
const r = spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
