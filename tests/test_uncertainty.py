"""margin, entropy and least_confidence on crafted probabilities: exact picks, scores, errors."""
import re
from types import SimpleNamespace

import numpy as np
import pytest
from test_acquire import make_run

import acquire
from baselines import METHODS
from baselines.common import AcquisitionError
from baselines.entropy import entropy_scores
from baselines.least_confidence import least_confidence_scores
from baselines.margin import margin_scores

# Five pool samples over 4 classes, built so that the three scores disagree on the order.
PROBS = np.array([
    [0.97, 0.01, 0.01, 0.01],   # 0 confident: margin 0.96, 1 - max 0.03, entropy 0.168
    [0.40, 0.20, 0.20, 0.20],   # 1 margin 0.20, 1 - max 0.60, entropy 1.332 (highest)
    [0.30, 0.30, 0.30, 0.10],   # 2 margin 0 (lowest), 1 - max 0.70 (highest), entropy 1.314
    [0.50, 0.45, 0.05, 0.00],   # 3 margin 0.05, 1 - max 0.50, entropy 0.856 (a zero: 0 log 0 = 0)
    [0.36, 0.34, 0.30, 0.00],   # 4 margin 0.02, 1 - max 0.64, entropy 1.096
])
EXPECTED_TOP3 = {"margin": [2, 4, 3], "least_confidence": [2, 4, 1], "entropy": [1, 2, 4]}


def select(method, probs, budget, seed=0):
    return METHODS[method].acquire(SimpleNamespace(probs=probs), budget, np.random.default_rng(seed), None)


@pytest.mark.parametrize("method", sorted(EXPECTED_TOP3))
def test_picks_exactly_the_expected_samples(method):
    positions, scores = select(method, PROBS.astype(np.float32), 3)
    np.testing.assert_array_equal(positions, EXPECTED_TOP3[method])
    assert scores.shape == (5,)


def test_scores_follow_the_formulas():
    np.testing.assert_allclose(margin_scores(PROBS), [-0.96, -0.20, 0.0, -0.05, -0.02], atol=1e-12)
    np.testing.assert_allclose(least_confidence_scores(PROBS), [0.03, 0.60, 0.70, 0.50, 0.64], atol=1e-12)
    expected = [-sum(p * np.log(p) for p in row if p > 0) for row in PROBS]
    np.testing.assert_allclose(entropy_scores(PROBS), expected, rtol=1e-12)
    np.testing.assert_allclose(entropy_scores(np.full((1, 8), 1 / 8)), [np.log(8)], rtol=1e-12)
    assert entropy_scores(np.eye(3)).tolist() == [0.0, 0.0, 0.0]   # one-hot: exactly 0, no NaN


@pytest.mark.parametrize("method", sorted(EXPECTED_TOP3))
def test_ties_are_broken_by_the_seed_and_budget_is_exact(method):
    probs = np.tile([[0.5, 0.3, 0.2]], (6, 1))   # six identical samples: all tie
    picks = set()
    for seed in range(10):
        positions, _ = select(method, probs, 4, seed)
        assert len(positions) == 4 and len(set(positions.tolist())) == 4
        picks.add(int(positions[0]))
        np.testing.assert_array_equal(positions, select(method, probs, 4, seed)[0])
    assert len(picks) > 1


@pytest.mark.parametrize("method", sorted(EXPECTED_TOP3))
@pytest.mark.parametrize("probs, budget, message", [
    (PROBS, 6, "--budget: expected 1..5"),
    (PROBS, 0, "--budget: expected 1..5"),
    (PROBS[0], 1, "shape [pool, classes"),
    (np.array([[0.5, np.nan], [0.5, 0.5]]), 1, "NaN"),
])
def test_refuses_bad_input(method, probs, budget, message):
    with pytest.raises(AcquisitionError, match=re.escape(message)):
        select(method, probs, budget)


@pytest.mark.parametrize("method", sorted(EXPECTED_TOP3))
def test_through_acquire_py(method, tmp_path):
    run = make_run(tmp_path / "run", np.zeros((1, 5), np.uint8), labeled=[0, 1], pool=np.arange(2, 7),
                   num_classes=4, probs=PROBS)
    acquire.main(["--run", str(run), "--method", method, "--budget", "3", "--out", str(tmp_path / "n.npy")])
    np.testing.assert_array_equal(np.load(tmp_path / "n_selected.npy"), np.array(EXPECTED_TOP3[method]) + 2)
    assert np.load(tmp_path / "n_scores.npy").shape == (5,)
    (run / "probs.npy").unlink()
    with pytest.raises(acquire.FileError, match="probs.npy: file not found"):
        acquire.main(["--run", str(run), "--method", method, "--budget", "3", "--out", str(tmp_path / "m.npy")])
