#!/usr/bin/env bash
# The commands behind this folder, in order (run from the repository root; 2 CPU cores, one job at a time).
# Data: mkdir -p /work/cifar10-jpeg && tar xzf /work/shared/data/cifar10-jpeg.tar.gz -C /work/cifar10-jpeg
set -euo pipefail
export PYTHON=${PYTHON:-python} PRESET=quick ALLDATA=0 ACQUIRE_ONLY=1 CYCLES=1 DATA_ROOT=/work/data31 DEVICE=cpu
SEEDS=${SEEDS:-0 1 2}
# 1. Each seed's shared cycle 0, twice: on the network every method trains (no dropout), and on one trained
#    with dropout 0.5 before the classifier (Gal's BALD needs every method trained so).
for s in $SEEDS; do
  SEEDS=$s RUNS=/work/runs31/plain bash run_all.sh folder:/work/cifar10-jpeg random
  SEEDS=$s RUNS=/work/runs31/dropout TRAIN_ARGS="--dropout 0.5" bash run_all.sh folder:/work/cifar10-jpeg random
done
# 2. BALD's scores on each cycle 0 (budget 250 = 5% of the 5,000-image universe, --seed as run_all.sh gives it).
bald() {  # bald NETWORK NAME SEED [acquire.py flags]
  local network=$1 name=$2 seed=$3; shift 3
  if [ -f "/work/runs31/variants/$network/$name/seed$seed/labeled.npy" ]; then return; fi   # done already
  $PYTHON acquire.py --run "/work/runs31/$network/cifar10-jpeg/cycle0/seed$seed" --method bald --budget 250 \
    --seed "$seed" --device cpu --out "/work/runs31/variants/$network/$name/seed$seed/labeled.npy" "$@"
}
for s in $SEEDS; do
  bald plain authors "$s" --bald-variant authors
  bald plain acquisition-dropout "$s" --bald-variant acquisition-dropout
  bald plain acquisition-dropout-T20 "$s" --bald-variant acquisition-dropout --bald-passes 20   # the old default
  bald dropout gal "$s" --bald-variant gal
  bald dropout authors "$s" --bald-variant authors
done
# 3. The tables, CSVs and figure in this folder.
# shellcheck disable=SC2086
PYTHONPATH=. $PYTHON results/cifar10-jpeg-quick/bald-variants/bald_variants.py --plain /work/runs31/plain/cifar10-jpeg \
  --dropout /work/runs31/dropout/cifar10-jpeg --scores /work/runs31/variants \
  --out "${OUT:-results/cifar10-jpeg-quick/bald-variants}" --seeds $SEEDS
