"""The text of report.py: markdown tables, CSV and the summary it prints, from the numbers of
reporting/stats.py (no files read or written here).

  results.md        accuracy per cycle and relative to all data (paper, Table 1), AUBC, paired
                    differences to random, provenance
  auroc.md          Fig. 3 as a table, each score's AUROC, dispersion's paired differences
  learning_curves.csv, informativeness*.csv   csv_text
"""
import numpy as np

from reporting.stats import FRACTIONS, excludes_zero, mean_std, missing_cycles, sort_by_final, t_interval


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


def aubc_span(pct):
    """The x-range of an AUBC, from a chain's mean labeled share per cycle [C] (%): "10-30% labeled"."""
    return "—" if np.isnan(pct[0]) or np.isnan(pct[-1]) else f"{pct[0]:g}-{pct[-1]:g}% labeled"


def aubc_markdown(stats, n_seeds):
    """The AUBC table: stats {method: chain_stats}, best first, each with the labeled range it spans."""
    intro = ("Area under the budget curve (AUBC, as DeepAL+, Zhan et al. 2022, reports): test accuracy (%) "
             "integrated over the labeled share with the trapezoid rule, divided by that share's range (a flat "
             "curve at a% gives a%); per seed, over the seeds whose every cycle finished, then mean ± sample std.")
    lines = [intro, "", "| method | seeds | AUBC (%) | over |", "| --- | --- | --- | --- |"]
    for method in sort_by_final({m: s["aubc"][0] for m, s in stats.items()}):
        s = stats[method]
        seeds = f"{n_seeds}" if s["complete"] == n_seeds else f"{s['complete']} of {n_seeds} complete"
        lines.append(f"| {method} | {seeds} | {cell(*s['aubc'], n_seeds)} | {aubc_span(s['pct'])} |")
    return "\n".join(lines) + "\n"


def aubc_header(stats, methods):
    """ "AUBC (10-30% labeled)" when the methods' AUBCs share one range, else a pointer to the AUBC table."""
    spans = {aubc_span(stats[m]["pct"]) for m in methods}
    return f"AUBC ({spans.pop()})" if len(spans) == 1 else "AUBC (over each method's range: AUBC table)"


def paired_markdown(stats, paired, n_seeds, reference="random"):
    """The paired-difference table: paired_differences(stats) per cycle and for the AUBC, methods by AUBC."""
    if not paired:
        return f"No paired differences: the tree has no `{reference}` chain.\n"
    intro = (f"Paired difference to {reference} (percentage points): method - {reference} on the same seed (the "
             "same initial labeled set), mean ± half width of the 95% two-sided t-interval over seeds "
             "(t_{0.975, n-1} · sd / √n); * where the interval excludes 0; n/a: fewer than 2 paired seeds.")
    cycles = [f"cycle {c}" for c in range(len(next(iter(paired.values()))["cycles"][0]))]
    lines = [intro, "", "| " + " | ".join(["method", *cycles, aubc_header(stats, paired)]) + " |",
             "|" + " --- |" * (len(cycles) + 2)]
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
    total = max(max(int(max(v["curve"][2])), v.get("at_budget", {}).get("acc", (0, 0, 0))[2]) for v in info.values())
    ranked = {name: v for name, v in info.items() if "at_budget" not in v}
    lines = ["", f"Ranked by the top {rank_by}%, the most informative first.", "",
             "| score | " + " | ".join(f"top {t}%" for t in tops) + " | AUROC |", "|---" * (len(tops) + 2) + "|"]
    for name in sorted(ranked, key=lambda k: np.nan_to_num(info[k]["curve"][0][rank_column], nan=np.inf)):
        mean, std, n = info[name]["curve"]
        area = "n/a" if info[name]["order_only"] else cell(*info[name]["auroc"], total, digits=3)
        lines.append(f"| {name} | " + " | ".join(cell(mean[j], std[j], n[j], total, digits=1) for j in picked)
                     + f" | {area} |")
    return lines + set_accuracy_markdown(info, total)


def set_accuracy_markdown(info, total):
    """Lines for the scores known only as a set (CoreSet's picks): accuracy on all of them, at the budget."""
    sets = sorted(name for name, v in info.items() if "at_budget" in v)
    if not sets:
        return []
    lines = ["", "Known only as a set (the order of its picks is an artefact): accuracy (%) on all its picks, "
                 "at its budget, the only point of its Fig. 3 curve.", "",
             "| score | its picks (% of the pool) | accuracy on them | AUROC |", "|---|---|---|---|"]
    for name in sets:
        at_budget = info[name]["at_budget"]
        lines.append(f"| {name} | {at_budget['share']:.1f}% | {cell(*at_budget['acc'], total, digits=1)} | n/a |")
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
    for name in sorted(n for n in info if n != reference and "at_budget" not in info[n]):  # a set: no top p%
        other = info[name]["per_seed"]
        seeds = sorted(set(ref) & set(other))
        if not seeds:
            continue
        diffs = np.array([np.asarray(ref[s][0])[picked] - np.asarray(other[s][0])[picked] for s in seeds])
        mean, half, n = t_interval(diffs)
        lines.append(f"| {name} | " + " | ".join(diff_cell(mean[j], half[j], n[j], len(ref))
                                                for j in range(len(tops))) + " |")
    return lines


def provenance_markdown(warnings, commits):
    lines = ["## Provenance", "", "Commits of the trainings summarised here (config.json):", ""]
    lines += [f"- {line}" for line in commits] or ["- none recorded"]
    if warnings:
        lines += ["", "**Not one protocol** (the comparison mixes settings):", ""] + [f"- {w}" for w in warnings]
    return "\n".join(lines) + "\n"


# ---- the summary on stdout ------------------------------------------------------------------------

def incomplete_lines(tree):
    lines = [f"{method} seed{seed}: cycle {', '.join(map(str, miss))} missing"
             + (f" (cycle {', '.join(map(str, unfinished))} started, not finished)" if unfinished else "")
             for method, chain in tree.chains.items()
             for seed, (miss, unfinished) in missing_cycles(chain, tree.seeds, tree.cycles).items()]
    no_alldata = [str(s) for s in tree.seeds if not tree.alldata.get(s)]
    return lines + ([f"alldata: seed {', '.join(no_alldata)} missing"] if no_alldata else [])


def comparison_lines(tree, stats, paired):
    """The AUBC and the paired differences to random (AUBC, final cycle), one line per method."""
    n = len(tree.seeds)
    lines = [f"{aubc_header(stats, stats)} % (mean ± std over complete seeds) | minus random, same seed: "
             "mean ± 95% t-interval (* excludes 0), AUBC | final cycle"]
    for m in sort_by_final({m: s["aubc"][0] for m, s in stats.items()}):
        d = paired.get(m)
        diffs = f" | {diff_cell(*d['aubc'], n):<24} | {diff_cell(*(v[-1] for v in d['cycles']), n)}" if d else ""
        lines.append(f"  {m:<18} {cell(*stats[m]['aubc'], n):<32}{diffs}".rstrip())
    return lines + ([] if paired else ["  (no random chain: no paired differences)"])


def summary(tree, stats, alldata, order, paired):
    n = len(tree.seeds)
    lines = [f"{tree.root}: seeds {' '.join(map(str, tree.seeds))}, cycles 0-{tree.cycles[-1]}",
             f"methods: {' '.join(sorted(tree.chains))}",
             "final cycle: test accuracy % (mean ± std over seeds) | relative to all data"]
    for m in order:
        s = stats[m]
        rel = cell(100 * s["rel"][0], 100 * s["rel"][1], s["rel"][2], n, "%")
        lines.append(f"  {m:<18} {cell(s['mean'][-1], s['std'][-1], s['n'][-1], n):<32} | {rel}")
    lines.append(f"  {'all data':<18} {cell(*alldata, n)}")
    lines += comparison_lines(tree, stats, paired)
    missing = incomplete_lines(tree)
    return lines + (["incomplete:"] + [f"  {line}" for line in missing] if missing else ["every chain complete"])
