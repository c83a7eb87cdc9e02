"""Acquisition functions by name: the one place a method is registered.

Each module in this folder provides
    acquire(run, budget, rng, options) -> (positions, scores)
        run:       acquire.RunData, the trained run's files, loaded on first use
        positions: [budget] distinct positions into run.pool, best first
        scores:    [len(pool)] float scores (higher = query first), or None
and optionally add_arguments(parser) for its own flags and TRAIN_ARGS, the train.py flags the
method needs (e.g. a dropout layer). Adding a method: one file plus one line here.
"""
from baselines import (
    badge,
    bald,
    coreset,
    dispersion,
    entropy,
    kcenter,
    least_confidence,
    margin,
    oracle,
    random_sampling,
    vaal,
)

METHODS = {
    "dispersion": dispersion,
    "random": random_sampling,
    "margin": margin,
    "entropy": entropy,
    "least_confidence": least_confidence,
    "bald": bald,
    "oracle": oracle,
    "badge": badge,
    "kcenter": kcenter,
    "coreset": coreset,
    "vaal": vaal,
}


def train_args(name):
    """train.py flags a method's runs need: its own TRAIN_ARGS, and the pool tracking it uses.

    Only label-dispersion reads the per-epoch predictions (TRACKS_EVERY_EPOCH); every other method
    needs at most the final softmax, so its runs predict the pool after the last epoch only
    (--track-last 1), which changes nothing in training (tests/test_train.py).
    """
    module = METHODS[name]
    tracking = [] if getattr(module, "TRACKS_EVERY_EPOCH", False) else ["--track-last", "1"]
    return [*getattr(module, "TRAIN_ARGS", []), *tracking]
