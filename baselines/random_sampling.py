"""Random sampling: the budget drawn uniformly without replacement from the pool (paper, section 4.1)."""
from baselines.common import check_budget


def acquire(run, budget, rng, options):
    check_budget(budget, len(run.pool))
    return rng.choice(len(run.pool), budget, replace=False), None
