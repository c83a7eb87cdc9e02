"""Acquisition functions by name: the one place a method is registered.

Each module in this folder provides
    acquire(run, budget, rng, options) -> (positions, scores)
        run:       acquire.RunData, the trained run's files, loaded on first use
        positions: [budget] distinct positions into run.pool, best first
        scores:    [len(pool)] float scores (higher = query first), or None
and optionally add_arguments(parser) for its own flags and TRAIN_ARGS, the train.py flags the
method needs (e.g. a dropout layer). Adding a method: one file plus one line here.
"""
from baselines import dispersion, random_sampling

METHODS = {
    "dispersion": dispersion,
    "random": random_sampling,
}
