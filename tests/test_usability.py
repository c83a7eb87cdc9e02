"""What a new user meets (issue 29): --help, progress on the console, own data on the quick preset,
the by-hand commands of the README, the report's default folder."""
import json
import subprocess

import numpy as np
import pytest
from conftest import ROOT, run_script

TINY = ["--epochs", "2", "--width", "4", "--batch-size", "4"]


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_run_all_help_prints_the_usage_and_every_variable(flag):
    result = subprocess.run(["bash", str(ROOT / "run_all.sh"), flag], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == ""
    for word in ("bash run_all.sh DATASET [METHOD ...]", "SEEDS", "RUNS", "DATA_ROOT", "DEVICE", "PRESET",
                 "EPOCHS", "WIDTH", "BATCH_SIZE", "UNIVERSE_SIZE", "CYCLES", "INITIAL", "STEP", "ALLDATA",
                 "ACQUIRE_ONLY", "UNTIL", "INITIAL_SEED", "TRAIN_ARGS", "ACQUIRE_ARGS", "GPUS", "CHANGE"):
        assert word in result.stdout, word
    assert not any(line.startswith("#") for line in result.stdout.splitlines())


def test_each_epoch_prints_loss_accuracy_seconds_and_time_left(split, tmp_path):
    result = run_script("train.py", "--dataset", split["dataset"], "--data-root", split["root"] / "cache",
                        "--labeled", split["root"] / "labeled.npy", "--out", tmp_path / "run", *TINY)
    epochs = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2
    for line in epochs:
        for word in ("loss ", "train acc ", "train ", "pool ", "left "):
            assert word in line, line
    assert epochs[-1].endswith("left 0s")
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert len(metrics["train_acc"]) == 2 and all(0 <= a <= 1 for a in metrics["train_acc"])


def test_the_papers_network_on_a_cpu_warns_at_once(split, tmp_path):
    result = run_script("train.py", "--dataset", split["dataset"], "--data-root", split["root"] / "cache",
                        "--labeled", split["root"] / "labeled.npy", "--out", tmp_path / "run",
                        "--width", "64", "--epochs", "100", "--stop-after-epoch", "1", "--device", "cpu")
    assert "warning: the paper's network (width 64) on a CPU" in result.stderr
    result = run_script("train.py", "--dataset", split["dataset"], "--data-root", split["root"] / "cache",
                        "--labeled", split["root"] / "labeled.npy", "--out", tmp_path / "small", *TINY)
    assert "warning" not in result.stderr


def test_a_universe_larger_than_the_training_set_takes_all_of_it(split, tmp_path):
    """The quick preset asks for 5,000 images; a folder of 36 takes all 36 (as an empty UNIVERSE_SIZE)."""
    def initial(out, *size):
        return run_script("data.py", "initial", "--dataset", split["dataset"], "--data-root", split["root"] / "cache",
                          "--seed", "0", *size, "--out", tmp_path / out).stdout
    assert "the training set has 36 images; all take part" in initial("capped", "--universe-size", "5000")
    initial("all")
    assert len(np.load(tmp_path / "all/universe.npy")) == 36
    for file in ("universe.npy", "labeled.npy"):
        np.testing.assert_array_equal(np.load(tmp_path / "capped" / file), np.load(tmp_path / "all" / file))


def test_train_finds_the_universe_beside_the_labeled_set(split, tmp_path):
    """The README's by-hand commands: data.py initial --universe-size writes universe.npy beside
    labeled.npy; leaving --universe out must not make the pool the whole training set."""
    run_script("data.py", "initial", "--dataset", split["dataset"], "--data-root", split["root"] / "cache",
               "--seed", "0", "--universe-size", "20", "--out", tmp_path / "init")
    result = run_script("train.py", "--dataset", split["dataset"], "--data-root", split["root"] / "cache",
                        "--labeled", tmp_path / "init/labeled.npy", "--out", tmp_path / "run", *TINY)
    assert "found beside --labeled" in result.stdout
    universe, labeled = np.load(tmp_path / "init/universe.npy"), np.load(tmp_path / "init/labeled.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "run/pool.npy"), np.setdiff1d(universe, labeled))


def test_decoding_a_dataset_says_so_once(image_folder, tmp_path):
    def initial(out):
        return run_script("data.py", "initial", "--dataset", f"folder:{image_folder}", "--data-root",
                          tmp_path / "cache", "--seed", "0", "--out", tmp_path / out).stdout
    first, second = initial("a"), initial("b")
    assert "decoding the images into" in first
    assert "36 training and 12 test images decoded in" in first
    assert "decoding the images" not in second  # the cache is read

