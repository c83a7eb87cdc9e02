"""Helpers shared by the acquisition functions: budget checks, seeded top-k selection, and
checked class probabilities with their entropy (the uncertainty scores and BALD)."""
import numpy as np


class AcquisitionError(ValueError):
    """An acquisition cannot run on its input (budget too large, data missing): one clear line."""


def check_budget(budget, pool_size):
    if not 0 < budget <= pool_size:
        raise AcquisitionError(f"--budget: expected 1..{pool_size} (the pool's size), got {budget}")


def top_k(scores, budget, rng):
    """Positions of the `budget` highest scores, best first.

    Ties are broken uniformly at random with `rng` (seeded, so reproducible): scores such as
    label-dispersion take only T+1 distinct values, so ties are the rule, not the exception,
    and breaking them by index would favour the start of the pool.
    """
    scores = np.asarray(scores, dtype=np.float64)
    check_budget(budget, len(scores))
    if not np.all(np.isfinite(scores)):
        raise AcquisitionError("scores contain NaN or infinite values")
    shuffled = rng.permutation(len(scores))
    order = np.argsort(-scores[shuffled], kind="stable")  # stable: equal scores keep the random order
    return shuffled[order[:budget]]


def check_probs(probs, min_classes=1):
    """[P, C] class probabilities as float64, checked: 2-D, >= min_classes columns, finite."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] < min_classes:
        raise AcquisitionError(f"expected class probabilities of shape [pool, classes >= {min_classes}], "
                               f"got {probs.shape}")
    if not np.all(np.isfinite(probs)):
        raise AcquisitionError("class probabilities contain NaN or infinite values")
    return probs


def entropy(probs):
    """Shannon entropy in nats over the last axis, -sum_c p_c log p_c, with 0 log 0 = 0.

    probs: [..., C] -> [...]. Zero probabilities contribute exactly 0 (no log(0) = -inf).
    """
    probs = np.asarray(probs, dtype=np.float64)
    safe = np.where(probs > 0, probs, 1.0)  # log(1) = 0 where p = 0
    return -(probs * np.log(safe)).sum(-1)
