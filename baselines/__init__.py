"""Acquisition functions by name: the one place a method is registered.

Each module in this folder provides
    acquire(run, budget, rng, options) -> (positions, scores)
        run:       rundata.RunData, the trained run's files, loaded on first use
        positions: [budget] distinct positions into run.pool, best first
        scores:    [len(pool)] float scores (higher = query first), or None
and optionally add_arguments(parser) for its own flags. Every method's chain trains the identical
network on the identical schedule (only the acquisition differs), so a method cannot add train.py
flags. TRACKS_EVERY_EPOCH = True asks run_all.sh for the pool's predictions after every epoch in
cycles >= 1 (the shared cycle 0 always records them); without it, those cycles record the final
softmax only (train.py --track-last 1, which changes nothing in training: tests/test_train.py).
SCORES_ARE_QUERY_ORDER = False tells report.py that a greedy method's scores are not the order it
queries in; PICKS_ARE_A_SET = True tells report.py that a method's picks are a set whose order means
nothing (scored at its budget only). Adding a method: one file plus two lines here (the import and
the dict entry).
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

