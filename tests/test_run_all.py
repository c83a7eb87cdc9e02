"""run_all.sh on a tiny image folder: the whole protocol, shared initial sets, resuming."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT


def run_all(dataset, runs, *methods, **env):
    settings = dict(os.environ, PYTHON=sys.executable, SEEDS="0", EPOCHS="2", WIDTH="4", BATCH_SIZE="8",
                    CYCLES="2", INITIAL="0.2", STEP="0.1", RUNS=str(runs), DATA_ROOT=str(runs / "cache"), **env)
    return subprocess.run(["bash", str(ROOT / "run_all.sh"), dataset, *methods], env=settings,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tree(image_folder, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    result = run_all(f"folder:{image_folder}", runs, "dispersion", "random")
    assert result.returncode == 0, result.stdout + result.stderr
    return runs / image_folder.name, f"folder:{image_folder}", runs


def test_protocol_layout_and_nested_labeled_sets(tree):
    root, _, _ = tree
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


def test_rerun_skips_finished_steps_and_redoes_only_missing_ones(tree):
    root, dataset, runs = tree
    finished = {p: p.stat().st_mtime_ns for p in root.rglob("metrics.json")}
    result = run_all(dataset, runs, "dispersion", "random")
    assert result.returncode == 0 and "training" not in result.stdout
    assert {p: p.stat().st_mtime_ns for p in root.rglob("metrics.json")} == finished

    (root / "random/seed0/cycle2/metrics.json").unlink()  # as if killed during the last training
    result = run_all(dataset, runs, "dispersion", "random")
    assert result.returncode == 0
    assert result.stdout.count("training") == 1 and "random/seed0/cycle2" in result.stdout


def test_unknown_method_fails_before_any_work(image_folder, tmp_path):
    result = run_all(f"folder:{image_folder}", tmp_path, "dispersion", "magic")
    assert result.returncode == 2 and "unknown method 'magic'" in result.stderr
    assert not any(tmp_path.iterdir())
