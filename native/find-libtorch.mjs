#!/usr/bin/env node
// Locates libtorch for binding.gyp, the tch-rs way:
//   1. $LIBTORCH (a folder with include/ and lib/)
//   2. a Python torch install (python3 on PATH, then /usr/bin/python3)
//   3. the system (Debian's libtorch-dev: /usr/include + the multiarch lib dir)
// Usage: node native/find-libtorch.mjs include|libs|defines|describe
import { existsSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

function fromDir(root, how) {
  const include = join(root, 'include');
  const lib = join(root, 'lib');
  if (!existsSync(join(include, 'ATen', 'ATen.h')) || !hasLib(lib, 'torch_cpu')) return null;
  const apiInclude = join(include, 'torch', 'csrc', 'api', 'include');
  // The ABI is unknown for a bare folder: leave the compiler default (what the distribution was built for).
  return { how, includes: [include, apiInclude], libDir: lib, cxx11abi: null };
}

function hasLib(dir, name) {
  try {
    return readdirSync(dir).some(
      (f) => f.startsWith(`lib${name}.so`) || f === `${name}.lib` || f.startsWith(`lib${name}.dylib`),
    );
  } catch {
    return false;
  }
}

// pip wheels before torch 2.x use the pre-C++11 ABI, so ask Python which one its torch was built with.
function fromPython() {
  for (const py of ['python3', '/usr/bin/python3']) {
    try {
      const out = execFileSync(
        py,
        ['-c', 'import torch,os;print(os.path.dirname(torch.__file__));print(int(torch._C._GLIBCXX_USE_CXX11_ABI))'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60000 },
      )
        .trim()
        .split('\n');
      const found = fromDir(out[0], `python torch (${py})`);
      if (found) {
        found.cxx11abi = out[1] === '1';
        return found;
      }
    } catch {
      // no torch for this interpreter: try the next option
    }
  }
  return null;
}

function fromSystem() {
  const libDirs = [
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
  ];
  for (const incRoot of ['/usr/include', '/usr/local/include']) {
    if (!existsSync(join(incRoot, 'ATen', 'ATen.h'))) continue;
    for (const libDir of libDirs) {
      if (hasLib(libDir, 'torch_cpu')) {
        return {
          how: 'system',
          includes: [incRoot, join(incRoot, 'torch', 'csrc', 'api', 'include')],
          libDir,
          cxx11abi: true,
        };
      }
    }
  }
  return null;
}

function locate() {
  if (process.env.LIBTORCH) {
    const found = fromDir(process.env.LIBTORCH, 'LIBTORCH');
    if (!found) {
      fail(`LIBTORCH=${process.env.LIBTORCH} does not contain include/ATen/ATen.h and lib/libtorch_cpu.*`);
    }
    return found;
  }
  return fromPython() ?? fromSystem() ?? fail('libtorch was not found.');
}

function fail(why) {
  process.stderr.write(
    `ladet: ${why}\n` +
      'Provide libtorch in one of these ways:\n' +
      '  1. set LIBTORCH to a folder with include/ and lib/ (an unpacked libtorch distribution)\n' +
      '  2. install PyTorch for python3 (pip or Debian python3-torch): its include/ and lib/ are used\n' +
      '  3. install the system package: apt-get install libtorch-dev\n',
  );
  process.exit(1);
}

// c10d's Gloo backend compiles only with gloo's headers, which libtorch's packages leave out (Debian: libgloo-dev);
// without them the addon builds without process groups and single-process training is unaffected.
// LADET_C10D=0 builds without them anyway (a libtorch whose c10d API this addon was not written against).
function hasC10dGloo(includes) {
  if (process.env.LADET_C10D === '0') return false;
  if (!existsSync(join(includes[0], 'torch', 'csrc', 'distributed', 'c10d', 'ProcessGroupGloo.hpp'))) return false;
  return [includes[0], '/usr/include', '/usr/local/include'].some((dir) => existsSync(join(dir, 'gloo', 'config.h')));
}

const t = locate();
const withCuda = hasLib(t.libDir, 'torch_cuda');
const withC10d = hasC10dGloo(t.includes);
const what = process.argv[2] ?? 'describe';
if (what === 'include') {
  console.log(t.includes.join(' '));
} else if (what === 'libs') {
  const libs = [`-L${t.libDir}`, `-Wl,-rpath,${t.libDir}`, `-Wl,-rpath-link,${t.libDir}`];
  // torch_cuda registers its kernels from static initialisers, so force it to stay linked.
  if (withCuda) libs.push('-Wl,--no-as-needed', '-ltorch_cuda', '-Wl,--as-needed');
  libs.push('-ltorch', '-ltorch_cpu', '-lc10');
  if (withCuda && hasLib(t.libDir, 'c10_cuda')) libs.push('-lc10_cuda');
  console.log(libs.join(' '));
} else if (what === 'defines') {
  const defs = [];
  if (t.cxx11abi !== null) defs.push(`_GLIBCXX_USE_CXX11_ABI=${t.cxx11abi ? 1 : 0}`);
  if (withCuda) defs.push('LADET_WITH_CUDA=1');
  if (withC10d) defs.push('USE_C10D_GLOO', 'LADET_WITH_C10D=1');
  console.log(defs.join(' '));
} else {
  console.log(JSON.stringify({ ...t, withCuda, withC10d }, null, 2));
}
