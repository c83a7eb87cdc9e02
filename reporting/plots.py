"""The figures of report.py (matplotlib, Agg backend: no display needed). Numbers come in computed.

  learning_curves  test accuracy vs % labeled, mean ± 1 std band over seeds       (paper, Fig. 4)
  informativeness  the initial model's accuracy on the top p% of the pool by score (paper, Fig. 3)
  examples         pool images with their last predicted labels, confidence, dispersion (Fig. 1)
"""
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def seeds_label(n):
    """[C] seed counts per point -> "3 seeds", or "1-2 seeds" when points average different numbers."""
    n = np.asarray(n)[np.asarray(n) > 0]
    lo, hi = int(n.min()), int(n.max())
    return f"{hi} seed{'s' * (hi != 1)}" if lo == hi else f"{lo}-{hi} seeds"


def band(ax, x, mean, std, **style):
    """A line with a ±1 std band (clipped to 0-100%) where the std exists (2 seeds or more); a lone
    point gets an error bar instead (a band over one x has no width, so it would not show)."""
    line, = ax.plot(x, mean, **style)
    has_std = ~np.isnan(std)
    if not has_std.any():
        return
    low, high = (np.clip(np.where(has_std, mean + sign * std, mean), 0, 100) for sign in (-1, 1))
    if len(x) == 1:
        ax.errorbar(x, mean, yerr=[mean - low, high - mean], fmt="none", ecolor=line.get_color(), capsize=0)
    else:
        ax.fill_between(x, low, high, where=has_std, color=line.get_color(), alpha=0.2, linewidth=0)


MARKERS = "os^Dvp<>hX*"


def method_style(name):
    """The same colour and marker for a method in every figure, from a hash of its name over 20
    colours x 11 markers (matplotlib's default cycle repeats after 10 methods; the project's 11
    get distinct pairs); dispersion, random and the oracle stand out."""
    if name == "random":
        return {"color": "gray", "linestyle": "--", "marker": "."}
    if name == "oracle":
        return {"color": "black", "linestyle": ":", "marker": "."}
    index = sum(map(ord, name.split(" ")[0]))  # stable across runs and method sets
    style = {"color": plt.get_cmap("tab20")(index % 20), "marker": MARKERS[index % len(MARKERS)]}
    return {**style, "linewidth": 2.5, "color": "tab:red"} if name == "dispersion" else style


def save(fig, path):
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)


def same_seed_runs(acc):
    """acc: [S, C] accuracy, NaN where a seed has not finished a cycle -> [(first, last)] cycle ranges
    over which the same seeds finished every cycle. A line is drawn only inside one: a line from a
    mean over 3 seeds to a mean over 1 would draw a gain that no seed had."""
    finished = ~np.isnan(np.asarray(acc))
    runs = []
    for c in range(finished.shape[1]):
        if not finished[:, c].any():
            continue
        if runs and runs[-1][1] == c - 1 and (finished[:, c] == finished[:, c - 1]).all():
            runs[-1] = (runs[-1][0], c)
        else:
            runs.append((c, c))
    return runs


def learning_curves(stats, alldata, path, title):
    """stats: {method: reporting.stats.chain_stats(...)}, in legend order; alldata: (mean, std, n). A
    method's line breaks where the seeds it averages change (a partly finished run)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for method, s in stats.items():
        label = f"{method} ({seeds_label(s['n'])})" if (s["n"] > 0).any() else None
        for first, last in same_seed_runs(s["acc"]):
            part = slice(first, last + 1)
            band(ax, s["pct"][part], s["mean"][part], s["std"][part], label=label, **method_style(method))
            label = "_nolegend_"  # one legend entry per method
    mean, std, n = alldata
    if n:
        ax.axhline(mean, color="black", linestyle="--", label=f"all data ({seeds_label([n])})")
        if not np.isnan(std):
            ax.axhspan(mean - std, mean + std, color="black", alpha=0.08, linewidth=0)
    ax.set(xlabel="labeled data (% of the training set used)", ylabel="test accuracy (%)",
           title=f"{title}: mean ± 1 std over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: the curves stay visible
    save(fig, path)


def informativeness(fractions, info, path, title):
    """info: {score: {"curve": (mean, std, n) of [F] accuracies in %, "order_only": bool, ...}}; an
    order-only curve is NaN beyond the method's budget, and its line stops there; a set ("at_budget":
    {"share", "acc": (mean, std, n)}) is one point at its budget."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    def level(name):
        return info[name]["at_budget"]["acc"][0] if "at_budget" in info[name] else np.nanmean(info[name]["curve"][0])

    for name in sorted(info, key=level):  # most informative first
        mean, std, n = info[name]["curve"]
        if "at_budget" in info[name]:  # a set (CoreSet's picks): one point, at its budget
            share, (mean, std, n) = info[name]["at_budget"]["share"], info[name]["at_budget"]["acc"]
            band(ax, np.array([share]), np.array([mean]), np.array([std]),
                 label=f"{name} ({seeds_label([n])}; all its picks)", **method_style(name))
            continue
        if not (n > 0).any():
            continue
        last = 100 * np.asarray(fractions)[n > 0][-1]
        until = f"; known to {last:.0f}%, the budget" if info[name].get("order_only") else ""
        band(ax, 100 * np.asarray(fractions), mean, std, label=f"{name} ({seeds_label(n)}{until})",
             **method_style(name))
    ax.set(xlabel="top p% of the pool by score", ylabel="accuracy of the initial model on them (%)",
           title=f"{title}: informativeness (lower = more informative)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: the curves stay visible
    save(fig, path)


def examples(panels, path, title):
    """panels: [(image [H, W, 3] uint8, title, text below the image)]."""
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(2.6 * max(1, len(panels)), 3.2), squeeze=False)
    for ax in axes[0]:
        ax.axis("off")
    for ax, (image, heading, text) in zip(axes[0], panels):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(heading, fontsize=9)
        ax.text(0.5, -0.04, text, transform=ax.transAxes, ha="center", va="top", fontsize=8, family="monospace")
    if not panels:
        axes[0, 0].text(0.5, 0.5, "no pool samples", ha="center", va="center")
    fig.suptitle(title, fontsize=9)
    save(fig, path)
