"""BADGE on crafted probabilities and features: factorised distances, first pick, D^2 sampling."""
from types import SimpleNamespace

import numpy as np
import pytest

from baselines import badge
from baselines.badge import badge_select, sq_dists_to
from baselines.common import AcquisitionError


def gradient_embeddings(probs, features):
    """The [P, C * D] matrix BADGE avoids building: (p - onehot(argmax p)) outer h, per sample."""
    residuals = probs - np.eye(probs.shape[1])[probs.argmax(1)]
    return (residuals[:, :, None] * features[:, None, :]).reshape(len(probs), -1)


def random_case(seed, pool=30, classes=4, dim=6):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (pool, classes))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return probs, np.abs(rng.normal(0, 1, (pool, dim)))   # features after ReLU are >= 0


def test_factorised_distances_equal_explicit_ones():
    probs, features = random_case(0)
    residuals = probs - np.eye(4)[probs.argmax(1)]
    sq_norms = (residuals ** 2).sum(1) * (features ** 2).sum(1)
    g = gradient_embeddings(probs, features)
    np.testing.assert_allclose(sq_norms, (g ** 2).sum(1), rtol=1e-12)
    for j in (0, 7, 29):
        np.testing.assert_allclose(sq_dists_to(residuals, features, sq_norms, j),
                                   ((g - g[j]) ** 2).sum(1), rtol=1e-9, atol=1e-12)


def test_first_pick_is_the_largest_gradient_never_a_confident_sample():
    probs = np.array([[0.999, 0.0005, 0.0005],   # confident, huge features: tiny gradient anyway
                      [0.40, 0.35, 0.25],
                      [0.50, 0.30, 0.20],
                      [0.34, 0.33, 0.33]])
    features = np.array([[50.0, 50.0], [1.0, 2.0], [2.0, 1.0], [1.5, 1.5]])
    g_norms = (gradient_embeddings(probs, features) ** 2).sum(1)
    assert g_norms.argmax() != 0
    for seed in range(10):
        picks = badge_select(probs, features, 2, np.random.default_rng(seed))
        assert picks[0] == g_norms.argmax()


def test_d2_sampling_never_picks_a_copy_of_a_centre():
    probs, features = random_case(1, pool=8)
    first = (gradient_embeddings(probs, features) ** 2).sum(1).argmax()
    probs, features = np.vstack([probs, probs[first]]), np.vstack([features, features[first]])  # 8 = copy
    seconds = {int(badge_select(probs, features, 2, np.random.default_rng(s))[1]) for s in range(40)}
    assert 8 not in seconds and len(seconds) > 2          # drawn at random, never the copy (D = 0)


def test_d2_sampling_is_proportional_to_squared_distance():
    # Two classes, one feature: g = (p - onehot) * h. The centre (sample 0, g = [-5, 5]) has a
    # close neighbour (sample 2, g = [-4.5, 4.5], D^2 = 0.5) and a far point (sample 1, D^2 = 48.02).
    probs = np.array([[0.5, 0.5], [0.9, 0.1], [0.55, 0.45]])
    features = np.array([[10.0], [1.0], [10.0]])
    g = gradient_embeddings(probs, features)
    d2 = ((g - g[0]) ** 2).sum(1)
    counts = np.bincount([badge_select(probs, features, 2, np.random.default_rng(s))[1]
                          for s in range(1000)], minlength=3)
    assert counts[0] == 0
    # D^2 gives the neighbour 1%; sampling by D (not squared) would give 9%, uniform 50%
    assert counts[2] / 1000 == pytest.approx(d2[2] / (d2[1] + d2[2]), abs=0.01)


@pytest.mark.parametrize("budget", [1, 5, 12])
def test_distinct_exact_budget_even_with_duplicates(budget):
    probs, features = random_case(2, pool=6)
    probs, features = np.vstack([probs, probs]), np.vstack([features, features])   # every sample twice
    picks = badge_select(probs, features, budget, np.random.default_rng(0))
    assert picks.shape == (budget,) and len(set(picks.tolist())) == budget
    np.testing.assert_array_equal(picks, badge_select(probs, features, budget, np.random.default_rng(0)))


def test_acquire_uses_pool_features_and_has_no_scores():
    probs, features = random_case(3, pool=10)
    run = SimpleNamespace(pool=np.arange(20, 30), probs=probs.astype(np.float32),
                          features=lambda idx: features[np.asarray(idx) - 20].astype(np.float32))
    picks, scores = badge.acquire(run, 4, np.random.default_rng(0), None)
    assert scores is None and len(set(picks.tolist())) == 4 and picks.max() < 10


@pytest.mark.parametrize("features, budget, message", [
    (np.ones((5, 3)), 6, "--budget: expected 1..5"),
    (np.ones((4, 3)), 2, "badge needs finite features"),
    (np.full((5, 3), np.inf), 2, "badge needs finite features"),
])
def test_refuses_bad_input(features, budget, message):
    with pytest.raises(AcquisitionError, match=message):
        badge_select(np.full((5, 2), 0.5), features, budget, np.random.default_rng(0))
