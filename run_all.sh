#!/usr/bin/env bash
# The paper's whole protocol (section 4.1) for each method and seed:
#   draw one random initial 10% per seed, train cycle 0 on it once (shared by every method), then
#   per method acquire 5% of the training set, retrain, and repeat until cycle 4 (10% -> 30%),
#   plus one all-data run per seed.
#
#   bash run_all.sh DATASET [METHOD ...]          (default methods: $METHODS below)
#   PRESET=quick bash run_all.sh cifar10 dispersion random
#
# Settings come from environment variables, so nothing here needs editing:
#   SEEDS="0 1 2"  RUNS=runs  DATA_ROOT=./data  DEVICE=auto  PYTHON=python
#   PRESET=paper|medium|quick   EPOCHS  WIDTH  BATCH_SIZE
#     paper: 100 epochs, width 64, batch 256, all 50,000 images (a GPU: 71 s per cycle 0 on an H200)
#     medium: the paper's recipe and label budgets at width 16, sized for a CPU (2 cores, measured: 70 min
#       per cycle 0; cycle 1 93 min for dispersion, 37 min for random; cycles 1-4 estimated at 6 h for
#       dispersion, 3.6 h for a method that does not track the pool every epoch)
#     quick: 5,000 images, 20 epochs, width 16, batch 64 (a CPU: minutes per training)
#   UNIVERSE_SIZE: take part with a random subset of this many training images (empty: all of them)
#   CYCLES=4  INITIAL=0.1  STEP=0.05  ALLDATA=1 (0 skips the all-data reference run)  CHANGE (below)
#   ACQUIRE_ONLY=1: stop each chain after its last acquisition (of cycle UNTIL, else CYCLES), untrained
#     (with UNTIL=1: every method's scores on the shared cycle 0, all report.py needs for Fig. 3); a
#     later run trains it
#   UNTIL=C: this time, take each chain only up to its cycle C's training (tracked as CYCLES needs it);
#     a later run goes on. `for c in 1 2 3 4; do UNTIL=$c bash run_all.sh ...; done` runs the methods
#     cycle by cycle, so a slow machine has every method's cycle C before any method's cycle C+1
#   INITIAL_SEED: draw one initial set with this seed for every seed, as the paper did ("selected
#     randomly once for all the methods"); the std over seeds then leaves out initial-set variation
#   TRAIN_ARGS, ACQUIRE_ARGS: extra flags passed to every train.py / acquire.py call
#   GPUS="0 1 2 3": run independent jobs in parallel, one per entry (GPUS="0 0": two at a time on GPU 0)
# Layout: RUNS/<dataset>/initial/seed<S>/{universe,labeled}.npy   the seed's universe and initial set
#         RUNS/<dataset>/cycle0/seed<S>/        cycle 0's training, shared by every method
#         RUNS/<dataset>/<method>/seed<S>/cycle0 -> ../../cycle0/seed<S>   (a symbolic link)
#         RUNS/<dataset>/<method>/seed<S>/cycle<C>/   C >= 1: the training on the labeled.npy that
#             cycle C-1's acquisition wrote there; CYCLES=4 means 5 trainings, cycle0..cycle4
#         RUNS/<dataset>/alldata/seed<S>/
# Reruns: the first run records the tree's protocol in RUNS/<dataset>/protocol.json (the dataset's
#   fingerprint, PRESET, UNIVERSE_SIZE, INITIAL, INITIAL_SEED, STEP, CYCLES, EPOCHS, WIDTH, BATCH_SIZE,
#   TRAIN_ARGS, ACQUIRE_ARGS); every later run checks it before any work and stops at the first
#   difference (use another RUNS, or CHANGE=SETTING[,SETTING] to change one deliberately). More
#   methods or seeds may always be added. Each step then checks what it would skip: a finished training
#   is kept, and a checkpoint continued, only if made from the same labeled set, universe, dataset and
#   settings (train.py --resume); an acquisition likewise (acquire.py --resume). One lock per chain and
#   per all-data run: a second run_all.sh on the same chain waits for the first, then reuses its work.
#   bash run_all.sh --help prints this text.
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 0
fi
fail() { echo "error: $*" >&2; exit 2; }
if [ $# -lt 1 ]; then
  echo "usage: bash run_all.sh DATASET [METHOD ...]   (DATASET: cifar10, cifar100 or folder:PATH; --help for more)" >&2
  exit 2
fi
DATASET=$1; shift
# The tree is named after the dataset: a plain folder name, never a path that leaves RUNS. A folder
# is resolved from where run_all.sh was started, before it changes into its own folder.
case $DATASET in
  cifar10|cifar100) name=$DATASET ;;
  folder:*)
    folder=$(realpath -e -- "${DATASET#folder:}" 2>/dev/null) || fail "DATASET: no folder '${DATASET#folder:}'"
    [ -d "$folder" ] || fail "DATASET: '${DATASET#folder:}' is not a folder"
    name=$(basename -- "$folder")
    [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] \
      || fail "DATASET: the folder's name '$name' is not a plain name (letters, digits, . _ -); rename or link it"
    DATASET=folder:$folder ;;
  *) fail "DATASET: expected cifar10, cifar100 or folder:PATH, got '$DATASET'" ;;
esac

cd "$(dirname "$0")"  # RUNS, DATA_ROOT and the scripts are relative to the repository
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
ACQUIRE_ONLY=${ACQUIRE_ONLY:-0}
GPUS=${GPUS:-}

PRESET=${PRESET:-paper}
case $PRESET in
  paper) : "${EPOCHS:=100}" "${WIDTH:=64}" "${BATCH_SIZE:=256}" "${UNIVERSE_SIZE:=}" ;;
  # The paper's recipe and label budgets unchanged, only the width reduced (what a CPU affords);
  # VAAL and CoreSet shrunk as in the quick preset (their official sizes take CPU-days).
  medium) : "${EPOCHS:=100}" "${WIDTH:=16}" "${BATCH_SIZE:=256}" "${UNIVERSE_SIZE:=}"
          : "${ACQUIRE_ARGS:=--vaal-epochs 1 --vaal-width 32 --coreset-time-limit 300}" ;;
  quick) : "${EPOCHS:=20}" "${WIDTH:=16}" "${BATCH_SIZE:=64}" "${UNIVERSE_SIZE=5000}"
         : "${ACQUIRE_ARGS:=--vaal-epochs 1 --vaal-width 32 --coreset-time-limit 60}" ;;  # official sizes: hours on a CPU
  *) echo "error: PRESET: expected paper, medium or quick, got '$PRESET'" >&2; exit 2 ;;
esac
TRAIN_ARGS=${TRAIN_ARGS:-}
ACQUIRE_ARGS=${ACQUIRE_ARGS:-}
INITIAL_SEED=${INITIAL_SEED:-}
UNTIL=${UNTIL:-}

# Every input is checked before any work, and none is ever pasted into code: a typo fails in a
# second, not after hours of training.
expect() {  # expect VAR REGEX DESCRIPTION
  [[ ${!1} =~ $2 ]] || fail "$1: expected $3, got '${!1}'"
}
expect SEEDS '^ *[0-9]+( +[0-9]+)* *$' "one or more seeds, whole numbers >= 0 separated by spaces"
expect CYCLES '^[0-9]+$' "a whole number of cycles"
expect UNTIL '^[0-9]*$' "a cycle number, or nothing"
expect EPOCHS '^[1-9][0-9]*$' "a positive whole number"
expect WIDTH '^[1-9][0-9]*$' "a positive whole number"
expect BATCH_SIZE '^[1-9][0-9]*$' "a positive whole number"
expect UNIVERSE_SIZE '^([1-9][0-9]*)?$' "a positive whole number of training images, or nothing for all"
expect INITIAL '^0?\.[0-9]*[1-9][0-9]*$' "a fraction of the universe between 0 and 1, like 0.1"
expect STEP '^0?\.[0-9]*[1-9][0-9]*$' "a fraction of the universe between 0 and 1, like 0.05"
expect INITIAL_SEED '^[0-9]*$' "a whole number >= 0, or nothing"
expect ALLDATA '^[01]$' "1 (train the all-data reference) or 0"
expect ACQUIRE_ONLY '^[01]$' "1 or 0"
expect GPUS '^( *[0-9]+)* *$' "GPU numbers separated by spaces, like '0 1'"
expect DEVICE '^(auto|cpu|mps|cuda(:[0-9]+)?)$' "auto, cpu, cuda, cuda:N or mps"

ROOT=$RUNS/$name

# The paper's scale needs a GPU: on a CPU one training takes about 10 hours. Say so at once.
if [ "$PRESET" = paper ] && [ "$DEVICE" = auto ] && ! $PYTHON -c "import torch, sys
sys.exit(not (torch.cuda.is_available() or torch.backends.mps.is_available()))"; then
  fail "PRESET=paper needs a GPU and none was found (a paper-scale training takes about 10 hours" \
       "on a CPU). Run PRESET=quick for the CPU-sized protocol, or set DEVICE=cpu to force the paper's" \
       "scale on the CPU."
fi
if [ "$DEVICE" != auto ] && [ "$DEVICE" != cpu ]; then  # a device this machine lacks fails now, not in a log
  message=$($PYTHON device.py "$DEVICE" 2>&1 > /dev/null) || { echo "${message/--device /DEVICE=}" >&2; exit 2; }
fi
# The method names, checked; and those that read the pool's predictions after every epoch
# (TRACKS_EVERY_EPOCH in their baselines/ file: dispersion). One python call for all methods, before
# any work, once per run_all.sh (no call per chain). It imports torch with the baselines: 4.3-6.1 s
# on 2 loaded cores (python -c "import baselines"; 0.2-0.6 s while they imported torch in functions).
# shellcheck disable=SC2086
EVERY_EPOCH=$($PYTHON -c "import sys; from baselines import METHODS; bad = [m for m in sys.argv[1:] if m not in METHODS]
if bad: sys.exit(f'error: unknown method {bad[0]!r}; known: {\" \".join(sorted(METHODS))}')
print(*(m for m in sys.argv[1:] if getattr(METHODS[m], 'TRACKS_EVERY_EPOCH', False)))" $METHODS) || exit 2

# The tree's protocol: recorded by the first run, checked by every later one (provenance.py).
$PYTHON provenance.py protocol "$ROOT" \
  "PRESET=$PRESET" "UNIVERSE_SIZE=$UNIVERSE_SIZE" "INITIAL=$INITIAL" "INITIAL_SEED=$INITIAL_SEED" \
  "STEP=$STEP" "CYCLES=$CYCLES" "EPOCHS=$EPOCHS" "WIDTH=$WIDTH" "BATCH_SIZE=$BATCH_SIZE" \
  "TRAIN_ARGS=$TRAIN_ARGS" "ACQUIRE_ARGS=$ACQUIRE_ARGS" --dataset "$DATASET" --change "${CHANGE:-}" || exit 2

locked() {  # locked LOCKFILE WHAT COMMAND...: run COMMAND holding the lock; a second holder waits
  local file=$1 what=$2 fd; shift 2
  if ! command -v flock > /dev/null; then "$@"; return; fi  # no flock (macOS): no locking
  mkdir -p "$(dirname "$file")"
  exec {fd}>> "$file"
  if ! flock -n "$fd"; then
    echo "  waiting: another run_all.sh is working on $what (lock: $file)"
    flock "$fd"
  fi
  "$@"  # a failure ends the script (set -e), and the lock with it
  exec {fd}>&-
}

train() {  # train RUN_DIR LABELED UNIVERSE SEED [extra train.py flags]: kept if finished with these inputs
  local run=$1 labeled=$2 universe=$3 seed=$4; shift 4
  mkdir -p "$run"
  [ -f "$run/metrics.json" ] || echo "  training $run (log: $run/train.log)"
  # Every line train.py prints (one per epoch) goes to the console and to train.log.
  # shellcheck disable=SC2086
  $PYTHON train.py --dataset "$DATASET" --data-root "$DATA_ROOT" --labeled "$labeled" --universe "$universe" \
    --out "$run" --epochs "$EPOCHS" --width "$WIDTH" --batch-size "$BATCH_SIZE" --seed "$seed" \
    --device "$DEVICE" --resume "$@" $TRAIN_ARGS 2>&1 | tee -a "$run/train.log" | sed 's/^/    /' \
    || { echo "error: training $run failed (log: $run/train.log)" >&2; return 1; }
}

initial_set() {  # initial_set SEED: the seed's universe and initial labeled set (checked if present)
  local seed=$1
  $PYTHON data.py initial --dataset "$DATASET" --data-root "$DATA_ROOT" --seed "${INITIAL_SEED:-$seed}" \
    --fraction "$INITIAL" ${UNIVERSE_SIZE:+--universe-size "$UNIVERSE_SIZE"} --out "$ROOT/initial/seed$seed"
}

shared_cycle0() {  # shared_cycle0 SEED: cycle 0, trained once per seed with the pool predicted after every epoch
  local seed=$1 init=$ROOT/initial/seed$1
  # Chains of one seed may start together (a Slurm array): one trains it, the others wait, then keep it.
  locked "$ROOT/cycle0/.seed$seed.lock" "cycle 0 of seed $seed" \
    train "$ROOT/cycle0/seed$seed" "$init/labeled.npy" "$init/universe.npy" "$seed"
}

chain() {  # chain METHOD SEED: one method's cycles for one seed; a second run of it waits
  locked "$ROOT/$1/seed$2/.lock" "the $1 chain of seed $2" chain_cycles "$1" "$2"
}

chain_cycles() {  # chain_cycles METHOD SEED: cycle by cycle, train, then acquire the next labeled set
  local method=$1 seed=$2 last=${UNTIL:-$CYCLES} budget
  ((last <= CYCLES)) || last=$CYCLES  # UNTIL: this time, up to cycle UNTIL's training
  budget=$($PYTHON -c "import sys, numpy as np; print(round(float(sys.argv[1]) * len(np.load(sys.argv[2]))))" \
    "$STEP" "$ROOT/initial/seed$seed/universe.npy")
  for ((c = 0; c <= last; c++)); do
    if [ "$ACQUIRE_ONLY" = 1 ] && ((c > 0 && c == last)); then break; fi  # acquired, left untrained
    train_cycle "$method" "$seed" "$c"
    if ((c == last)); then break; fi  # the model of cycle CYCLES is only tested: no acquisition follows
    acquire "$method" "$seed" "$c" "$budget"
  done
}

train_cycle() {  # train_cycle METHOD SEED C: cycle 0 is the seed's shared one, linked; the others train
  local method=$1 seed=$2 c=$3 base=$ROOT/$1/seed$2 universe=$ROOT/initial/seed$2/universe.npy
  if ((c == 0)); then
    shared_cycle0 "$seed"
    mkdir -p "$base"
    [ -e "$base/cycle0" ] || ln -s "../../cycle0/seed$seed" "$base/cycle0"
  elif ((c == CYCLES)); then  # the last model is only tested: no pool tracking
    train "$base/cycle$c" "$base/cycle$c/labeled.npy" "$universe" "$seed" --no-track
  elif [[ " $EVERY_EPOCH " == *" $method "* ]]; then  # the pool predicted after every epoch (section 3.1)
    train "$base/cycle$c" "$base/cycle$c/labeled.npy" "$universe" "$seed"
  else  # the final softmax is all the method reads; tracking less changes nothing in training
    train "$base/cycle$c" "$base/cycle$c/labeled.npy" "$universe" "$seed" --track-last 1
  fi
}

acquire() {  # acquire METHOD SEED C BUDGET: score cycle C's pool, write cycle C+1's labeled set, check it
  local method=$1 seed=$2 c=$3 budget=$4 base=$ROOT/$1/seed$2
  # kept if made from the same run and settings (acquire.py --resume)
  # shellcheck disable=SC2086
  $PYTHON acquire.py --run "$base/cycle$c" --method "$method" --budget "$budget" \
    --out "$base/cycle$((c + 1))/labeled.npy" --seed "$seed" --device "$DEVICE" --resume $ACQUIRE_ARGS
  $PYTHON checks.py --initial "$ROOT/initial/seed$seed" --chain "$base" --budget "$budget"  # no leakage, before training
}

alldata() {  # alldata SEED: the reference trained on the whole universe (paper, Table 1)
  local seed=$1 init=$ROOT/initial/seed$1
  locked "$ROOT/alldata/.seed$seed.lock" "the all-data run of seed $seed" \
    train "$ROOT/alldata/seed$seed" "$init/universe.npy" "$init/universe.npy" "$seed" --no-track
}

duration() {  # duration SECONDS -> 1h02m, 3m05s or 12s
  local s=$1
  if ((s >= 3600)); then printf '%dh%02dm' $((s / 3600)) $((s % 3600 / 60))
  elif ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60))
  else printf '%ds' "$s"; fi
}

run_jobs() {  # run_jobs JOB...: one after another, or with GPUS one per GPU at a time
  if [ -z "$GPUS" ]; then
    local k=0 started=$SECONDS elapsed left
    for job in "$@"; do
      elapsed=$((SECONDS - started)) left=""
      ((k == 0)) || left=", about $(duration $((elapsed * ($# - k) / k))) left at the pace so far"
      k=$((k + 1))
      echo "== job $k of $#: $job ($(duration $elapsed) elapsed$left)"
      $job
    done
    return
  fi
  mkdir -p "$ROOT/logs"  # each job's output goes to RUNS/<dataset>/logs/
  local gpus slot job log failed=0 k=0
  read -r -a gpus <<< "$GPUS"  # one slot per entry: GPUS="0 0" runs two jobs at a time on GPU 0
  local busy=()
  for job in "$@"; do
    k=$((k + 1))
    while :; do
      for slot in "${!gpus[@]}"; do
        if [ -z "${busy[$slot]:-}" ] || ! kill -0 "${busy[$slot]}" 2>/dev/null; then
          if [ -n "${busy[$slot]:-}" ]; then wait "${busy[$slot]}" || failed=1; fi
          log=$ROOT/logs/${job// /_}.log
          echo "== job $k of $#: $job on GPU ${gpus[$slot]}, slot $slot (log: $log)"
          (export CUDA_VISIBLE_DEVICES=${gpus[$slot]}; $job) > "$log" 2>&1 &
          busy[$slot]=$!
          continue 3
        fi
      done
      sleep 5
    done
  done
  for slot in "${!busy[@]}"; do wait "${busy[$slot]}" || failed=1; done
  if [ "$failed" = 1 ]; then echo "error: some jobs failed; see $ROOT/logs/" >&2; exit 1; fi
}

cycle0_jobs=(); all_jobs=()
for seed in $SEEDS; do
  initial_set "$seed"
  cycle0_jobs+=("shared_cycle0 $seed")
  all_jobs+=("shared_cycle0 $seed")
  for method in $METHODS; do all_jobs+=("chain $method $seed"); done
  if [ "$ALLDATA" = 1 ]; then all_jobs+=("alldata $seed"); fi
done
if [ -n "$GPUS" ]; then run_jobs "${cycle0_jobs[@]}"; fi  # in parallel, every chain needs its seed's cycle 0 first
run_jobs "${all_jobs[@]}"
echo "done: $ROOT"
