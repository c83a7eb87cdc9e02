"""Label-dispersion (Eq. 1-2) against hand-computed values, and seeded top-k selection."""
import numpy as np
import pytest

from baselines.common import AcquisitionError, top_k
from baselines.dispersion import label_dispersion

AIRPLANE, CAR, BIRD, CAT, DEER, DOG, FROG = 0, 1, 2, 3, 4, 5, 6


def column(*labels):
    return np.array(labels, dtype=np.uint8)[:, None]  # [T, 1]: one pool sample


def test_paper_figure_1_examples():
    # Fig. 1 (a)-(d), last five epochs: modal class count f_x over T = 5 (or 6) epochs.
    assert label_dispersion(column(DOG, BIRD, AIRPLANE, BIRD, BIRD))[0] == pytest.approx(1 - 3 / 5)
    assert label_dispersion(column(CAR, CAR, CAR, CAR, CAR))[0] == 0.0
    assert label_dispersion(column(CAT, CAT, FROG, BIRD, BIRD, FROG))[0] == pytest.approx(1 - 2 / 6)
    assert label_dispersion(column(BIRD, DEER, DEER, BIRD, CAT))[0] == pytest.approx(1 - 2 / 5)


def test_many_samples_at_once_match_one_by_one():
    rng = np.random.default_rng(0)
    preds = rng.integers(0, 7, size=(9, 50)).astype(np.uint8)
    expected = [1 - np.bincount(preds[:, i]).max() / 9 for i in range(50)]
    np.testing.assert_allclose(label_dispersion(preds), expected)


def test_authors_variant_modal_class_from_last_epochs_and_plus_one():
    # All 6 epochs: CAT 4 times, FROG twice. The last 2 epochs say FROG, so with mode_last=2
    # the modal class is FROG and f_x counts FROG over all epochs: 2.
    preds = column(CAT, CAT, CAT, CAT, FROG, FROG)
    assert label_dispersion(preds)[0] == pytest.approx(1 - 4 / 6)
    assert label_dispersion(preds, mode_last=2)[0] == pytest.approx(1 - 2 / 6)
    assert label_dispersion(preds, mode_last=2, plus_one=True)[0] == pytest.approx(1 - 2 / 7)


def test_authors_variant_counts_the_windows_mode_over_all_epochs_not_inside_the_window():
    # The last 2 epochs say FROG; FROG is predicted in 4 of all 7 epochs but only 2 of the window's.
    # The authors' code counts f_x over all epochs: 1 - 4/7 (counting inside the window: 1 - 2/7).
    preds = column(FROG, FROG, CAT, CAT, CAT, FROG, FROG)
    assert label_dispersion(preds, mode_last=2)[0] == pytest.approx(1 - 4 / 7)
    assert label_dispersion(preds, mode_last=2)[0] != pytest.approx(1 - 2 / 7)


def test_rejects_empty_or_non_integer_predictions():
    with pytest.raises(AcquisitionError):
        label_dispersion(np.zeros((0, 5), np.uint8))
    with pytest.raises(AcquisitionError):
        label_dispersion(np.zeros((3, 5), np.float32))


def test_top_k_picks_highest_and_breaks_ties_reproducibly():
    scores = np.array([0.1, 0.9, 0.5, 0.9, 0.9, 0.0])
    picks = top_k(scores, 2, np.random.default_rng(0))
    assert set(picks) <= {1, 3, 4} and len(set(picks)) == 2
    np.testing.assert_array_equal(picks, top_k(scores, 2, np.random.default_rng(0)))
    assert list(top_k(scores, 4, np.random.default_rng(0))[3:]) == [2]
    # Over seeds, each of the three tied samples gets picked: ties are not broken by index.
    chosen = {int(i) for seed in range(30) for i in top_k(scores, 1, np.random.default_rng(seed))}
    assert chosen == {1, 3, 4}


@pytest.mark.parametrize("budget", [0, -1, 7])
def test_top_k_rejects_impossible_budgets(budget):
    with pytest.raises(AcquisitionError, match="--budget"):
        top_k(np.zeros(6), budget, np.random.default_rng(0))
