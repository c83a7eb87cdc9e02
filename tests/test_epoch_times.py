"""benchmarks/epoch_times.py: the medians the CPU times of benchmarks/README.md come from, on a crafted metrics.json."""
import json

import pytest

from benchmarks import epoch_times
from files import FileError

# Four epochs as train.py records them; epoch 2's pool prediction was paused (741.6 s).
METRICS = {"test_acc": 0.7596, "n_labeled": 5, "seconds_train": 92.0, "seconds_pool": 837.6,
           "seconds_train_per_epoch": [20.0, 22.0, 24.0, 26.0], "seconds_pool_per_epoch": [30.0, 741.6, 32.0, 34.0]}


def test_medians_of_the_epochs_count_a_paused_epoch_once(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps(METRICS))
    row = epoch_times.run_row(tmp_path)
    # medians of 20/22/24/26, 30/741.6/32/34 and of the epoch sums 50/763.6/56/60 (the mean would be 247.4)
    assert (row["epochs"], row["train"], row["pool"], row["epoch"]) == (4, 23.0, 33.0, 58.0)
    assert row["ms_per_image"] == pytest.approx(1000 * 23.0 / 5) and row["test_acc"] == 0.7596


@pytest.mark.parametrize("metrics", [
    {"test_acc": 0.5, "n_labeled": 5, "seconds_train": 92.0, "seconds_pool": 837.6},  # totals only
    {**METRICS, "seconds_pool_per_epoch": [30.0]},                                    # lists of two lengths
    {**METRICS, "seconds_train_per_epoch": [], "seconds_pool_per_epoch": []},          # no epochs
])
def test_a_run_without_per_epoch_seconds_names_its_metrics_json(tmp_path, metrics):
    with pytest.raises(FileError, match="metrics.json: not found"):
        epoch_times.run_row(tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(FileError, match="metrics.json: no per-epoch seconds"):
        epoch_times.run_row(tmp_path)
