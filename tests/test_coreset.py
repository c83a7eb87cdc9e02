"""Robust k-center (coreset) on crafted features: the exact optimum where greedy misses it, outliers,
subsampling, the time-limit fallback, and always exactly `budget` distinct positions."""
import itertools
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from test_kcenter import smallest_pick_gap

from baselines import coreset as coreset_module
from baselines.common import AcquisitionError
from baselines.coreset import coreset
from baselines.kcenter import covering_radius, kcenter_greedy


def radius_of(pool, labeled, positions):
    return covering_radius(pool, np.vstack([labeled, pool[positions]]))


def test_finds_the_optimum_that_greedy_misses():
    greedy_worse = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        pool, labeled = rng.normal(0, 1, (12, 2)), rng.normal(0, 1, (2, 2))
        positions = coreset(pool, labeled, 3, np.random.default_rng(0))
        assert len(positions) == 3 and len(set(positions.tolist())) == 3
        optimum = min(radius_of(pool, labeled, list(c)) for c in itertools.combinations(range(12), 3))
        greedy = kcenter_greedy(pool, labeled, 3, np.random.default_rng(0))[2]      # float32
        assert radius_of(pool, labeled, positions) == pytest.approx(optimum, rel=1e-9)
        assert optimum <= greedy * (1 + 1e-6)
        greedy_worse += greedy > optimum * 1.01
    assert greedy_worse >= 6                                                  # the search does something


@pytest.mark.parametrize("budget", [1, 7, 40])
def test_radius_at_most_greedy_and_exactly_budget_distinct(budget):
    rng = np.random.default_rng(budget)
    pool, labeled = rng.normal(0, 1, (40, 5)).astype(np.float32), rng.normal(0, 1, (3, 5)).astype(np.float32)
    positions = coreset(pool, labeled, budget, np.random.default_rng(0))
    assert positions.shape == (budget,) and len(set(positions.tolist())) == budget
    assert positions.min() >= 0 and positions.max() < 40
    greedy = kcenter_greedy(pool, labeled, budget, np.random.default_rng(0))[2]
    assert radius_of(pool, labeled, positions) <= greedy + 1e-5


def test_outliers_let_the_centre_cover_the_cluster():
    labeled = np.zeros((1, 2))
    cluster = np.array([[5, 0], [5.5, 0.5], [4.5, -0.5], [5, 1], [5, -1]], float)
    pool = np.vstack([cluster, [[100, 0]]])                                   # position 5: far outlier
    assert coreset(pool, labeled, 1, np.random.default_rng(0), outliers=0).tolist() == [5]
    picked = coreset(pool, labeled, 1, np.random.default_rng(0), outliers=1)
    assert picked.tolist() == [0]                                             # the cluster's centre


def test_subsample_still_returns_the_budget():
    rng = np.random.default_rng(3)
    pool, labeled = rng.normal(0, 1, (60, 4)), rng.normal(0, 1, (4, 4))
    for budget in (6, 25, 60):                                                # 60: more than the subsample
        positions = coreset(pool, labeled, budget, np.random.default_rng(1), subsample=20)
        assert positions.shape == (budget,) and len(set(positions.tolist())) == budget


def test_time_limit_falls_back_to_greedy(capsys):
    rng = np.random.default_rng(4)
    pool, labeled = rng.normal(0, 1, (50, 3)), rng.normal(0, 1, (2, 3))
    positions = coreset(pool, labeled, 5, np.random.default_rng(0), time_limit=1e-9)
    assert "--coreset-time-limit reached" in capsys.readouterr().out
    greedy = kcenter_greedy(pool, labeled, 5, np.random.default_rng(0))[0]
    assert smallest_pick_gap(pool, labeled, 5) > 1e-4  # float64 here, float32 there: no near-ties to flip
    np.testing.assert_array_equal(positions, greedy)                          # greedy's picks, in order


def test_impossible_budget_and_bad_flags():
    pool, labeled = np.random.default_rng(0).normal(0, 1, (10, 2)), np.zeros((1, 2))
    for budget in (0, 11):
        with pytest.raises(AcquisitionError, match="--budget: expected 1..10"):
            coreset(pool, labeled, budget, np.random.default_rng(0))
    table = np.vstack([labeled, pool])
    run = SimpleNamespace(pool=np.arange(1, 11), labeled=np.arange(1), device=torch.device("cpu"),
                          features=lambda indices: table[indices])
    options = SimpleNamespace(coreset_outliers=-1, coreset_subsample=5000, coreset_time_limit=60)
    with pytest.raises(AcquisitionError, match="--coreset-outliers"):
        coreset_module.acquire(run, 2, np.random.default_rng(0), options)
    options.coreset_outliers = 0
    positions, scores = coreset_module.acquire(run, 2, np.random.default_rng(0), options)
    assert scores is None and len(set(positions.tolist())) == 2
