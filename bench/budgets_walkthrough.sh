#!/usr/bin/env bash
# The README's "design a study from budgets" walk-through, end to end, each step timed.
#
#   bench/budgets_walkthrough.sh [WORKDIR]
#
# plan isoflop -> validate -> run -> fit scaling -> fit predict -> plan next -> run -> fit predict,
# on the scaling-ladder synthetic language (configs/sweeps/scaling_ladder.yaml), in one experiment
# ("iso": plan next names its sweep after the experiment, so `run` adds the new runs to it).
# Run from the repository root with the venv active (scalinglab on PATH).
# Last line: `budgets_walkthrough_s: <total wall seconds>`.
set -euo pipefail
work=${1:-/tmp/budgets_walkthrough}
rm -rf "$work" && mkdir -p "$work"
total_start=$SECONDS

step() {  # step NAME CMD...: run CMD, print its wall time
  local name=$1 start=$SECONDS
  shift
  echo "== $name: $*"
  "$@"
  echo "-- $name: $((SECONDS - start)) s"
}

step plan     scalinglab plan isoflop --budgets 3e11,1e12,3e12 --points 3 --span 3 -o "$work/iso.yaml"
step validate scalinglab validate "$work/iso.yaml"
step run      scalinglab run "$work/iso.yaml" --workdir "$work"
step fit      scalinglab fit scaling -e iso --workdir "$work" --json "$work/fit.json"
step predict  scalinglab fit predict -e iso --workdir "$work" --c 1e14 --json "$work/predict.json"
step next     scalinglab plan next -e iso --workdir "$work" --target-c 1e14 --budget 3e12 \
                -o "$work/next.yaml" --json "$work/next.json"
step run-next scalinglab run "$work/next.yaml" --workdir "$work"
step refit    scalinglab fit predict -e iso --workdir "$work" --c 1e14 --json "$work/predict_after.json"
echo "budgets_walkthrough_s: $((SECONDS - total_start))"
