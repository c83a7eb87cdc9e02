"""Entropy sampling: query the pool samples whose predicted class distribution has the highest
Shannon entropy (Shannon 1948 as an uncertainty score; Settles, "Active Learning Literature
Survey", 2009, section 3.1).

With p_c(x) the final model's softmax probability of class c (probs.npy):

    score(x) = H[p(x)] = -sum_c p_c(x) log p_c(x)       in nats, 0 log 0 = 0; higher = queried first

No hyperparameters; ties are broken at random with the seeded generator.
"""
from baselines.common import check_probs, entropy, top_k


def entropy_scores(probs):
    """probs: [P, C] -> [P] float64 entropy in nats."""
    return entropy(check_probs(probs))


def acquire(run, budget, rng, options):
    scores = entropy_scores(run.probs)
    return top_k(scores, budget, rng), scores
