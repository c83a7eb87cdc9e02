"""Helpers shared by the acquisition functions: budget checks and seeded top-k selection."""
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
