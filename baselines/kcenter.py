"""KCenterGreedy (Sener & Savarese, "Active Learning for Convolutional Neural Networks: A Core-Set
Approach", ICLR 2018, Algorithm 1) on the trained model's penultimate features.

Core-set selection as k-center: with s0 the labeled set and Δ the Euclidean distance between
features, choose b pool samples s1 that minimise the covering radius

    δ(s0 ∪ s1) = max_i  min_{j in s0 ∪ s1}  Δ(x_i, x_j)

Algorithm 1, a 2-approximation (the greedy radius is at most twice the optimum):

    repeat b times:   u = argmax_{i in pool}  min_{j in s} Δ(x_i, x_j);   s = s ∪ {u}

Memory: the full distance matrix is never built. Each pool sample's distance to its nearest
centre ([P]) is computed once against the labeled set, in chunks of pool rows, and lowered after
every pick with one matrix-vector product: 45,000 x 512 float32 features take 92 MB, a chunk's
distances at most 64 MB. Distances use ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b on features
centred by their mean (less float32 cancellation), clamped at 0.

Ties (duplicate images, or every distance infinite when nothing is labeled) go to a uniformly
random sample: the pool is visited in an order drawn from the seeded generator, and argmax takes
the first maximum in that order. Scores: each pool sample's distance to its nearest labeled
sample before any pick (infinite when nothing is labeled); the picks themselves are not the
highest scores after the first, since every pick lowers its neighbours' distances.

Shared with coreset.py: min_distances, farthest_first, to_tensor.
"""
import numpy as np
import torch
from scipy.spatial.distance import cdist

from baselines.common import AcquisitionError, check_budget

# Greedy: each pick depends on the previous ones, so the saved scores (if any) are not the query
# order; report.py follows NEXT_selected.npy (the pick order) for Fig. 3 instead.
SCORES_ARE_QUERY_ORDER = False

CHUNK_ELEMENTS = 1 << 24  # distances per chunk: 64 MB of float32


def to_tensor(features, device="cpu", mean=None, dtype=None):
    """[N, D] array -> tensor on device (float32 unless dtype), minus `mean` (a [D] tensor) when given."""
    x = torch.as_tensor(np.asarray(features), device=device).to(dtype or torch.float32)
    return x if mean is None else x - mean


def min_distances(points, centres):
    """points [N, D], centres [M, D] tensors -> [N] distance of each point to its nearest centre."""
    out = points.new_full((len(points),), float("inf"))
    if len(centres) == 0:
        return out
    centre_sq = (centres ** 2).sum(1)                                     # [M]
    rows = max(1, CHUNK_ELEMENTS // len(centres))
    for start in range(0, len(points), rows):
        p = points[start:start + rows]                                    # [rows, D]
        sq = (p ** 2).sum(1, keepdim=True) + centre_sq - 2 * p @ centres.T  # [rows, M]
        out[start:start + rows] = sq.min(1).values.clamp_min(0).sqrt()
    return out


def farthest_first(points, dist, budget):
    """Algorithm 1 on points [P, D] whose nearest-centre distances are dist [P] (updated in place;
    -1 marks samples already chosen). Returns the [budget] chosen rows in pick order."""
    point_sq = (points ** 2).sum(1)                                       # [P]
    picks = []
    for _ in range(budget):
        k = int(dist.argmax())                                            # first maximum
        picks.append(k)
        sq = point_sq + point_sq[k] - 2 * (points @ points[k])            # [P], to the new centre
        dist.copy_(dist.minimum(sq.clamp_min(0).sqrt()))
        dist[k] = -1                                                      # never picked twice
    return np.array(picks, dtype=np.int64)


def kcenter_greedy(pool, labeled, budget, rng, device="cpu"):
    """pool [P, D], labeled [L, D] features -> (positions, first, radius).

    positions: [budget] pool positions in pick order; first: [P] distance of each pool sample to
    its nearest labeled sample before any pick; radius: the covering radius after the picks.
    """
    check_budget(budget, len(pool))
    if len(labeled) and np.shape(labeled)[1] != np.shape(pool)[1]:
        raise AcquisitionError(f"kcenter: pool features of size {np.shape(pool)[1]}, labeled {np.shape(labeled)[1]}")
    order = rng.permutation(len(pool))                                    # random tie-breaking
    x = to_tensor(np.asarray(pool)[order], device)
    mean = x.mean(0)
    x = x - mean                                                          # less cancellation
    dist = min_distances(x, to_tensor(labeled, device, mean))             # [P]
    first = np.empty(len(pool))
    first[order] = dist.cpu().numpy()
    picks = farthest_first(x, dist, budget)
    radius = float(dist.clamp_min(0).max())
    return order[picks], first, radius


def covering_radius(points, centres):
    """max over points [N, D] of the Euclidean distance to the nearest of centres [M, D] (float64)."""
    points, centres = np.asarray(points, np.float64), np.asarray(centres, np.float64)
    if len(points) == 0 or len(centres) == 0:
        return 0.0 if len(points) == 0 else float("inf")
    rows = max(1, CHUNK_ELEMENTS // len(centres))
    return max(cdist(points[s:s + rows], centres).min(1).max() for s in range(0, len(points), rows))


def acquire(run, budget, rng, options):
    check_budget(budget, len(run.pool))
    pool, labeled = run.features(run.pool), run.features(run.labeled)    # [P, D], [L, D]
    positions, first, _ = kcenter_greedy(pool, labeled, budget, rng, run.device)
    return positions, first
