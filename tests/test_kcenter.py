"""KCenterGreedy on crafted features: equal to a brute-force reference, better than random, and
the whole acquire.py path on a tiny untrained model."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import acquire
import data
import models
from baselines import kcenter
from baselines.common import AcquisitionError
from baselines.kcenter import covering_radius, kcenter_greedy
from rundata import RunData


def brute_force_greedy(pool, labeled, budget):
    """Algorithm 1 on the full float64 distance matrix: (picks, first distances, radius)."""
    dist = cdist(pool, pool)                                                  # [P, P]
    nearest = cdist(pool, labeled).min(1) if len(labeled) else np.full(len(pool), np.inf)
    first, picks = nearest.copy(), []
    for _ in range(budget):
        k = int(np.argmax(nearest))
        picks.append(k)
        nearest = np.minimum(nearest, dist[:, k])
    return picks, first, nearest.max()


def smallest_pick_gap(pool, labeled, budget):
    """Over the greedy's picks (float64), the smallest relative gap between the farthest sample and the
    runner-up. kcenter_greedy computes in float32 with the CPU's matrix kernels (distances off by
    about 1e-6); a gap far above that makes its picks those of the float64 reference on any CPU."""
    dist, nearest, gaps = cdist(pool, pool), cdist(pool, labeled).min(1), []
    for _ in range(budget):
        best, runner_up = np.sort(nearest)[-2:][::-1]
        gaps.append((best - runner_up) / best)
        nearest = np.minimum(nearest, dist[:, np.argmax(nearest)])
    return min(gaps)


def features(seed, pool=60, labeled=5, dim=6):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (pool, dim)).astype(np.float32), rng.normal(0, 1, (labeled, dim)).astype(np.float32)


@pytest.mark.parametrize("seed", range(8))
def test_equals_brute_force_greedy(seed):
    pool, labeled = features(seed)
    positions, first, radius = kcenter_greedy(pool, labeled, 12, np.random.default_rng(seed))
    picks, first_ref, radius_ref = brute_force_greedy(pool.astype(np.float64), labeled.astype(np.float64), 12)
    assert smallest_pick_gap(pool.astype(np.float64), labeled.astype(np.float64), 12) > 1e-4  # no near-ties
    np.testing.assert_array_equal(positions, picks)
    np.testing.assert_allclose(first, first_ref, rtol=1e-5)
    assert radius == pytest.approx(radius_ref, rel=1e-5)
    assert radius == pytest.approx(covering_radius(pool, np.vstack([labeled, pool[positions]])), rel=1e-5)


def test_covering_radius_never_above_a_random_selection():
    for seed in range(5):
        pool, labeled = features(seed, pool=200, dim=3)
        radius = kcenter_greedy(pool, labeled, 15, np.random.default_rng(0))[2]
        rng = np.random.default_rng(seed)
        for _ in range(20):
            random_pick = pool[rng.choice(200, 15, replace=False)]
            assert radius <= covering_radius(pool, np.vstack([labeled, random_pick]))


def test_duplicates_and_no_labeled_set():
    pool = np.repeat(np.eye(3, dtype=np.float32), 3, axis=0)                  # 3 points, 3 copies each
    firsts = set()
    for seed in range(10):
        positions, first, radius = kcenter_greedy(pool, np.zeros((0, 3)), 9, np.random.default_rng(seed))
        assert sorted(positions) == list(range(9)) and radius == 0           # all 9, none twice
        assert len({int(p) // 3 for p in positions[:3]}) == 3                # one copy of each point first
        assert np.all(np.isinf(first))
        firsts.add(int(positions[0]))
    assert len(firsts) > 3                                                    # ties go to random copies


@pytest.mark.parametrize("budget", [0, 61])
def test_impossible_budget(budget):
    pool, labeled = features(0)
    with pytest.raises(AcquisitionError, match="--budget: expected 1..60"):
        kcenter_greedy(pool, labeled, budget, np.random.default_rng(0))


def test_acquire_on_a_fake_run():
    pool, labeled = features(1, pool=30)
    table = np.vstack([labeled, pool])                                       # training indices 0..34
    run = SimpleNamespace(pool=np.arange(5, 35), labeled=np.arange(5), device=torch.device("cpu"),
                          features=lambda indices: table[indices])
    positions, scores = kcenter.acquire(run, 4, np.random.default_rng(0), None)
    assert smallest_pick_gap(pool.astype(float), labeled.astype(float), 4) > 1e-4  # no near-ties
    np.testing.assert_array_equal(positions, brute_force_greedy(pool.astype(float), labeled.astype(float), 4)[0])
    assert scores.shape == (30,) and scores.argmax() == positions[0]


def untrained_run(folder, image_folder, labeled=6, pool=24, width=4):
    """A run folder as train.py leaves it, with an untrained width-4 model on the tiny image folder."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    indices = rng.permutation(36)                                             # 3 classes x 12 images
    np.save(folder / "labeled.npy", np.sort(indices[:labeled]).astype(np.int32))
    np.save(folder / "pool.npy", np.sort(indices[labeled:labeled + pool]).astype(np.int32))
    config = {"num_classes": 3, "n_train": 36, "dataset": f"folder:{image_folder}",
              "data_root": str(folder / "cache"), "width": width, "dropout": 0.0}
    mean, std = data.load_dataset(config["dataset"], config["data_root"]).channel_stats()  # as train.py records them
    config.update(channel_mean=mean.tolist(), channel_std=std.tolist())
    (folder / "config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    torch.save(models.build_model(3, width).state_dict(), folder / "model.pt")
    (folder / "metrics.json").write_text(json.dumps({"test_acc": 0.5}))
    return folder


@pytest.mark.parametrize("method", ["kcenter", "coreset"])
def test_acquire_cli_on_a_real_model(image_folder, tmp_path, method):
    run_dir = untrained_run(tmp_path / "run", image_folder)
    for name in ("a", "b"):
        acquire.main(["--run", str(run_dir), "--method", method, "--budget", "5", "--out",
                      str(tmp_path / f"{name}.npy"), "--device", "cpu"])
    selected = np.load(tmp_path / "a_selected.npy")
    run = RunData(run_dir)
    assert len(set(selected.tolist())) == 5 and set(selected.tolist()) <= set(run.pool.tolist())
    np.testing.assert_array_equal(selected, np.load(tmp_path / "b_selected.npy"))   # same seed, same picks
    assert (tmp_path / "a_scores.npy").exists() == (method == "kcenter")
    with pytest.raises(AcquisitionError, match="--budget: expected 1..24"):
        acquire.main(["--run", str(run_dir), "--method", method, "--budget", "25", "--out", str(tmp_path / "c.npy")])
