#!/usr/bin/env bash
# Trains the regimes study (`ladet repro regimes`, issue #25: teacher gap × schedule × dataset, seeds 0-2, bf16) in
# two lanes side by side, one intra-op thread each, in the background, and regenerates its table and figures
# (docs/paper-study.md) when both lanes end. Each lane starts with one dataset (its two teachers first, then seed by
# seed; so each built-in dataset is made by one lane only: two making one at once would collide), then takes the
# other dataset's runs still to train: `ladet repro` leaves a run the other lane trains to it (and the students of a
# teacher it trains) and exits 75, and the lane tries again a few minutes later, until both datasets are whole.
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
# lane FIRST SECOND: FIRST's rows, then SECOND's, again while either left runs to the other lane (exit 75)
lane() {
  local a b
  while :; do
    a=0 b=0
    repro rows="$1" || a=$?
    repro rows="$2" || b=$?
    ((a == 75 || b == 75)) || return $((a ? a : b))
    [[ -e $stop ]] && return 0
    sleep 300
  done
}
lane 'fashion_*' 'shapes_*' >runs/regimes/lane1.log 2>&1 &
l1=$!
lane 'shapes_*' 'fashion_*' >runs/regimes/lane2.log 2>&1 &
l2=$!
trap 'touch "$stop"; pkill -INT -P $l1; pkill -INT -P $l2; wait; exit 130' INT TERM
echo "train_regimes: lanes $l1 and $l2; logs in runs/regimes/lane1.log and lane2.log"
rc=0
wait $l1 || rc=$?
wait $l2 || rc=$?
node dist/src/cli/main.js repro regimes report=true readme=true
exit $rc
