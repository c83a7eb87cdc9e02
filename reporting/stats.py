"""The numbers and tables of report.py: pure functions on arrays, no files read or written.

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


# ---- tables -------------------------------------------------------------------------------------

def cell(mean, std, n, total, unit="", digits=2):
    """ "90.74 ± 0.21", without the std for one seed, marked "(k of N seeds)" when k < N; "—" for none."""
    if n == 0:
        return "—"
    text = f"{mean:.{digits}f}{unit}" + (f" ± {std:.{digits}f}" if n >= 2 else "")
    return text + (f" ({n} of {total} seeds)" if n < total else "")


def diff_cell(mean, half, n, total):
    """ "+2.00 ± 1.24 *" (* where the interval excludes 0), "+2.00 ± n/a" for one seed, "—" for none;
    marked "(k of N seeds)" when k < N."""
    if n == 0:
        return "—"
    interval = "n/a" if np.isnan(half) else f"{half:.2f}" + (" *" if excludes_zero(mean, half) else "")
    return f"{mean:+.2f} ± {interval}" + (f" ({n} of {total} seeds)" if n < total else "")


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


def relative_markdown(stats, n_seeds):
    """Table 1's "rel." at every cycle: accuracy / the same seed's all-data accuracy, in %, best final first."""
    intro = ("Share of all-data accuracy (%) per cycle (Table 1's relative column, at every cycle): mean over "
             "seeds of a run's accuracy / the all-data accuracy of the same seed, ± sample std, over the seeds "
             "that have both.")
    n_cycles = len(next(iter(stats.values()))["mean"])
    lines = [intro, "", "| " + " | ".join(["share of all data", *(f"cycle {c}" for c in range(n_cycles))]) + " |",
             "|" + " --- |" * (n_cycles + 1)]
    for method in sort_by_final({m: s["mean"][-1] for m, s in stats.items()}):
        shares = [cell(100 * mean, 100 * std, n, n_seeds, "%") for mean, std, n in zip(*stats[method]["rel_cycles"])]
        lines.append("| " + " | ".join([method, *shares]) + " |")
    return "\n".join(lines) + "\n"


def aubc_markdown(stats, n_seeds):
    """The AUBC table: stats {method: chain_stats}, best first."""
    intro = ("Area under the budget curve (AUBC, as DeepAL+, Zhan et al. 2022, reports): test accuracy (%) "
             "integrated over the labeled share with the trapezoid rule, divided by that share's range (a flat "
             "curve at a% gives a%); per seed, over the seeds whose every cycle finished, then mean ± sample std.")
    lines = [intro, "", "| method | seeds | AUBC (%) |", "| --- | --- | --- |"]
    for method in sort_by_final({m: s["aubc"][0] for m, s in stats.items()}):
        s = stats[method]
        seeds = f"{n_seeds}" if s["complete"] == n_seeds else f"{s['complete']} of {n_seeds} complete"
        lines.append(f"| {method} | {seeds} | {cell(*s['aubc'], n_seeds)} |")
    return "\n".join(lines) + "\n"


def paired_markdown(stats, paired, n_seeds, reference="random"):
    """The paired-difference table: paired_differences(stats) per cycle and for the AUBC, methods by AUBC."""
    if not paired:
        return f"No paired differences: the tree has no `{reference}` chain.\n"
    intro = (f"Paired difference to {reference} (percentage points): method - {reference} on the same seed (the "
             "same initial labeled set), mean ± half width of the 95% two-sided t-interval over seeds "
             "(t_{0.975, n-1} · sd / √n); * where the interval excludes 0; n/a: fewer than 2 paired seeds.")
    cycles = [f"cycle {c}" for c in range(len(next(iter(paired.values()))["cycles"][0]))]
    lines = [intro, "", "| " + " | ".join(["method", *cycles, "AUBC"]) + " |", "|" + " --- |" * (len(cycles) + 2)]
    for method in sort_by_final({m: stats[m]["aubc"][0] for m in paired}):
        cells = [diff_cell(*v, n_seeds) for v in zip(*paired[method]["cycles"])]
        lines.append("| " + " | ".join([method, *cells, diff_cell(*paired[method]["aubc"], n_seeds)]) + " |")
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


def auroc_markdown(info, notes, missing=()):
    """auroc.md: the paper's Fig. 3 as a table with each score's AUROC, then dispersion's paired
    differences. info {score: {"curve", "auroc": (mean, std, n), "order_only", "per_seed"}}; notes: lines
    under the heading; missing: (score, seed, why) left out of the means."""
    intro = ("Accuracy (%) of the initial model on the top p% of the pool by each score (paper, Fig. 3; lower: "
             "more informative), and the AUROC of each score for telling the pool samples the model misclassifies "
             "from those it gets right (1: every misclassified sample scores higher; 0.5: chance); "
             "mean ± sample std over seeds.")
    lines = [intro, *notes, *top_accuracy_markdown(info), *paired_top_markdown(info)]
    if missing:
        lines += ["", "Missing, left out of the means above (never scored on ties or on unfit files):", "",
                  *(f"- {name}, seed {seed}: {why}" for name, seed, why in missing)]
    return "\n".join(lines) + "\n"


def top_accuracy_markdown(info, tops=(1, 2, 5, 10, 20), rank_by=5):
    """Lines for auroc.md, the paper's Fig. 3 as a table: each score's accuracy (%) on the top p% of the
    pool, mean ± sample std over seeds, and its AUROC; the most informative (least accurate on its top
    rank_by%) first. "—" where a query order stops before p%; "(k of N seeds)" where seeds are missing."""
    columns = [int(round(100 * f)) for f in FRACTIONS]
    picked, rank_column = [columns.index(t) for t in tops], columns.index(rank_by)
    total = max(int(max(v["curve"][2])) for v in info.values())
    lines = ["", f"Ranked by the top {rank_by}%, the most informative first.", "",
             "| score | " + " | ".join(f"top {t}%" for t in tops) + " | AUROC |", "|---" * (len(tops) + 2) + "|"]
    for name in sorted(info, key=lambda k: np.nan_to_num(info[k]["curve"][0][rank_column], nan=np.inf)):
        mean, std, n = info[name]["curve"]
        area = "n/a" if info[name]["order_only"] else cell(*info[name]["auroc"], total, digits=3)
        lines.append(f"| {name} | " + " | ".join(cell(mean[j], std[j], n[j], total, digits=1) for j in picked)
                     + f" | {area} |")
    return lines


def paired_top_markdown(info, reference="dispersion", tops=(2, 5, 10, 20)):
    """Lines for auroc.md: the reference's accuracy on its top p% minus each other score's, paired by
    seed (a seed's scores all rank the same cycle-0 pool), with 95% t-intervals. Negative: the
    reference's top picks are wrong more often, i.e. more informative (paper, Fig. 3). [] without it."""
    if reference not in info:
        return []
    ref, columns = info[reference]["per_seed"], [int(round(100 * f)) for f in FRACTIONS]
    picked = [columns.index(t) for t in tops]
    lines = ["", f"{reference} minus each score: accuracy (points) on the top p% of the pool, paired by seed, "
                 f"mean ± 95% t-interval (* where it excludes 0; negative: {reference}'s picks are more informative).", "",
             "| score | " + " | ".join(f"top {t}%" for t in tops) + " |", "|---" * (len(tops) + 1) + "|"]
    for name in sorted(n for n in info if n != reference):
        other = info[name]["per_seed"]
        seeds = sorted(set(ref) & set(other))
        if not seeds:
            continue
        diffs = np.array([np.asarray(ref[s][0])[picked] - np.asarray(other[s][0])[picked] for s in seeds])
        mean, half, n = t_interval(diffs)
        lines.append(f"| {name} | " + " | ".join(diff_cell(mean[j], half[j], n[j], len(ref))
                                                for j in range(len(tops))) + " |")
    return lines
