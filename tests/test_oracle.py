"""oracle on crafted labels and probabilities: only mistakes, balanced over true classes, then fill."""
from types import SimpleNamespace

import numpy as np
import pytest

from baselines import oracle
from baselines.common import AcquisitionError
from baselines.oracle import class_round_robin, oracle_select

# 12 pool samples, 3 classes. Misclassified (argmax != truth): class 0 -> 4 (positions 0-3),
# class 1 -> 1 (position 4), class 2 -> 3 (positions 5-7). Correct: positions 8-11 with
# confidences 0.9, 0.5, 0.7, 0.6.
TRUTH = np.array([0, 0, 0, 0, 1, 2, 2, 2, 0, 1, 2, 1])
PREDICTED = np.array([1, 2, 1, 1, 0, 0, 1, 0, 0, 1, 2, 1])
CONFIDENCE = np.array([0.8, 0.6, 0.9, 0.5, 0.7, 0.6, 0.8, 0.9, 0.9, 0.5, 0.7, 0.6])
WRONG = set(range(8))


def crafted_probs():
    probs = np.zeros((12, 3))
    probs[np.arange(12), PREDICTED] = CONFIDENCE
    for i, c in enumerate(PREDICTED):   # spread the rest over the two other classes
        probs[i, [k for k in range(3) if k != c]] = (1 - CONFIDENCE[i]) / 2
    return probs


def test_round_robin_takes_one_per_class_each_round():
    labels = np.array([0, 0, 0, 1, 2, 2, 5])
    for seed in range(5):
        order = class_round_robin(labels, np.random.default_rng(seed))
        assert sorted(order.tolist()) == list(range(7))
        rounds = labels[order]
        assert set(rounds[:4]) == {0, 1, 2, 5} and set(rounds[4:6]) == {0, 2} and rounds[6] == 0


def test_picks_only_mistakes_balanced_over_true_classes():
    firsts = set()
    for seed in range(20):
        picks, scores = oracle_select(TRUTH, crafted_probs(), 6, np.random.default_rng(seed))
        assert len(set(picks.tolist())) == 6 and set(picks.tolist()) <= WRONG
        classes = TRUTH[picks]
        assert set(classes[:3]) == {0, 1, 2}              # round 1: one per class
        assert set(classes[3:5]) == {0, 2}                # round 2: class 1 has run out
        assert np.bincount(classes, minlength=3)[1] == 1 and max(np.bincount(classes)) == 3
        firsts.add(int(picks[classes == 0][0]))
        np.testing.assert_array_equal(picks, oracle_select(TRUTH, crafted_probs(), 6,
                                                           np.random.default_rng(seed))[0])
    assert len(firsts) > 1                                # random within a class, not by index
    np.testing.assert_allclose(scores, [1] * 8 + [0.1, 0.5, 0.3, 0.4])


def test_fills_with_least_confident_correct_samples():
    picks, _ = oracle_select(TRUTH, crafted_probs(), 11, np.random.default_rng(0))
    assert set(picks[:8].tolist()) == WRONG
    np.testing.assert_array_equal(picks[8:], [9, 11, 10])  # confidences 0.5, 0.6, 0.7 (0.9 left out)


def test_no_mistakes_at_all():
    probs = np.array([[0.6, 0.2, 0.2], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]])
    picks, scores = oracle_select(np.array([0, 1, 2, 0]), probs, 2, np.random.default_rng(0))
    assert picks.tolist() == [2, 3]                       # confidences 0.4, 0.5
    np.testing.assert_allclose(scores, [0.4, 0.2, 0.6, 0.5])


def test_acquire_reads_the_pool_labels():
    run = SimpleNamespace(pool=np.arange(100, 112), probs=crafted_probs().astype(np.float32),
                          dataset=SimpleNamespace(train_y=np.concatenate([np.zeros(100, int), TRUTH])))
    picks, scores = oracle.acquire(run, 8, np.random.default_rng(0), None)
    assert set(picks.tolist()) == WRONG and scores.shape == (12,)


@pytest.mark.parametrize("truth, budget, message", [
    (TRUTH, 13, "--budget: expected 1..12"),
    (TRUTH[:5], 2, "one integer label per pool sample"),
    (TRUTH.astype(float), 2, "one integer label per pool sample"),
])
def test_refuses_bad_input(truth, budget, message):
    with pytest.raises(AcquisitionError, match=message):
        oracle_select(truth, crafted_probs(), budget, np.random.default_rng(0))
