"""run_all.sh on a tiny image folder: the whole protocol, shared initial sets, resuming."""
import shutil

import numpy as np
from conftest import run_all


def test_protocol_layout_and_nested_labeled_sets(protocol_tree):
    root, _, _ = protocol_tree
    initial = np.load(root / "initial" / "seed0" / "labeled.npy")
    assert len(initial) == 7  # 20% of 36
    for method in ("dispersion", "random"):
        chain = root / method / "seed0"
        np.testing.assert_array_equal(np.load(chain / "cycle0" / "labeled.npy"), initial)  # shared start
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
    assert (root / "alldata" / "seed0" / "metrics.json").exists()
    # The two methods chose differently from the same start.
    assert not np.array_equal(np.load(root / "dispersion/seed0/cycle1/labeled.npy"),
                              np.load(root / "random/seed0/cycle1/labeled.npy"))


def test_rerun_skips_finished_steps_and_redoes_only_missing_ones(protocol_tree, tmp_path):
    root, dataset, runs = protocol_tree
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)  # the shared tree stays untouched for other tests
    root = copy / root.name
    finished = {p: p.stat().st_mtime_ns for p in root.rglob("metrics.json")}
    code, stdout, _ = run_all(dataset, copy, "dispersion", "random")
    assert code == 0 and "training" not in stdout
    assert {p: p.stat().st_mtime_ns for p in root.rglob("metrics.json")} == finished

    (root / "random/seed0/cycle2/metrics.json").unlink()  # as if killed during the last training
    code, stdout, _ = run_all(dataset, copy, "dispersion", "random")
    assert code == 0
    assert stdout.count("training") == 1 and "random/seed0/cycle2" in stdout


def test_unknown_method_fails_before_any_work(image_folder, tmp_path):
    code, _, stderr = run_all(f"folder:{image_folder}", tmp_path / "runs", "dispersion", "magic")
    assert code == 2 and "unknown method 'magic'" in stderr
    assert not any(tmp_path.iterdir())


def test_a_tampered_chain_is_stopped_by_the_leakage_check(protocol_tree, tmp_path):
    root, dataset, runs = protocol_tree
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    cycle1 = copy / root.name / "random/seed0/cycle1"
    np.save(cycle1 / "labeled.npy", np.load(cycle1 / "labeled.npy")[1:])  # drops a labeled sample
    (cycle1 / "metrics.json").unlink()
    code, _, stderr = run_all(dataset, copy, "random")
    assert code != 0 and "cycle1/labeled.npy: drops indices labeled in cycle0" in stderr


def test_parallel_chains_give_the_same_results_as_sequential_ones(protocol_tree, tmp_path):
    """GPUS="a b": chains run two at a time (here on the CPU); every output equals the sequential run's."""
    root, dataset, _ = protocol_tree
    code, stdout, stderr = run_all(dataset, tmp_path / "runs", "dispersion", "random", GPUS="a b", DEVICE="cpu")
    assert code == 0, stdout + stderr
    assert "on GPU a" in stdout and "on GPU b" in stdout
    parallel = tmp_path / "runs" / root.name
    for reference in root.rglob("*.npy"):
        np.testing.assert_array_equal(np.load(parallel / reference.relative_to(root)), np.load(reference))
