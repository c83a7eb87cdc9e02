"""benchmarks/epoch_times.py: the medians the CPU times of benchmarks/README.md come from, on a crafted train.log."""
import json

import numpy as np
import pytest

from benchmarks import epoch_times
from files import FileError

LOG = """runs/x: training on cpu (2 threads)
epoch   1/4  loss 2.1175  lr 0.02000  train 20.0s  pool 30.0s
epoch   2/4  loss 1.8677  lr 0.02000  train 22.0s  pool 741.6s
epoch   3/4  loss 1.7545  lr 0.02000  train 99.0s  pool 99.0s
runs/x: training on cpu (2 threads)
resuming runs/x after epoch 2
epoch   3/4  loss 1.7545  lr 0.02000  train 24.0s  pool 32.0s
epoch   4/4  loss 1.6799  lr 0.00400  train 26.0s  pool 34.0s
runs/x: test accuracy 0.7596 with 5 labeled samples
"""


def test_the_last_line_of_a_resumed_epoch_wins_and_a_paused_epoch_counts_once(tmp_path):
    assert epoch_times.epoch_seconds(LOG) == {1: (20.0, 30.0), 2: (22.0, 741.6), 3: (24.0, 32.0), 4: (26.0, 34.0)}
    (tmp_path / "train.log").write_text(LOG)
    np.save(tmp_path / "labeled.npy", np.arange(5))
    row = epoch_times.run_row(tmp_path)
    # medians of 20/22/24/26, 30/741.6/32/34 and of the epoch sums 50/763.6/56/60
    assert (row["epochs"], row["train"], row["pool"], row["epoch"]) == (4, 23.0, 33.0, 58.0)
    assert row["ms_per_image"] == pytest.approx(1000 * 23.0 / 5) and row["test_acc"] is None
    (tmp_path / "metrics.json").write_text(json.dumps({"test_acc": 0.7596}))
    assert epoch_times.run_row(tmp_path)["test_acc"] == 0.7596


def test_a_folder_without_epoch_lines_or_labeled_set_names_the_file(tmp_path):
    with pytest.raises(FileError, match="train.log: not found"):
        epoch_times.run_row(tmp_path)
    (tmp_path / "train.log").write_text("runs/x: training on cpu (2 threads)\n")
    with pytest.raises(FileError, match="train.log: no epoch lines"):
        epoch_times.run_row(tmp_path)
    (tmp_path / "train.log").write_text(LOG)
    with pytest.raises(FileError, match="labeled.npy: file not found"):
        epoch_times.run_row(tmp_path)
