#!/usr/bin/env bash
# The paper's whole protocol (section 4.1) for each method and seed:
#   draw one random initial 10% per seed (shared by every method), then per method train,
#   acquire 5% of the training set, and repeat for 4 cycles (10% -> 30%), plus one all-data run.
#
#   bash run_all.sh DATASET [METHOD ...]          (default methods: $METHODS below)
#   PRESET=quick bash run_all.sh folder:../shared/data/cifar10-jpeg dispersion
#
# Settings come from environment variables, so nothing here needs editing:
#   SEEDS="0 1 2"  RUNS=runs  DATA_ROOT=./data  DEVICE=auto  PYTHON=python
#   PRESET=paper|quick   EPOCHS  WIDTH  BATCH_SIZE  SUBSET (size of a random training subset)
#   CYCLES=4  INITIAL=0.1  STEP=0.05  ALLDATA=1 (0 skips the all-data reference run)
#   TRAIN_ARGS, ACQUIRE_ARGS: extra flags passed to every train.py / acquire.py call
#   GPUS="0 1 2 3": run independent (method, seed) chains in parallel, one per GPU
# Layout: RUNS/<dataset>/initial/seed<S>/{universe,labeled}.npy,
#         RUNS/<dataset>/<method>/seed<S>/cycle<C>/ (train.py and acquire.py outputs),
#         RUNS/<dataset>/alldata/seed<S>/.
# A rerun skips every step whose completion file exists (metrics.json for training, the next
# labeled.npy for acquisition) and resumes an interrupted training from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")"

if [ $# -lt 1 ]; then
  echo "usage: bash run_all.sh DATASET [METHOD ...]   (DATASET: cifar10, cifar100 or folder:PATH)" >&2
  exit 2
fi
DATASET=$1; shift
METHODS=${*:-${METHODS:-dispersion random}}
PYTHON=${PYTHON:-python}
SEEDS=${SEEDS:-0 1 2}
RUNS=${RUNS:-runs}
DATA_ROOT=${DATA_ROOT:-./data}
DEVICE=${DEVICE:-auto}
CYCLES=${CYCLES:-4}
INITIAL=${INITIAL:-0.1}
STEP=${STEP:-0.05}
ALLDATA=${ALLDATA:-1}
GPUS=${GPUS:-}

case ${PRESET:-paper} in
  paper) : "${EPOCHS:=100}" "${WIDTH:=64}" "${BATCH_SIZE:=256}" "${SUBSET:=}" ;;
  quick) : "${EPOCHS:=20}" "${WIDTH:=16}" "${BATCH_SIZE:=64}" "${SUBSET:=5000}"
         : "${ACQUIRE_ARGS:=--vaal-epochs 1 --vaal-width 32 --coreset-time-limit 60}" ;;  # official sizes: hours on a CPU
  *) echo "error: PRESET: expected paper or quick, got '$PRESET'" >&2; exit 2 ;;
esac

name=${DATASET#folder:}; name=$(basename "$name")
ROOT=$RUNS/$name

# Fail early on a typo, before hours of training.
$PYTHON -c "import sys; from baselines import METHODS; bad = [m for m in sys.argv[1:] if m not in METHODS]
if bad: sys.exit(f'error: unknown method {bad[0]!r}; known: {\" \".join(sorted(METHODS))}')" $METHODS || exit 2

train() {  # train RUN_DIR LABELED UNIVERSE [extra train.py flags]
  local run=$1 labeled=$2 universe=$3; shift 3
  if [ -f "$run/metrics.json" ]; then return; fi
  mkdir -p "$run"
  echo "  training $run (log: $run/train.log)"
  # shellcheck disable=SC2086
  $PYTHON train.py --dataset "$DATASET" --data-root "$DATA_ROOT" --labeled "$labeled" --subset "$universe" \
    --out "$run" --epochs "$EPOCHS" --width "$WIDTH" --batch-size "$BATCH_SIZE" --seed "$seed" \
    --device "$DEVICE" --resume "$@" ${TRAIN_ARGS:-} >> "$run/train.log" 2>&1 \
    || { echo "error: training failed; see $run/train.log:" >&2; tail -n 3 "$run/train.log" >&2; return 1; }
  tail -n 1 "$run/train.log"
}

initial_set() {  # the seed's universe and initial labeled set, shared by all methods
  local dir=$ROOT/initial/seed$seed
  if [ ! -f "$dir/labeled.npy" ]; then
    $PYTHON data.py initial --dataset "$DATASET" --data-root "$DATA_ROOT" --seed "$seed" \
      --fraction "$INITIAL" ${SUBSET:+--subset "$SUBSET"} --out-dir "$dir"
  fi
}

chain() {  # all cycles of one method and seed
  local method=$1 seed=$2
  local init=$ROOT/initial/seed$seed base=$ROOT/$method/seed$seed
  local universe=$init/universe.npy
  local budget method_train_args
  budget=$($PYTHON -c "import numpy as np, sys; print(round($STEP * len(np.load(sys.argv[1]))))" "$universe")
  method_train_args=$($PYTHON -c "import sys; from baselines import train_args; print(*train_args(sys.argv[1]))" "$method")
  if [ ! -f "$base/cycle0/labeled.npy" ]; then
    mkdir -p "$base/cycle0"
    cp "$init/labeled.npy" "$base/cycle0/.labeled.npy.tmp" && mv "$base/cycle0/.labeled.npy.tmp" "$base/cycle0/labeled.npy"
  fi
  for ((c = 0; c <= CYCLES; c++)); do
    local run=$base/cycle$c next=$base/cycle$((c + 1))/labeled.npy
    $PYTHON checks.py --initial "$init" --chain "$base" --budget "$budget"  # no leakage, before each step
    if ((c < CYCLES)); then
      # shellcheck disable=SC2086
      train "$run" "$run/labeled.npy" "$universe" $method_train_args
      if [ ! -f "$next" ]; then
        # shellcheck disable=SC2086
        $PYTHON acquire.py --run "$run" --method "$method" --budget "$budget" --out "$next" \
          --seed "$seed" --device "$DEVICE" ${ACQUIRE_ARGS:-}
      fi
    else  # the last model is only evaluated: no acquisition follows, so no pool tracking
      # shellcheck disable=SC2086
      train "$run" "$run/labeled.npy" "$universe" --no-track $method_train_args
    fi
  done
}

for seed in $SEEDS; do initial_set; done

jobs_list=()
for seed in $SEEDS; do
  for method in $METHODS; do jobs_list+=("chain $method $seed"); done
  if [ "$ALLDATA" = 1 ]; then jobs_list+=("alldata $seed"); fi
done
alldata() {
  local seed=$1 init=$ROOT/initial/seed$1
  train "$ROOT/alldata/seed$seed" "$init/universe.npy" "$init/universe.npy" --no-track
}

if [ -z "$GPUS" ]; then
  for job in "${jobs_list[@]}"; do echo "== $job"; $job; done
else  # one chain per GPU at a time; each job's output goes to RUNS/<dataset>/logs/
  mkdir -p "$ROOT/logs"
  read -r -a gpus <<< "$GPUS"
  declare -A busy=()
  failed=0
  for job in "${jobs_list[@]}"; do
    while :; do
      for g in "${gpus[@]}"; do
        if [ -z "${busy[$g]:-}" ] || ! kill -0 "${busy[$g]}" 2>/dev/null; then
          if [ -n "${busy[$g]:-}" ]; then wait "${busy[$g]}" || failed=1; fi
          log=$ROOT/logs/${job// /_}.log
          echo "== $job on GPU $g (log: $log)"
          (export CUDA_VISIBLE_DEVICES=$g; $job) > "$log" 2>&1 &
          busy[$g]=$!
          continue 3
        fi
      done
      sleep 5
    done
  done
  for pid in "${busy[@]}"; do wait "$pid" || failed=1; done
  if [ "$failed" = 1 ]; then echo "error: some chains failed; see $ROOT/logs/" >&2; exit 1; fi
fi
echo "done: $ROOT"
