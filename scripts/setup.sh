#!/usr/bin/env bash
# One-time (and idempotent) set-up on Debian 12, as root: system packages, npm dependencies (this builds the
# native addon against libtorch), then the TypeScript build. Safe to run again: it only does what is missing.
#   LADET_PEERS=1 also installs the PyTorch/torchvision/sklearn peers the benchmarks compare against, Chromium for
#   the web page's browser test, and python3-onnx, whose checker the ONNX export tests run.
set -euo pipefail
cd "$(dirname "$0")/.."

# libgloo-dev: gloo's headers, which c10d's Gloo backend (process groups, native/distributed.cc) compiles against and
# libtorch-dev does not depend on; without them the addon builds without multi-process training.
pkgs=(libtorch-dev libgloo-dev dataset-fashion-mnist g++ make python3)
# chromium: the headless browser test/examples/web.test.ts drives (through puppeteer-core) to check the web page
# python3-onnx: onnx.checker.check_model(full_check=True) over every exported head type (test/onnx/), else skipped
if [[ "${LADET_PEERS:-0}" == 1 ]]; then pkgs+=(python3-torch python3-torchvision python3-sklearn chromium python3-onnx); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# onnxruntime-node bundles its CPU binaries; where npm runs its postinstall, that would fetch CUDA EP binaries from
# NuGet on linux/x64: never (an .npmrc key would do the same but makes npm 11 warn on every command).
export ONNXRUNTIME_NODE_INSTALL=skip
if [[ ! -f build/Release/ladet_native.node || ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
elif [[ " ${missing[*]} " == *" libgloo-dev "* ]]; then
  npm run build:native # an addon built before gloo's headers were here has no process groups
fi
npx tsc -p .
