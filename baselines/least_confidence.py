"""Least-confidence sampling: query the pool samples whose most probable class has the lowest
probability (Lewis and Gale, "A Sequential Algorithm for Training Text Classifiers", SIGIR 1994;
Culotta and McCallum, AAAI 2005; Settles, "Active Learning Literature Survey", 2009, section 3.1).

With p_c(x) the final model's softmax probability of class c (probs.npy):

    score(x) = 1 - max_c p_c(x)                in [0, 1 - 1/C]; higher = queried first

No hyperparameters; ties are broken at random with the seeded generator.
"""
from baselines.common import check_probs, top_k


def least_confidence_scores(probs):
    """probs: [P, C] -> [P] float64, 1 - max_c p_c."""
    return 1.0 - check_probs(probs).max(axis=1)


def acquire(run, budget, rng, options):
    scores = least_confidence_scores(run.probs)
    return top_k(scores, budget, rng), scores
