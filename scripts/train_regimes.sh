#!/usr/bin/env bash
# Trains the regimes study (`ladet repro regimes`, issue #25: teacher gap × schedule × dataset, seeds 0-2, bf16) in
# two lanes side by side, one per dataset, one intra-op thread each, in the background, and regenerates its table and
# figures (docs/paper-study.md) when both lanes end. Each lane trains its dataset's two teachers first, then seed by
# seed; only the shapes lane makes data/shapes (two lanes making one built-in dataset at once would collide).
# Resumable: run it again after a stop and each lane skips what is recorded, collects finished runs and continues
# interrupted ones. Stop it as scripts/train_tables.sh:
#   touch runs/regimes/STOP && pkill -INT -f 'dist/src/cli/main.js repro regimes'
#   bash scripts/train_regimes.sh            # logs in runs/regimes/lane{1,2}.log
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs/regimes
stop=runs/regimes/STOP
rm -f "$stop"
repro() { [[ ! -e $stop ]] && node dist/src/cli/main.js repro regimes "$@"; }
repro rows='fashion_*' >runs/regimes/lane1.log 2>&1 &
l1=$!
repro rows='shapes_*' >runs/regimes/lane2.log 2>&1 &
l2=$!
trap 'touch "$stop"; pkill -INT -P $l1; pkill -INT -P $l2; wait; exit 130' INT TERM
echo "train_regimes: lanes $l1 and $l2; logs in runs/regimes/lane1.log and lane2.log"
rc=0
wait $l1 || rc=$?
wait $l2 || rc=$?
node dist/src/cli/main.js repro regimes report=true readme=true
exit $rc
