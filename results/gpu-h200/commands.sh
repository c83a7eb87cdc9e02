#!/usr/bin/env bash
# How results/gpu-h200/ was made on one NVIDIA H200 (torch 2.11), three calls on one machine:
# (1) the prepared check: seed 0 cycle 0, acquisitions, report, CUDA tests, speed, bf16
python3 benchmarks/gpu_check.py --data cifar10-jpeg.tar.gz --out $OUT --work /tmp/gc --budget-s 500
# (2) after fixing the CUDA resume test to compare under --deterministic: the CUDA tests again, and
#     a second float32 training of seed 0 (run-to-run nondeterminism of cuDNN)
python3 -m pytest -o addopts= -q -p no:cacheprovider -k cuda tests/test_devices.py 2>&1 | tail -3 | tee $OUT/cuda_tests.txt
d=/tmp/gc/cifar10-jpeg; [ -d $d/train ] || { mkdir -p $d && tar xzf .gpu/cifar10-jpeg.tar.gz -C $d; }
[ -f /tmp/gc/tree/initial/seed0/labeled.npy ] || python3 data.py initial --dataset folder:$d --data-root /tmp/gc/data --seed 0 --out-dir /tmp/gc/tree/initial/seed0
python3 train.py --dataset folder:$d --data-root /tmp/gc/data --labeled /tmp/gc/tree/initial/seed0/labeled.npy --universe /tmp/gc/tree/initial/seed0/universe.npy --out /tmp/gc/fp32b --seed 0 | tail -1
python3 -c "
import numpy as np, json
a=np.load('/tmp/gc/fp32b/preds.npy'); print('second float32 run test acc', json.load(open('/tmp/gc/fp32b/metrics.json'))['test_acc'])
for o in ['/tmp/gc/tree/cycle0/seed0','/tmp/gc/bf16/seed0']:
  try: b=np.load(o+'/preds.npy'); print(o, 'final preds differ %.2f%%' % (100*(a[-1]!=b[-1]).mean()))
  except Exception as e: print(o, e)
" | tee $OUT/fp32_rerun.txt
# (3) cycle 0 of seeds 1 and 2, their bald/kcenter/badge acquisitions, report.py over the 3 seeds
d=/tmp/gc/cifar10-jpeg; T=/tmp/gc/tree
for s in 1 2; do
  python3 data.py initial --dataset folder:$d --data-root /tmp/gc/data --seed $s --out-dir $T/initial/seed$s
  python3 train.py --dataset folder:$d --data-root /tmp/gc/data --labeled $T/initial/seed$s/labeled.npy --universe $T/initial/seed$s/universe.npy --out $T/cycle0/seed$s --seed $s | tail -1
  for m in bald kcenter badge; do
    mkdir -p $T/$m/seed$s; [ -e $T/$m/seed$s/cycle0 ] || ln -s ../../cycle0/seed$s $T/$m/seed$s/cycle0
    python3 acquire.py --run $T/$m/seed$s/cycle0 --method $m --budget 2500 --out $T/$m/seed$s/cycle1/labeled.npy --seed $s | tail -1
  done
done
python3 report.py $T --out /tmp/gc/report3 --data-root /tmp/gc/data > $OUT/report3.txt 2>&1
cp /tmp/gc/report3/informativeness.csv /tmp/gc/report3/informativeness.png /tmp/gc/report3/auroc.md $OUT/
for s in 1 2; do cp $T/cycle0/seed$s/metrics.json $OUT/metrics_seed$s.json; done
tail -5 $OUT/report3.txt
