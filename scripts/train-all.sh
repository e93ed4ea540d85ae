#!/usr/bin/env bash
# The long background run that produces the shipped models: every group, CPU recipe.
# Resumable: rerun after a kill and it continues. Logs go to runs/train-<group>.log.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs
for g in ${TRAIN_GROUPS:-basic advanced modulating}; do
  .venv/bin/serumrnn train --group "$g" --recipe "${RECIPE:-cpu}" "$@" >> "runs/train-$g.log" 2>&1 \
    || { echo "training $g failed; see runs/train-$g.log" >&2; exit 1; }
done
