"""The numbers and tables of report.py: pure functions on arrays, no files read or written.

Conventions (report.py's docstring says why):
  std       sample standard deviation over seeds (ddof=1); NaN (not shown) for a single seed
  relative  mean over seeds of acc / all-data acc of the same seed, over the seeds that have both
  missing   NaN in a [seeds, cycles] matrix; means use the seeds present and say how many
  ties      in the informativeness curve, samples tied with the k-th score count with their mean
            correctness (ties broken uniformly at random, as acquire.py's top_k does); in AUROC
            they share the mean of their ranks
"""
import numpy as np

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


def average_ranks(x):
    """[N] -> 1-based ranks; tied values share the mean of their ranks."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)
    return (last - (counts - 1) / 2)[inverse.ravel()]


def auroc(scores, positive):
    """Area under the ROC curve of scores for telling positive samples from the others.

    Mann-Whitney form: the chance that a random positive scores above a random negative, a tie
    counting 1/2 (average ranks). NaN when either group is empty.
    """
    positive = np.asarray(positive, bool)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = average_ranks(np.asarray(scores, np.float64))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


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
    k = np.clip(np.round(np.asarray(fractions) * len(scores)), 1, len(scores)).astype(int)
    g = np.searchsorted(end, k)                                 # the group holding the k-th sample
    above, right_above = end[g] - size[g], np.cumsum(right)[g] - right[g]
    return (right_above + (k - above) * right[g] / size[g]) / k


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


def chain_stats(acc, pct, alldata_acc):
    """acc, pct: [S, C] accuracy and labeled share in % (NaN: missing); alldata_acc: [S]."""
    mean, std, n = mean_std(acc)
    return {"mean": mean, "std": std, "n": n, "pct": mean_std(pct)[0],
            "rel": relative_accuracy(acc[:, -1], alldata_acc), "complete": int((~np.isnan(acc)).all(1).sum())}


# ---- tables -------------------------------------------------------------------------------------

def cell(mean, std, n, total, unit=""):
    """ "90.74 ± 0.21", without the std for one seed, marked "(k of N seeds)" when k < N; "—" for none."""
    if n == 0:
        return "—"
    text = f"{mean:.2f}{unit}" + (f" ± {std:.2f}" if n >= 2 else "")
    return text + (f" ({n} of {total} seeds)" if n < total else "")


def results_markdown(stats, alldata, n_seeds, name):
    """Table 1 as markdown: stats {method: chain_stats}, alldata (mean, std, n) of all-data accuracy."""
    pcts = mean_std(np.array([s["pct"] for s in stats.values()]))[0]   # the same for every method
    cycles = [f"cycle {c}" + ("" if np.isnan(p) else f" ({p:.3g}%)") for c, p in enumerate(pcts)]
    head = ["method", "seeds", *cycles, "rel. to all data"]
    intro = (f"Test accuracy (%) on {name} per active-learning cycle (share of the universe labeled), "
             "mean ± sample std (ddof=1) over seeds; relative = mean over seeds of final accuracy / "
             "all-data accuracy of the same seed. Sorted by final accuracy. "
             f"All data: {cell(*alldata, n_seeds)}.")
    lines = [intro, "",
             "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for method in sort_by_final({m: s["mean"][-1] for m, s in stats.items()}):
        s = stats[method]
        seeds = f"{n_seeds}" if s["complete"] == n_seeds else f"{s['complete']} of {n_seeds} complete"
        rel_mean, rel_std, rel_n = s["rel"]
        cells = [cell(*v, n_seeds) for v in zip(s["mean"], s["std"], s["n"])]
        rel = cell(100 * rel_mean, 100 * rel_std, rel_n, n_seeds, "%")
        lines.append("| " + " | ".join([method, seeds, *cells, rel]) + " |")
    return "\n".join(lines) + "\n"


def csv_text(header, rows):
    """Comma-separated lines; floats with 4 decimals, NaN (no std) as an empty field."""
    def fmt(v):
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:.4f}"
        return str(v)
    return "\n".join(",".join(fmt(v) for v in row) for row in [header, *rows]) + "\n"


def curve_rows(stats, alldata):
    """learning_curves.csv rows: method, cycle, labeled_pct, acc_mean, acc_std, n_seeds."""
    rows = [(m, c, float(s["pct"][c]), float(s["mean"][c]), float(s["std"][c]), int(s["n"][c]))
            for m, s in stats.items() for c in range(len(s["mean"])) if s["n"][c]]
    if alldata[2]:
        rows.append(("alldata", "", 100.0, float(alldata[0]), float(alldata[1]), int(alldata[2])))
    return rows


def auroc_markdown(info, notes):
    """auroc.md: info {score: {"auroc": (mean, std, n)}}, best first; notes: lines under the heading."""
    intro = ("AUROC of each score for telling the pool samples the initial model misclassifies from those it "
             "gets right (1: every misclassified sample scores higher; 0.5: chance), mean ± sample std over seeds.")
    lines = [intro, *notes, "", "| score | AUROC | seeds |", "| --- | --- | --- |"]
    for name in sorted(info, key=lambda k: -np.nan_to_num(info[k]["auroc"][0])):
        mean, std, n = info[name]["auroc"]
        lines.append(f"| {name} | {mean:.3f}" + (f" ± {std:.3f}" if n >= 2 else "") + f" | {n} |")
    return "\n".join(lines) + "\n"


