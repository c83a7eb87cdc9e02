"""Margin sampling: query the pool samples whose two most probable classes are closest
(the label-dispersion paper's baseline "Margin sampling [3]", section 4.1; the classic
definition is Scheffer, Decomain and Wrobel, "Active Hidden Markov Models for Information
Extraction", IDA 2001; see also Settles, "Active Learning Literature Survey", 2009, section 3.1).

With p_(1)(x) >= p_(2)(x) the two highest softmax probabilities of the final model (probs.npy):

    margin(x) = p_(1)(x) - p_(2)(x)            in [0, 1]; small = close to the decision boundary
    score(x)  = -margin(x)                     higher = queried first

The score is -margin rather than 1 - margin: the two rank identically, but -margin keeps tiny
margins distinguishable when the scores are saved as float32. No hyperparameters; ties are
broken at random with the seeded generator.
"""
import numpy as np

from baselines.common import check_probs, top_k


def margin_scores(probs):
    """probs: [P, C] with C >= 2 -> [P] float64, -(p_(1) - p_(2))."""
    probs = check_probs(probs, min_classes=2)
    top_two = np.partition(probs, -2, axis=1)[:, -2:]   # [P, 2]: second highest, highest
    return top_two[:, 0] - top_two[:, 1]                 # -(p_(1) - p_(2))


def acquire(run, budget, rng, options):
    scores = margin_scores(run.probs)
    return top_k(scores, budget, rng), scores
