#!/usr/bin/env bash
# Trains the whole paper study (`ladet repro`, seeds 0-2 of table2, table3, colad, cop) in two lanes side by side,
# one intra-op thread each (repro's threads=1: on this 2-core machine two spinning threads stall each other), in the
# background, and regenerates the tables (docs/paper-study.md) when both lanes end. Resumable: run it again after
# a stop and each lane skips what is recorded, collects finished runs and continues interrupted ones. Ctrl-C in the
# terminal saves the runs in progress and stops. Started in the background (nohup ... &), the script cannot trap
# SIGINT (ignored on entry), so stop it with
#   touch runs/study/STOP && pkill -INT -f 'dist/src/cli/main.js repro'
# (the trainers save, the lanes see STOP and end, the script then regenerates the tables).
#   bash scripts/train_tables.sh            # start both lanes; logs in runs/study/lane{1,2}.log
#   tail -f runs/study/lane1.log
# Lane 1 starts with the distillation tables (their teachers are trained there first when their weights are missing,
# e.g. on a fresh clone), lane 2 with CoLAD, which needs no teacher, so the two never train the same teacher at once.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs/study
stop=runs/study/STOP
rm -f "$stop"
# a stopped `ladet repro` exits 0, so each step first checks that no stop was asked for
repro() { [[ ! -e $stop ]] && node dist/src/cli/main.js repro "$@"; }
lane1() { repro table2 seeds=0,1 && repro table3 seeds=0,1 && repro colad seeds=0,1 && repro cop seeds=0,1; }
lane2() { repro colad seeds=2 && repro table2 seeds=2 && repro table3 seeds=2 && repro cop seeds=2; }
lane1 >runs/study/lane1.log 2>&1 &
l1=$!
lane2 >runs/study/lane2.log 2>&1 &
l2=$!
# background jobs of a script ignore the terminal's SIGINT: hand it to the trainers, which save and stop
trap 'touch "$stop"; pkill -INT -P $l1; pkill -INT -P $l2; wait; exit 130' INT TERM
echo "train_tables: lanes $l1 and $l2; logs in runs/study/lane1.log and lane2.log"
rc=0
wait $l1 || rc=$?
wait $l2 || rc=$?
node dist/src/cli/main.js repro all report=true readme=true
exit $rc
