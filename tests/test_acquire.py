"""acquire.py on crafted run folders: exact selections, the next labeled set, bad input."""
import json

import numpy as np
import pytest
from conftest import run_script

import acquire


def make_run(folder, preds, labeled, pool, num_classes=10, n_train=None, probs=None):
    """A finished run folder as train.py leaves it, with hand-made predictions."""
    folder.mkdir(parents=True, exist_ok=True)
    n_train = n_train or len(labeled) + len(pool)
    (folder / "config.json").write_text(json.dumps({"num_classes": num_classes, "n_train": n_train,
                                                    "dataset": "folder:/nowhere", "data_root": "./data"}))
    np.save(folder / "labeled.npy", np.asarray(labeled, np.int32))
    np.save(folder / "pool.npy", np.asarray(pool, np.int32))
    np.save(folder / "preds.npy", np.asarray(preds, np.uint8))
    if probs is None:
        probs = np.full((len(pool), num_classes), 1 / num_classes, np.float32)
    np.save(folder / "probs.npy", np.asarray(probs, np.float32))
    (folder / "metrics.json").write_text(json.dumps({"test_acc": 0.5}))
    return folder


@pytest.fixture
def crafted(tmp_path):
    """Pool of 6 samples (training indices 10..15) with dispersions 0.4, 0, 0.8, 0.6, 0.2, 0.6."""
    per_sample = [[1, 2, 1, 3, 1],   # modal class 1, 3 of 5 epochs: 1 - 3/5 = 0.4
                  [2, 2, 2, 2, 2],   # 0
                  [1, 2, 3, 4, 5],   # 0.8
                  [1, 2, 3, 3, 5],   # 0.6
                  [1, 1, 1, 1, 2],   # 0.2
                  [1, 1, 2, 3, 4]]   # 0.6
    preds = np.array(per_sample).T   # [T=5, P=6]
    return make_run(tmp_path / "run", preds, labeled=[0, 3, 7], pool=np.arange(10, 16), n_train=20)


def acquire_cli(run, out, method="dispersion", budget=2, seed=0, *extra):
    return run_script("acquire.py", "--run", run, "--method", method, "--budget", budget,
                      "--out", out, "--seed", seed, *extra, check=False)


def test_selects_exactly_the_highest_dispersion(crafted, tmp_path):
    result = acquire_cli(crafted, tmp_path / "next.npy", budget=1)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "next_selected.npy"), [12])   # dispersion 0.8
    np.testing.assert_allclose(np.load(tmp_path / "next_scores.npy"), [0.4, 0, 0.8, 0.6, 0.2, 0.6], atol=1e-6)
    np.testing.assert_array_equal(np.load(tmp_path / "next.npy"), [0, 3, 7, 12])


def test_ties_are_broken_by_the_seed(crafted, tmp_path):
    """24 acquisitions, run in this process (acquire.main): a fresh interpreter each would import torch
    24 times, about 2 minutes on 2 loaded cores, for nothing this test checks."""
    picks = set()
    for seed in range(12):
        out = tmp_path / f"s{seed}.npy"
        acquire.main(["--run", str(crafted), "--method", "dispersion", "--budget", "2", "--out", str(out),
                      "--seed", str(seed)])
        selected = np.load(tmp_path / f"s{seed}_selected.npy")
        assert selected[0] == 12 and selected[1] in (13, 15)   # 0.8 first, then one of the 0.6 pair
        picks.add(int(selected[1]))
        again = tmp_path / f"again{seed}.npy"
        acquire.main(["--run", str(crafted), "--method", "dispersion", "--budget", "2", "--out", str(again),
                      "--seed", str(seed)])
        np.testing.assert_array_equal(np.load(out), np.load(again))  # same seed, same selection
    assert picks == {13, 15}


def test_next_labeled_set_is_sorted_superset_and_disjoint_from_what_remains(crafted, tmp_path):
    assert acquire_cli(crafted, tmp_path / "n.npy", method="random", budget=4).returncode == 0
    nxt = np.load(tmp_path / "n.npy")
    assert len(nxt) == 7 and np.all(np.diff(nxt) > 0) and set([0, 3, 7]) <= set(nxt)
    assert len(np.setdiff1d(np.arange(10, 16), nxt)) == 2
    assert not (tmp_path / "n_scores.npy").exists()  # random has no score


@pytest.mark.parametrize("budget", [0, 7])
def test_impossible_budget(crafted, tmp_path, budget):
    result = acquire_cli(crafted, tmp_path / "n.npy", budget=budget)
    assert result.returncode == 2 and "--budget: expected 1..6" in result.stderr
    assert list(tmp_path.glob("n*")) == []


def test_unknown_method(crafted, tmp_path):
    result = acquire_cli(crafted, tmp_path / "n.npy", method="magic")
    assert result.returncode == 2 and "invalid choice: 'magic'" in result.stderr


@pytest.mark.parametrize("damage, message", [
    (lambda run: (run / "preds.npy").unlink(), "preds.npy: file not found"),
    (lambda run: np.save(run / "preds.npy", np.zeros((5, 4), np.uint8)), "expected [epochs, 6]"),
    (lambda run: np.save(run / "preds.npy", np.full((5, 6), 12, np.uint8)), "class id 12 beyond 10"),
    (lambda run: (run / "preds.npy").write_bytes(b"\x93NUMPY garbage"), "not a readable .npy"),
    (lambda run: np.save(run / "pool.npy", np.array([3, 10, 11, 12, 13, 14])), "overlap"),
    (lambda run: (run / "metrics.json").unlink(), "did not finish"),
])
def test_damaged_run_folders(crafted, tmp_path, damage, message):
    damage(crafted)
    (tmp_path / "n.npy").write_bytes(b"earlier output")
    result = acquire_cli(crafted, tmp_path / "n.npy")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr
    assert (tmp_path / "n.npy").read_bytes() == b"earlier output"  # earlier outputs untouched


def test_next_labeled_checks_method_output():
    pool, labeled = np.arange(10, 16), np.array([0, 1])
    with pytest.raises(acquire.AcquisitionError):
        acquire.next_labeled(labeled, pool, np.array([1, 1]), 2)
    with pytest.raises(acquire.AcquisitionError):
        acquire.next_labeled(labeled, pool, np.array([1, 6]), 2)
    queried, nxt = acquire.next_labeled(labeled, pool, np.array([5, 0]), 2)
    np.testing.assert_array_equal(queried, [15, 10])
    np.testing.assert_array_equal(nxt, [0, 1, 10, 15])


def test_dispersion_refuses_a_run_of_one_recorded_epoch(tmp_path):
    """From one epoch every dispersion is 0: the pick would be random, under dispersion's name."""
    run = make_run(tmp_path / "run", [[1, 2, 3, 4, 5, 6]], labeled=[0, 3, 7], pool=np.arange(10, 16), n_train=20)
    result = acquire_cli(run, tmp_path / "n.npy")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {run / 'preds.npy'}: the pool's predictions after 1 epoch only; "
                                    "dispersion needs 2 or more")
    assert list(tmp_path.glob("n*")) == []
    assert acquire_cli(run, tmp_path / "m.npy", "margin").returncode == 0  # a method of the final softmax is fine
