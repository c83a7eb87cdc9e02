"""Median seconds per epoch of trainings, from the epoch lines of their train.log.

    python benchmarks/epoch_times.py RUN [RUN ...]

Reads RUN/train.log (train.py's output, appended by run_all.sh), RUN/labeled.npy and, when the
training has finished, RUN/metrics.json. Prints one row per run: the epochs logged, the median
seconds of an epoch's training and of its pool prediction, the training time per labeled image
and epoch (ms), and the test accuracy. A median, not metrics.json's totals: an epoch that was
paused (a SIGSTOP for the test suite, a suspended laptop) or slowed by other work counts once, not
with its hours. A resumed training logs again the epochs after its last checkpoint; the last line
of each epoch is the one kept (the epoch the final model went through).
"""
import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from files import FileError, exit_with_error, load_json, load_npy  # noqa: E402

EPOCH_LINE = re.compile(r"^epoch\s+(\d+)/\d+\s.*\strain ([\d.]+)s\s+pool ([\d.]+)s(\s+left \S+)?\s*$")


def epoch_seconds(log_text):
    """train.log text -> {epoch: (seconds training, seconds predicting the pool)}, the last line
    of each epoch winning."""
    seconds = {}
    for line in log_text.splitlines():
        match = EPOCH_LINE.match(line)
        if match:
            seconds[int(match[1])] = (float(match[2]), float(match[3]))
    return seconds


def run_row(run):
    """One run folder -> its printed row's values."""
    log = run / "train.log"
    if not log.is_file():
        raise FileError(f"{log}: not found (expected a run folder of train.py with its train.log)")
    seconds = epoch_seconds(log.read_text())
    if not seconds:
        raise FileError(f"{log}: no epoch lines (expected lines like 'epoch   1/100 ... train 23.0s  pool 36.7s')")
    train, pool = np.median(np.array(list(seconds.values())), axis=0)
    epoch = np.median([t + p for t, p in seconds.values()])
    n_labeled = len(load_npy(run / "labeled.npy", ndim=1, kind="int"))
    metrics = run / "metrics.json"
    test_acc = load_json(metrics)["test_acc"] if metrics.is_file() else None
    return {"epochs": len(seconds), "train": train, "pool": pool, "epoch": epoch,
            "ms_per_image": 1000 * train / n_labeled, "n_labeled": n_labeled, "test_acc": test_acc}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="train.py run folders")
    args = p.parse_args(argv)
    print(f"{'run':<60} {'epochs':>6} {'train s':>8} {'pool s':>8} {'epoch s':>8} {'ms/img':>7} {'labeled':>8} {'test %':>7}")
    for run in args.runs:
        try:
            row = run_row(run)
        except FileError as error:
            exit_with_error(error)
        acc = "running" if row["test_acc"] is None else f"{100 * row['test_acc']:.2f}"
        print(f"{str(run):<60} {row['epochs']:>6} {row['train']:>8.1f} {row['pool']:>8.1f} {row['epoch']:>8.1f} "
              f"{row['ms_per_image']:>7.2f} {row['n_labeled']:>8} {acc:>7}")


if __name__ == "__main__":
    sys.exit(main())
