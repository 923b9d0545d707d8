#!/usr/bin/env bash
# Trains the single-seed runs behind the README's PAA and LAD tables, one after another (each resumable:
# rerunning the script continues an interrupted run and skips finished ones). Logs: runs/<name>/log.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
# threads=1: on this 2-core machine the data workers share the cores, and two intra-op threads stall each other
# badly whenever anything else runs (measured 0.44 vs 1.13 it/s under load); one thread is the robust choice.
run() { node dist/src/cli/main.js train "$@" threads=1 resume=true; }
run configs/paa_r18_fashion_mini.yaml                                   # PAA baseline, small student / Table 3 teacher
run configs/paa_r18_fashion_mini.yaml name=maxiou_r18_fashion_mini assigner.type=maxiou
run configs/demo/teacher_r18w50.yaml                                    # Table 2 teacher / Table 3 baseline 1x
run configs/lad/t2_lad_r18w25_from_r18w50.yaml
run configs/lad/t2_kd_r18w25_from_r18w50.yaml
run configs/lad/t2_solad_r18w25_from_r18w50.yaml
run configs/lad/t3_lad_r18w50_from_r18w25.yaml
run configs/lad/t3_kd_r18w50_from_r18w25.yaml
run configs/lad/t3_baseline_r18w50_2x.yaml
