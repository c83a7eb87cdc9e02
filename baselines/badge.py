"""BADGE: Batch Active learning by Diverse Gradient Embeddings (Ash, Zhang, Krishnamurthy,
Langford and Agarwal, "Deep Batch Active Learning by Diverse, Uncertain Gradient Lower Bounds",
ICLR 2020, Algorithm 1).

Gradient embedding: the gradient of the cross-entropy loss with respect to the last layer's
weights, taking the model's own prediction yhat(x) = argmax_c p_c(x) as the label:

    g(x) = (p(x) - onehot(yhat(x))) ⊗ h(x)          [C * D], h = penultimate features   (section 3)

Its norm is large for uncertain samples (p far from one-hot) with large features. The batch is
chosen by k-means++ seeding on g: the first centre is the largest-norm embedding (as in the
official code, github.com/JordanAsh/badge, query_strategies/badge_sampling.py, init_centers),
each next one is drawn with probability proportional to D(x)^2, the squared distance to the
nearest centre chosen so far ("D^2 sampling", Arthur and Vassilvitskii 2007).

The [P, C * D] matrix is never built: for outer products,
    ||g_a - g_b||^2 = |r_a|^2 |h_a|^2 + |r_b|^2 |h_b|^2 - 2 <r_a, r_b> <h_a, h_b>,   r = p - onehot(yhat)
so each pick costs one column of distances, [P] from [P, C] and [P, D], and a running minimum.
When every remaining sample is at distance 0 (duplicates of centres), the official code stops
in a debugger; here the rest are drawn uniformly. No hyperparameters; the draws and ties
(equal largest norms) use the seeded `rng`.
"""
import numpy as np

from baselines.common import AcquisitionError, check_budget, check_probs, top_k

# Greedy: each pick depends on the previous ones, so the saved scores (if any) are not the query
# order; report.py follows NEXT_selected.npy (the pick order) for Fig. 3 instead.
SCORES_ARE_QUERY_ORDER = False


def sq_dists_to(residuals, features, sq_norms, j):
    """||g_x - g_j||^2 for every x: residuals [P, C], features [P, D], sq_norms [P] -> [P] >= 0."""
    cross = (residuals @ residuals[j]) * (features @ features[j])          # <r_x, r_j> <h_x, h_j>
    return np.maximum(sq_norms + sq_norms[j] - 2 * cross, 0.0)             # clip rounding below 0


def badge_select(probs, features, budget, rng):
    """probs: [P, C], features: [P, D] -> [budget] distinct positions in the order picked."""
    probs = check_probs(probs)
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) != len(probs) or not np.all(np.isfinite(features)):
        raise AcquisitionError(f"badge needs finite features [{len(probs)}, D], got {features.shape}")
    check_budget(budget, len(probs))
    residuals = probs.copy()                                                 # [P, C]
    residuals[np.arange(len(probs)), probs.argmax(1)] -= 1.0                 # p - onehot(yhat)
    sq_norms = (residuals ** 2).sum(1) * (features ** 2).sum(1)              # [P] ||g_x||^2
    picks = [int(top_k(sq_norms, 1, rng)[0])]                                # largest norm first
    min_sq = sq_dists_to(residuals, features, sq_norms, picks[0])            # [P] D(x)^2
    chosen = np.zeros(len(probs), bool)
    chosen[picks[0]] = True
    while len(picks) < budget:
        weights = np.where(chosen, 0.0, min_sq)
        if weights.sum() > 0:
            pick = rng.choice(len(weights), p=weights / weights.sum())       # D^2 sampling
        else:  # all remaining samples coincide with centres
            pick = rng.choice(np.flatnonzero(~chosen))
        picks.append(int(pick))
        chosen[pick] = True
        min_sq = np.minimum(min_sq, sq_dists_to(residuals, features, sq_norms, pick))
    return np.array(picks)


def acquire(run, budget, rng, options):
    check_budget(budget, len(run.pool))  # before loading the model and images
    return badge_select(run.probs, run.features(run.pool), budget, rng), None
