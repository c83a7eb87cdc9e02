#!/usr/bin/env bash
# How the medium preset's all-data reference (Table 1's denominator; the "all data" row of results.md)
# was made for seeds 0-2: on one NVIDIA H100 (torch 2.11), two calls of the session's device (output
# in alldata_gpu.txt). The chains ran on the CPU, where one all-data training (50,000 images x 100
# epochs) takes about 4 hours. Same flags as run_all.sh's alldata() with PRESET=medium: width 16,
# batch 256, 100 epochs, the universe (all 50,000 training images) as the labeled set, no pool
# tracking; float32 (convolutions in TF32, PyTorch's CUDA default), as every GPU training here.
#   carried: .gpu/cifar10-jpeg.tar.gz (../shared/data), .gpu/initial/seed<S>/ (the medium run tree's)
#   writes: $OUT/alldata.tar.gz (alldata/seed<S>/, unpacked into the run tree), $OUT/log.txt,
#           $OUT/cuda_tests.txt
# SEEDS (default "0 1 2") run one after another while BUDGET_S seconds fit another; then, unless
# CUDA_TESTS=0, the CUDA cases of the test suite.
set -uo pipefail
OUT=${OUT:-/tmp/alldata-out}; W=${WORK:-/tmp/alldata}; BUDGET_S=${BUDGET_S:-470}
PY=${PYTHON:-python3}; EPOCHS=${EPOCHS:-100}
mkdir -p "$OUT" "$W/cifar10-jpeg" "$W/runs/alldata"
start=$(date +%s)
[ -d "$W/cifar10-jpeg/train" ] || tar xzf .gpu/cifar10-jpeg.tar.gz -C "$W/cifar10-jpeg"
"$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')" | tee "$OUT/log.txt"
last=0
for s in ${SEEDS:-0 1 2}; do
  now=$(date +%s)
  if (( now - start + last * 11 / 10 > BUDGET_S )); then echo "seed $s skipped: budget" | tee -a "$OUT/log.txt"; continue; fi
  run=$W/runs/alldata/seed$s
  "$PY" train.py --dataset folder:"$W/cifar10-jpeg" --data-root "$W/data" \
    --labeled .gpu/initial/seed$s/universe.npy --universe .gpu/initial/seed$s/universe.npy \
    --out "$run" --epochs "$EPOCHS" --width 16 --batch-size 256 --seed "$s" --device auto --no-track \
    > "$run.log" 2>&1 || { tail -5 "$run.log" | tee -a "$OUT/log.txt"; continue; }
  cp "$run.log" "$run/train.log"
  last=$(( $(date +%s) - now ))
  echo "seed $s: $(tail -n 1 "$run.log") (${last} s)" | tee -a "$OUT/log.txt"
done
tar czf "$OUT/alldata.tar.gz" --exclude=checkpoint.pt -C "$W/runs" alldata
left=$(( BUDGET_S + 60 - ($(date +%s) - start) ))
if [ "${CUDA_TESTS:-1}" = 1 ] && (( left > 75 )); then
  timeout $left "$PY" -m pytest -o addopts= -q -p no:cacheprovider -k cuda tests/test_devices.py 2>&1 | tail -3 | tee "$OUT/cuda_tests.txt"
fi
echo "total $(( $(date +%s) - start )) s" | tee -a "$OUT/log.txt"
