"""train.py on a tiny image folder: the files it writes, determinism, tracking, refusals.

Stopping and resuming is tested on every device in tests/test_devices.py."""
import json

import numpy as np
import pytest
import torch
from conftest import run_script

TINY = ["--epochs", "3", "--width", "4", "--batch-size", "8", "--pool-batch-size", "7"]


def train(split, out, *extra):
    return run_script("train.py", "--dataset", split["dataset"], "--data-root", split["root"] / "cache",
                      "--labeled", split["root"] / "labeled.npy", "--universe", split["root"] / "universe.npy",
                      "--out", out, *TINY, *extra)


@pytest.fixture(scope="module")
def run(split, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train(split, out)
    return out


def test_writes_the_file_contract(run, split):
    pool, labeled = np.load(run / "pool.npy"), np.load(run / "labeled.npy")
    preds, probs = np.load(run / "preds.npy"), np.load(run / "probs.npy")
    np.testing.assert_array_equal(labeled, split["labeled"])
    assert np.intersect1d(pool, labeled).size == 0                    # disjoint
    np.testing.assert_array_equal(np.union1d(pool, labeled), split["universe"])  # cover the subset
    assert np.all(np.diff(pool) > 0)                                   # sorted
    assert preds.shape == (3, 24) and preds.dtype == np.uint8 and preds.max() < 3
    assert probs.shape == (24, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    np.testing.assert_array_equal(probs.argmax(1), preds[-1])          # last row = final model
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_labeled"] == 6 and metrics["pred_epochs"] == [1, 2, 3]
    assert len(metrics["train_loss"]) == 3 and 0 <= metrics["test_acc"] <= 1
    # milestones at 60% and 80% of 3 epochs both round to 2: lr is divided by 5 twice there
    assert metrics["lr"] == pytest.approx([0.02, 0.02, 0.02 * 0.2 * 0.2])
    config = json.loads((run / "config.json").read_text())
    assert config["milestones"] == [2, 2] and config["gamma"] == 0.2 and config["nesterov"] is True
    assert {"torch", "numpy", "git", "device"} <= set(config["environment"])
    assert not (run / "checkpoint.pt").exists()


def test_same_seed_same_bits_other_seed_other_model(run, split, tmp_path):
    train(split, tmp_path / "again")
    np.testing.assert_array_equal(np.load(run / "preds.npy"), np.load(tmp_path / "again" / "preds.npy"))
    np.testing.assert_array_equal(np.load(run / "probs.npy"), np.load(tmp_path / "again" / "probs.npy"))
    train(split, tmp_path / "seed1", "--seed", "1")
    assert not np.array_equal(np.load(run / "probs.npy"), np.load(tmp_path / "seed1" / "probs.npy"))


def test_tracking_only_observes(run, split, tmp_path):
    """Predicting the pool must not change training: --no-track gives the same weights."""
    train(split, tmp_path / "untracked", "--no-track")
    assert not (tmp_path / "untracked" / "preds.npy").exists()
    tracked = torch.load(run / "model.pt", weights_only=True)
    untracked = torch.load(tmp_path / "untracked" / "model.pt", weights_only=True)
    for name in tracked:
        torch.testing.assert_close(tracked[name], untracked[name], rtol=0, atol=0)


def test_sparse_tracking_records_the_asked_epochs(split, tmp_path):
    train(split, tmp_path / "sparse", "--epochs", "5", "--track-every", "2")
    assert json.loads((tmp_path / "sparse" / "metrics.json").read_text())["pred_epochs"] == [1, 3, 5]
    assert np.load(tmp_path / "sparse" / "preds.npy").shape == (3, 24)


def test_all_data_run_with_empty_pool(split, tmp_path):
    run_script("train.py", "--dataset", split["dataset"], "--data-root", split["root"] / "cache",
               "--labeled", split["root"] / "universe.npy", "--universe", split["root"] / "universe.npy",
               "--out", tmp_path / "all", *TINY)
    assert np.load(tmp_path / "all" / "pool.npy").size == 0
    assert json.loads((tmp_path / "all" / "metrics.json").read_text())["n_labeled"] == 30


def test_resume_refuses_a_checkpoint_of_other_settings(split, tmp_path):
    out = tmp_path / "mixed"
    train(split, out, "--stop-after-epoch", "1")
    result = run_script("train.py", "--dataset", split["dataset"], "--data-root", split["root"] / "cache",
                        "--labeled", split["root"] / "labeled.npy", "--universe", split["root"] / "universe.npy",
                        "--out", out, *TINY, "--lr", "0.1", "--resume", check=False)
    assert result.returncode == 2 and "checkpoint.pt: written with lr = 0.02, now 0.1" in result.stderr


@pytest.mark.parametrize("content, message", [
    (np.array([1.0, 2.0]), "expected integer values"),
    (np.array([[1, 2]]), "expected a 1-D array"),
    (np.array([1, 1, 2]), "duplicate indices"),
    (np.array([1, 99]), "must lie in [0, 36)"),
    (np.array([-1, 2]), "must lie in [0, 36)"),
])
def test_bad_labeled_files_are_refused_and_nothing_is_written(split, tmp_path, content, message):
    np.save(tmp_path / "bad.npy", content)
    result = run_script("train.py", "--dataset", split["dataset"], "--data-root", split["root"] / "cache",
                        "--labeled", tmp_path / "bad.npy", "--out", tmp_path / "out", *TINY, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path / 'bad.npy'}: ") and message in lines[0]
    assert not (tmp_path / "out").exists()


def test_pool_predictions_do_not_depend_on_the_batch_size():
    import data
    import train
    from models import build_model

    torch.manual_seed(0)
    model = build_model(5, width=16).eval()
    images = torch.randint(0, 256, (50, 3, 16, 16), dtype=torch.uint8)
    mean, std = torch.full((3,), 0.5), torch.full((3,), 0.25)
    autocast = torch.autocast("cpu", enabled=False)
    def prep(batch):
        return data.normalize(batch, mean, std)
    labels = [train.predict(model, images, prep, size, autocast)[0] for size in (1, 7, 64)]
    assert labels[0].shape == (50,)
    # Each batch size may take other kernels, so the logits may differ in their last bits (1e-8 here);
    # the labels agree exactly on any CPU because no sample is near a tie (smallest gap 9e-4):
    with torch.no_grad():
        top2 = model(prep(images)).topk(2, 1).values
    assert (top2[:, 0] - top2[:, 1]).min() > 1e-4
    torch.testing.assert_close(labels[0], labels[1], rtol=0, atol=0)
    torch.testing.assert_close(labels[0], labels[2], rtol=0, atol=0)
    _, probs = train.predict(model, images, prep, 7, autocast)
    torch.testing.assert_close(probs.argmax(1), labels[1], rtol=0, atol=0)  # the same batches: same arithmetic
