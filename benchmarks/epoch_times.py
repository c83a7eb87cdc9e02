"""Median seconds per epoch of finished trainings, from the per-epoch seconds in their metrics.json.

    python benchmarks/epoch_times.py RUN [RUN ...]

Reads RUN/metrics.json (train.py): seconds_train_per_epoch and seconds_pool_per_epoch (one entry per
epoch; a resumed training keeps those of the epochs its final model went through), n_labeled and
test_acc. Prints one row per run: the epochs, the median seconds of an epoch's training and of its
pool prediction, the training time per labeled image and epoch (ms), and the test accuracy. A median,
not metrics.json's totals: an epoch that was paused (a SIGSTOP for the test suite, a suspended
laptop) or slowed by other work counts once, not with its hours.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from files import FileError, exit_with_error, load_json  # noqa: E402


def epoch_seconds(metrics, path):
    """metrics.json dict -> [E, 2] seconds training and predicting the pool, one row per epoch."""
    train, pool = (metrics.get(f"seconds_{phase}_per_epoch") if isinstance(metrics, dict) else None
                   for phase in ("train", "pool"))
    if not (isinstance(train, list) and isinstance(pool, list) and train and len(train) == len(pool)):
        raise FileError(f"{path}: no per-epoch seconds (expected lists seconds_train_per_epoch and "
                        "seconds_pool_per_epoch of one length, as train.py writes them)")
    return np.array([train, pool], np.float64).T


def run_row(run):
    """One run folder -> its printed row's values."""
    path = run / "metrics.json"
    if not path.is_file():
        raise FileError(f"{path}: not found (expected a finished train.py run folder)")
    metrics = load_json(path)
    seconds = epoch_seconds(metrics, path)
    train, pool = np.median(seconds, axis=0)
    return {"epochs": len(seconds), "train": train, "pool": pool, "epoch": np.median(seconds.sum(1)),
            "ms_per_image": 1000 * train / metrics["n_labeled"], "n_labeled": metrics["n_labeled"],
            "test_acc": metrics["test_acc"]}


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
        print(f"{str(run):<60} {row['epochs']:>6} {row['train']:>8.1f} {row['pool']:>8.1f} {row['epoch']:>8.1f} "
              f"{row['ms_per_image']:>7.2f} {row['n_labeled']:>8} {100 * row['test_acc']:>7.2f}")


if __name__ == "__main__":
    sys.exit(main())
