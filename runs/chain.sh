#!/usr/bin/env bash
# session-3 background chain: advanced data (for evals) + evals; modulating train + evals
cd /work/main
S=.venv/bin/serumrnn
export TF_CPP_MIN_LOG_LEVEL=2
echo "$(date) adv data" 
$S train --group advanced --no-export >> runs/train-advanced.log 2>&1 || echo "adv regen failed"
echo "$(date) adv eval-models"
$S eval-models --group advanced > runs/eval-models-advanced.log 2>&1 || echo "adv eval-models failed"
echo "$(date) adv eval"
$S eval --group advanced --pairs 1000 > runs/eval-advanced.log 2>&1 || echo "adv eval failed"
echo "$(date) mod train"
TRAIN_GROUPS=modulating scripts/train-all.sh || echo "mod train failed"
echo "$(date) mod eval-models"
$S eval-models --group modulating > runs/eval-models-modulating.log 2>&1 || echo "mod eval-models failed"
echo "$(date) mod eval"
$S eval --group modulating --pairs 1000 > runs/eval-modulating.log 2>&1 || echo "mod eval failed"
echo "$(date) chain done"
