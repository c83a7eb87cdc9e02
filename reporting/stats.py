"""The numbers of report.py: pure functions on arrays, no files read or written (the tables that
show them: reporting/tables.py).

Conventions (report.py's docstring says why):
  std       sample standard deviation over seeds (ddof=1); NaN (not shown) for a single seed
  relative  mean over seeds of acc / all-data acc of the same seed, over the seeds that have both
  missing   NaN in a [seeds, cycles] matrix; means use the seeds present and say how many
  ties      in the informativeness curve, samples tied with the k-th score count with their mean
            correctness (ties broken uniformly at random, as acquire.py's top_k does); in AUROC
            they share the mean of their ranks
  AUBC      area under the budget curve (DeepAL+, Zhan et al. 2022): accuracy integrated over the
            labeled share (trapezoid rule) / that share's range, so a flat curve at a gives a
  paired    method - random of the same seed (same initial labeled set), mean ± half width of the
            95% two-sided t-interval, t_{0.975, n-1} * sd / sqrt(n); none with fewer than 2 seeds
"""
import numpy as np
from scipy import stats as scipy_stats

from baselines.dispersion import label_dispersion
from baselines.entropy import entropy_scores
from baselines.least_confidence import least_confidence_scores
from baselines.margin import margin_scores

FRACTIONS = np.arange(1, 21) / 100        # top 1% .. 20% of the pool (paper, Fig. 3)
COMPUTED = ("random", "oracle", "dispersion", "margin", "entropy", "least_confidence")


def mean_std(values):
    """values: [S, ...] per seed, NaN where missing -> (mean, std, n) over seeds; std ddof=1, NaN if n < 2."""
    values = np.asarray(values, np.float64)
    present = ~np.isnan(values)
    n = present.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(present, values, 0).sum(0) / n
        std = np.sqrt(np.where(present, (values - mean) ** 2, 0).sum(0) / (n - 1))
    return mean, np.where(n >= 2, std, np.nan), n


def relative_accuracy(acc, alldata):
    """acc, alldata: [S] per seed (NaN: missing) -> (mean, std, n) of acc / alldata over seeds with both."""
    return mean_std(np.asarray(acc, np.float64) / np.asarray(alldata, np.float64))


def sort_by_final(final):
    """{method: final mean accuracy, NaN if none} -> method names, best first, NaN last."""
    return sorted(final, key=lambda m: (bool(np.isnan(final[m])), -np.nan_to_num(final[m]), m))


def missing_cycles(chain, seeds, cycles):
    """chain: {seed: {cycle: metrics, or None if unfinished}} -> {seed: (missing, unfinished)} where any."""
    found = {}
    for seed in seeds:
        runs = chain.get(seed, {})
        missing = [c for c in cycles if runs.get(c) is None]
        if missing:
            found[seed] = (missing, [c for c in missing if c in runs])
    return found


def auroc(scores, positive):
    """Area under the ROC curve of scores for telling positive samples from the others.

    Mann-Whitney form: the chance that a random positive scores above a random negative, a tie
    counting 1/2 (average ranks). NaN when either group is empty.
    """
    positive = np.asarray(positive, bool)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = scipy_stats.rankdata(np.asarray(scores, np.float64), method="average")  # 1-based; ties share their mean rank
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def top_counts(fractions, n):
    """[F] number of samples in the top `fraction` of a pool of n: round(fraction * n), at least 1."""
    return np.clip(np.round(np.asarray(fractions) * n), 1, n).astype(int)


def top_accuracy(correct, scores, fractions=FRACTIONS):
    """Accuracy on the top `fraction` of the pool by score (paper, section 3.2): [F].

    correct: [P] bool, scores: [P] (higher = queried first). The top k = round(fraction * P) (at
    least 1); samples tied with the k-th score count with their mean correctness, the expected
    accuracy when ties are broken uniformly at random.
    """
    correct, scores = np.asarray(correct, np.float64), np.asarray(scores, np.float64)
    _, group = np.unique(-scores, return_inverse=True)          # equal scores, best group first
    group = group.ravel()
    size, right = np.bincount(group), np.bincount(group, weights=correct)
    end = np.cumsum(size)
    k = top_counts(fractions, len(scores))
    g = np.searchsorted(end, k)                                 # the group holding the k-th sample
    above, right_above = end[g] - size[g], np.cumsum(right)[g] - right[g]
    return (right_above + (k - above) * right[g] / size[g]) / k


def order_accuracy(correct, order, fractions=FRACTIONS):
    """Accuracy on the first k samples of a query order (k as in top_accuracy): the top-p% curve of a
    method known only by its picks (k-center, CoreSet, BADGE pick greedily; no score ranks the pool).

    correct: [P] bool, order: [B] pool positions, best first. NaN where k > B: beyond the budget the
    order is unknown.
    """
    correct = np.asarray(correct, np.float64)
    k = top_counts(fractions, len(correct))
    right = np.concatenate([[0], np.cumsum(correct[np.asarray(order, int)])])   # [B + 1]
    return np.where(k <= len(order), right[np.minimum(k, len(order))] / k, np.nan)


def pool_scores(preds, probs, correct):
    """{score name: [P]} for the informativeness analysis, each as its baselines/ module ranks; higher
    = queried first. preds: [T, P] class per tracked epoch, probs: [P, C] final softmax, correct: [P] bool.
    """
    return {"random": np.zeros(len(probs)),                     # all tied: the pool's accuracy
            "oracle": (~correct).astype(np.float64),            # misclassified first (true labels)
            "dispersion": label_dispersion(preds),              # Eq. (1)-(2), as the paper defines it
            "margin": margin_scores(probs),                     # -(p_(1) - p_(2))
            "entropy": entropy_scores(probs),                   # -sum_c p_c log p_c
            "least_confidence": least_confidence_scores(probs)}  # 1 - max_c p_c


def pick_examples(correct, confidence, dispersion, n_wrong=3):
    """Pool positions for the Fig. 1 grid: the most consistent confident correct sample, then up to
    n_wrong misclassified ones, confident ones (>= 0.5) first, each group by dispersion, highest first."""
    right = np.flatnonzero(correct)
    right = right[np.lexsort((-confidence[right], dispersion[right]))][:1]
    wrong = np.flatnonzero(~np.asarray(correct, bool))
    wrong = wrong[np.lexsort((-confidence[wrong], -dispersion[wrong], confidence[wrong] < 0.5))]
    return [int(i) for i in np.concatenate([right, wrong[:n_wrong]])]


def aubc(acc, share):
    """Area under the budget curve (DeepAL+, Zhan et al. 2022): acc [..., C] integrated over the labeled
    share [..., C] with the trapezoid rule, divided by the share's range (a flat curve at a gives a).
    NaN where a point is missing or there is a single one."""
    acc, share = np.asarray(acc, np.float64), np.asarray(share, np.float64)
    width = share[..., -1] - share[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(width > 0, np.trapezoid(acc, share, axis=-1) / width, np.nan)


def t_interval(diffs, level=0.95):
    """diffs: [S, ...] paired differences per seed (NaN: unpaired) -> (mean, half, n): the two-sided
    t-interval is mean ± half, half = t_{(1+level)/2, n-1} * sd / sqrt(n); half is NaN when n < 2."""
    mean, sd, n = mean_std(diffs)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = scipy_stats.t.ppf((1 + level) / 2, n - 1) * sd / np.sqrt(n)
    return mean, np.where(n >= 2, half, np.nan), n


def excludes_zero(mean, half):
    """Whether the interval mean ± half lies wholly above or below 0 (False without an interval)."""
    return bool(not np.isnan(half) and abs(mean) > half)


def chain_stats(acc, pct, alldata_acc):
    """acc, pct: [S, C] accuracy and labeled share in % (NaN: missing); alldata_acc: [S]. Keeps the
    per-seed accuracy and AUBC (NaN unless every cycle of the seed finished) for paired differences."""
    mean, std, n = mean_std(acc)
    complete = ~np.isnan(acc).any(1)
    seed_aubc = np.where(complete, aubc(acc, pct), np.nan)
    rel_cycles = relative_accuracy(acc, np.asarray(alldata_acc, np.float64)[:, None])   # (mean, std, n) of [C]
    return {"mean": mean, "std": std, "n": n, "pct": mean_std(pct)[0],
            "rel_cycles": rel_cycles, "rel": tuple(v[-1] for v in rel_cycles), "complete": int(complete.sum()),
            "acc": acc, "seed_aubc": seed_aubc, "aubc": mean_std(seed_aubc)}


def paired_differences(stats, reference="random"):
    """{method: {"cycles": (mean, half, n) of [C], "aubc": (mean, half, n)}}: method - reference paired
    by seed (the seeds where both finished), with 95% t-intervals; {} without the reference chain."""
    if reference not in stats:
        return {}
    ref = stats[reference]
    return {m: {"cycles": t_interval(s["acc"] - ref["acc"]), "aubc": t_interval(s["seed_aubc"] - ref["seed_aubc"])}
            for m, s in stats.items() if m != reference}
