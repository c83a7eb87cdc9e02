"""run_all.sh on a tiny image folder: the whole protocol, shared initial sets, resuming."""
import json
import shutil

import numpy as np
import pytest
import torch
from conftest import run_all, start_run_all, trained

from baselines import METHODS
from train import TRAINING_SETTINGS


def test_protocol_layout_and_nested_labeled_sets(protocol_tree):
    root, _, _ = protocol_tree
    initial = np.load(root / "initial" / "seed0" / "labeled.npy")
    assert len(initial) == 7  # 20% of 36
    shared = root / "cycle0" / "seed0"  # cycle 0 is trained once per seed, every epoch tracked
    np.testing.assert_array_equal(np.load(shared / "labeled.npy"), initial)
    assert np.load(shared / "preds.npy").shape == (3, 29)
    for method in ("dispersion", "random"):
        chain = root / method / "seed0"
        assert (chain / "cycle0").is_symlink() and (chain / "cycle0").resolve() == shared.resolve()
        sizes = []
        for c in range(3):
            labeled = np.load(chain / f"cycle{c}" / "labeled.npy")
            pool = np.load(chain / f"cycle{c}" / "pool.npy")
            assert np.intersect1d(labeled, pool).size == 0 and len(labeled) + len(pool) == 36
            assert (chain / f"cycle{c}" / "metrics.json").exists()
            if c:
                assert set(np.load(chain / f"cycle{c - 1}" / "labeled.npy")) < set(labeled)
            sizes.append(len(labeled))
        assert sizes == [7, 11, 15]  # + 10% of 36 per cycle
        assert not (chain / "cycle2" / "preds.npy").exists()  # nothing acquires after the last cycle
    # only dispersion reads every epoch's predictions after cycle 0
    assert np.load(root / "dispersion/seed0/cycle1/preds.npy").shape[0] == 3
    assert np.load(root / "random/seed0/cycle1/preds.npy").shape[0] == 1
    assert (root / "alldata" / "seed0" / "metrics.json").exists()
    # The two methods chose differently from the same start.
    assert not np.array_equal(np.load(root / "dispersion/seed0/cycle1/labeled.npy"),
                              np.load(root / "random/seed0/cycle1/labeled.npy"))


def test_every_method_trains_the_identical_network():
    """Only the acquisition differs between methods: run_all.sh gives a method's chain no train.py
    flags but how much of the pool is tracked (TRACKS_EVERY_EPOCH, a bool), which never changes
    training (tests/test_train.py::test_tracking_only_observes); no baseline may carry its own
    train.py flags (the old TRAIN_ARGS hook, which gave BALD a dropout network, is gone)."""
    for method, module in METHODS.items():
        assert getattr(module, "TRACKS_EVERY_EPOCH", False) in (True, False), method
        assert not hasattr(module, "TRAIN_ARGS"), method


def test_bald_chain_starts_from_the_shared_cycle0_with_the_same_network(protocol_tree, tmp_path):
    root, dataset, runs = protocol_tree
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy, symlinks=True)
    code, stdout, stderr = run_all(dataset, copy, "bald", UNTIL="1", ALLDATA="0")
    assert code == 0, stdout + stderr
    tree = copy / root.name
    assert len(trained(stdout)) == 1 and "bald/seed0/cycle1" in trained(stdout)[0]  # the shared cycle 0 is not retrained
    bald0, random0 = (json.loads((tree / m / "seed0/cycle0/metrics.json").read_text()) for m in ("bald", "random"))
    assert bald0 == random0  # the same cycle-0 run: BALD's cycle-0 accuracy equals random's exactly
    bald1, random1 = (json.loads((tree / m / "seed0/cycle1/config.json").read_text()) for m in ("bald", "random"))
    # every training setting but the pool tracking
    training = set(TRAINING_SETTINGS) - {"track_every", "track_last", "no_track"}
    assert {k: bald1[k] for k in training} == {k: random1[k] for k in training}  # the identical network
    assert bald1["dropout"] == 0


def test_acquire_only_scores_the_shared_cycle0_without_training_and_a_rerun_trains(protocol_tree, tmp_path):
    """ACQUIRE_ONLY=1 UNTIL=1: the acquisition Fig. 3 needs, no training; a rerun without ACQUIRE_ONLY
    then trains cycle 1 on the labeled set already written."""
    root, dataset, runs = protocol_tree
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy, symlinks=True)
    chain = copy / root.name / "bald" / "seed0"
    code, stdout, stderr = run_all(dataset, copy, "bald", UNTIL="1", ALLDATA="0", ACQUIRE_ONLY="1")
    assert code == 0, stdout + stderr
    assert trained(stdout) == []
    assert (chain / "cycle1/labeled.npy").is_file() and (chain / "cycle1/labeled_scores.npy").is_file()
    assert not (chain / "cycle1/metrics.json").exists()
    written = (chain / "cycle1/labeled.npy").stat().st_mtime_ns
    code, stdout, stderr = run_all(dataset, copy, "bald", UNTIL="1", ALLDATA="0")
    assert code == 0, stdout + stderr
    assert trained(stdout) == [str(chain / "cycle1")]
    assert (chain / "cycle1/labeled.npy").stat().st_mtime_ns == written  # not acquired again
    assert (chain / "cycle1/metrics.json").is_file()


def test_rerun_skips_finished_steps_and_redoes_only_missing_ones(protocol_tree, tmp_path):
    root, dataset, runs = protocol_tree
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy, symlinks=True)  # the shared tree stays untouched for other tests
    root = copy / root.name
    finished = {p: p.stat().st_mtime_ns for p in root.rglob("metrics.json")}
    code, stdout, _ = run_all(dataset, copy, "dispersion", "random")
    assert code == 0 and trained(stdout) == []
    assert {p: p.stat().st_mtime_ns for p in root.rglob("metrics.json")} == finished

    (root / "random/seed0/cycle2/metrics.json").unlink()  # as if killed during the last training
    code, stdout, _ = run_all(dataset, copy, "dispersion", "random")
    assert code == 0
    assert trained(stdout) == [str(root / "random/seed0/cycle2")]


def test_unknown_method_fails_before_any_work(image_folder, tmp_path):
    code, _, stderr = run_all(f"folder:{image_folder}", tmp_path / "runs", "dispersion", "magic")
    assert code == 2 and "unknown method 'magic'" in stderr
    assert not any(tmp_path.iterdir())


def test_a_tampered_chain_is_stopped_by_the_leakage_check(protocol_tree, tmp_path):
    root, dataset, runs = protocol_tree
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy, symlinks=True)
    cycle1 = copy / root.name / "random/seed0/cycle1"
    np.save(cycle1 / "labeled.npy", np.load(cycle1 / "labeled.npy")[1:])  # drops a labeled sample
    (cycle1 / "metrics.json").unlink()
    code, _, stderr = run_all(dataset, copy, "random")
    assert code != 0 and "cycle1/labeled.npy: drops indices labeled in cycle0" in stderr


def test_parallel_chains_give_the_same_results_as_sequential_ones(protocol_tree, tmp_path):
    """GPUS="0 0": chains run two at a time on one GPU (here on the CPU); every output equals the
    sequential run's."""
    root, dataset, _ = protocol_tree
    code, stdout, stderr = run_all(dataset, tmp_path / "runs", "dispersion", "random", GPUS="0 0", DEVICE="cpu")
    assert code == 0, stdout + stderr
    assert "on GPU 0, slot 0" in stdout and "on GPU 0, slot 1" in stdout
    parallel = tmp_path / "runs" / root.name
    for reference in root.rglob("*.npy"):
        np.testing.assert_array_equal(np.load(parallel / reference.relative_to(root)), np.load(reference))


@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(), reason="a GPU is present")
def test_paper_preset_without_a_gpu_stops_at_once_with_advice(image_folder, tmp_path):
    code, _, stderr = run_all(f"folder:{image_folder}", tmp_path / "runs", "random", DEVICE="auto")
    assert code == 2 and "PRESET=quick" in stderr and "DEVICE=cpu" in stderr
    assert not any(tmp_path.iterdir())


def test_initial_seed_gives_every_seed_the_same_initial_set(image_folder, tmp_path):
    code, stdout, stderr = run_all(f"folder:{image_folder}", tmp_path / "runs", "random", SEEDS="0 1",
                                   INITIAL_SEED="5", CYCLES="0", ALLDATA="0", EPOCHS="1")
    assert code == 0, stdout + stderr
    initial = tmp_path / "runs" / image_folder.name / "initial"
    np.testing.assert_array_equal(np.load(initial / "seed0/labeled.npy"), np.load(initial / "seed1/labeled.npy"))
    configs = [json.loads((initial.parent / f"cycle0/seed{s}/config.json").read_text()) for s in (0, 1)]
    assert [c["seed"] for c in configs] == [0, 1]  # the trainings still differ by seed


def test_chains_of_one_seed_started_together_train_its_cycle0_once(image_folder, tmp_path):
    """Two array tasks of one seed (different methods) share its cycle 0: one trains it, one waits."""
    processes = [start_run_all(f"folder:{image_folder}", tmp_path / "runs", method, CYCLES="0", ALLDATA="0")
                 for method in ("random", "margin")]
    results = [p.communicate(timeout=600) + (p.returncode,) for p in processes]
    assert all(code == 0 for _, _, code in results), results
    log = (tmp_path / "runs" / image_folder.name / "cycle0" / "seed0" / "train.log").read_text()
    assert log.count("training on") == 1


def test_until_stops_each_chain_after_that_cycle_with_its_pool_tracked_and_a_rerun_goes_on(protocol_tree, tmp_path):
    """UNTIL=1 with CYCLES=2: cycle 1 trained as a middle cycle (every epoch tracked, so cycle 2 can be
    acquired later), cycle 2 not acquired; a plain rerun acquires and trains cycle 2 only."""
    root, dataset, runs = protocol_tree
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy, symlinks=True)
    chain = copy / root.name / "dispersion" / "seed0"
    shutil.rmtree(chain / "cycle2")
    for name in ("metrics.json", "preds.npy", "probs.npy"):
        (chain / "cycle1" / name).unlink()
    code, stdout, stderr = run_all(dataset, copy, "dispersion", ALLDATA="0", UNTIL="1")
    assert code == 0, stdout + stderr
    assert trained(stdout) == [str(chain / "cycle1")]
    assert np.load(chain / "cycle1/preds.npy").shape[0] == 3  # tracked: the last cycle would not be
    assert not (chain / "cycle2").exists()
    code, stdout, stderr = run_all(dataset, copy, "dispersion", ALLDATA="0")
    assert code == 0, stdout + stderr
    assert trained(stdout) == [str(chain / "cycle2")]
    assert (chain / "cycle2/metrics.json").is_file() and not (chain / "cycle2/preds.npy").exists()
