#!/usr/bin/env bash
# Trains the single-seed (seed 0) runs behind the README's PAA, LAD and CoLAD tables, one after another. Each step
# is resumable: rerunning continues an interrupted run and collects finished ones (see `ladet repro`).
# Logs: runs/<name>/log.jsonl; results: benchmarks/results/repro/.
set -euo pipefail
cd "$(dirname "$0")/.."
ladet() { node dist/src/cli/main.js "$@"; }
# threads=1 (ladet repro always uses it): on this 2-core machine the data workers share the cores, and two intra-op
# threads stall each other badly whenever anything else runs (measured 0.44 vs 1.13 it/s under load).
ladet train configs/paa_r18_fashion_mini.yaml name=maxiou_r18_fashion_mini assigner.type=maxiou threads=1 resume=true
ladet repro table3 seeds=0     # its teacher (the PAA mini preset) first, then the R18w50 student rows
ladet repro table2 seeds=0
ladet repro cop seeds=0
ladet repro colad seeds=0
ladet repro all report=true readme=true
