"""Fig. 3 and AUROC of BALD's variants (issue 31) on the quick preset's cycle 0, side by side.

    python results/cifar10-jpeg-quick/bald-variants/bald_variants.py --plain TREE --dropout TREE \
        --scores DIR --out DIR --seeds 0 1 2

Reads, for each network N (plain: trained without dropout; dropout: trained with --dropout 0.5) and seed S:
  <TREE of N>/cycle0/seed<S>/                     the shared cycle-0 run: pool.npy, preds.npy, probs.npy
  <DIR>/<N>/<variant>/seed<S>/labeled_scores.npy  acquire.py --method bald's scores on that run
Writes into --out:
  table.md                  the variants side by side, then per network every score's accuracy on the top
                            p% of the pool and its AUROC (reporting/, as report.py's auroc.md), and the
                            authors' variant minus each score, paired by seed
  informativeness.csv       per network and score: accuracy on the top 1..20%, mean, std, seeds; AUROC
  informativeness_seeds.csv the same per seed
  informativeness.png       Fig. 3, one panel per network
"""
import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from files import load_npy
from reporting.plots import band, method_style, save
from reporting.stats import FRACTIONS, auroc, mean_std, pool_scores, top_accuracy
from reporting.tables import csv_text, paired_top_markdown, top_accuracy_markdown
from rundata import RunData

NETWORKS = {"plain": "trained without dropout (every method's network by default)",
            "dropout": "trained with --dropout 0.5 (TRAIN_ARGS=\"--dropout 0.5\")"}
TITLES = {"plain": "cycle 0 trained without dropout", "dropout": "cycle 0 trained with dropout 0.5"}
VARIANTS = {"plain": ["authors", "acquisition-dropout", "acquisition-dropout-T20"],
            "dropout": ["gal", "authors"]}
BALD_STYLES = {"bald authors": {"color": "tab:blue", "marker": "o"},
               "bald acquisition-dropout": {"color": "tab:orange", "marker": "s"},
               "bald acquisition-dropout-T20": {"color": "tab:olive", "marker": "D"},
               "bald gal": {"color": "tab:purple", "marker": "^"}}
SHOWN = ("random", "oracle", "dispersion", "entropy", "margin", "least_confidence")


def seeds_text(seeds):
    return f"seed{'s' * (len(seeds) > 1)} {' '.join(map(str, seeds))}"


def seed_scores(run, scores_dir, network, seed, labels):
    """{name: [P] scores} on one cycle-0 run: the computed ones and the saved BALD variants; [P] correct."""
    correct = run.probs.argmax(1) == labels[run.pool]
    scores = {k: v for k, v in pool_scores(run.preds, run.probs, correct).items() if k in SHOWN}
    for variant in VARIANTS[network]:
        scores[f"bald {variant}"] = load_npy(scores_dir / network / variant / f"seed{seed}" / "labeled_scores.npy",
                                             ndim=1, kind="float")
    return scores, correct


def network_info(tree, scores_dir, network, seeds):
    """reporting.stats' info dict {score: {"curve", "auroc", "order_only", "per_seed"}} for one network,
    and the pool accuracy (%) of each seed's cycle-0 model."""
    per_seed, pool_acc = {}, []
    for seed in seeds:
        run = RunData(tree / "cycle0" / f"seed{seed}")
        scores, correct = seed_scores(run, scores_dir, network, seed, run.dataset.train_y)
        pool_acc.append(100 * correct.mean())
        for name, s in scores.items():
            per_seed.setdefault(name, {})[seed] = (100 * top_accuracy(correct, s), auroc(s, ~correct))
    info = {name: {"curve": mean_std([c for c, _ in v.values()]), "auroc": mean_std([a for _, a in v.values()]),
                   "order_only": False, "per_seed": v} for name, v in per_seed.items()}
    return info, pool_acc


def summary_lines(infos):
    """The variants side by side: top 1/2/5/10/20% accuracy and AUROC, on their network."""
    lines = ["| variant | network | " + " | ".join(f"top {t}%" for t in (1, 2, 5, 10, 20)) + " | AUROC |",
             "|---" * 8 + "|"]
    for network, info in infos.items():
        for name in [f"bald {v}" for v in VARIANTS[network]] + ["random"]:
            mean, std, n = info[name]["curve"]
            cells = [f"{mean[t - 1]:.1f} ± {std[t - 1]:.1f}" if n[0] > 1 else f"{mean[t - 1]:.1f}"
                     for t in (1, 2, 5, 10, 20)]
            a_mean, a_std, a_n = info[name]["auroc"]
            area = f"{a_mean:.3f} ± {a_std:.3f}" if a_n > 1 else f"{a_mean:.3f}"
            lines.append(f"| {name} | {network} | " + " | ".join(cells) + f" | {area} |")
    return lines


def write_tables(infos, pool_accs, seeds, out):
    lines = [f"BALD's variants on the quick preset's cycle 0 ({seeds_text(seeds)}): accuracy (%) "
             "of the cycle-0 model on the top p% of its pool by each score (paper, Fig. 3; lower: more "
             "informative) and AUROC for telling its misclassified pool samples from correct ones; mean ± "
             "sample std over seeds.", "", *summary_lines(infos)]
    for network, info in infos.items():
        lines += ["", f"## The cycle 0 {NETWORKS[network]}",
                  "", f"Pool accuracy of the cycle-0 models: {', '.join(f'{a:.2f}%' for a in pool_accs[network])} "
                  f"({seeds_text(seeds)}).",
                  *top_accuracy_markdown(info), *paired_top_markdown(info, reference="bald authors")]
    (out / "table.md").write_text("\n".join(lines) + "\n")
    rows = [(network, name, f"{100 * f:.0f}", float(v["curve"][0][j]), float(v["curve"][1][j]),
             int(v["curve"][2][j]), float(v["auroc"][0]), float(v["auroc"][1]))
            for network, info in infos.items() for name, v in info.items() for j, f in enumerate(FRACTIONS)]
    (out / "informativeness.csv").write_text(csv_text(
        ["network", "score", "top_pct", "acc_mean", "acc_std", "n_seeds", "auroc_mean", "auroc_std"], rows))
    seed_rows = [(network, name, seed, f"{100 * f:.0f}", float(curve[j]), float(area))
                 for network, info in infos.items() for name, v in info.items()
                 for seed, (curve, area) in v["per_seed"].items() for j, f in enumerate(FRACTIONS)]
    (out / "informativeness_seeds.csv").write_text(csv_text(
        ["network", "score", "seed", "top_pct", "acc", "auroc"], seed_rows))


def plot(infos, seeds, path):
    fig, axes = plt.subplots(1, len(infos), figsize=(12, 4.4), sharey=True)
    for ax, (network, info) in zip(axes, infos.items()):
        for name in sorted(info, key=lambda k: np.mean(info[k]["curve"][0])):
            mean, std, n = info[name]["curve"]
            style = {**BALD_STYLES[name], "linewidth": 2.5} if name in BALD_STYLES else method_style(name)
            band(ax, 100 * FRACTIONS, mean, std, label=f"{name} (AUROC {info[name]['auroc'][0]:.3f})", **style)
        ax.set(xlabel="top p% of the pool by score", title=TITLES[network])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("accuracy of the cycle-0 model on them (%)")
    fig.suptitle(f"BALD variants, quick preset, {seeds_text(seeds)} (lower = more informative)")
    save(fig, path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plain", type=Path, required=True, help="run tree of the network trained without dropout")
    p.add_argument("--dropout", type=Path, required=True, help="run tree of the network trained with dropout 0.5")
    p.add_argument("--scores", type=Path, required=True, help="folder of the variants' labeled_scores.npy")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    infos, pool_accs = {}, {}
    for network, tree in (("plain", args.plain), ("dropout", args.dropout)):
        infos[network], pool_accs[network] = network_info(tree, args.scores, network, args.seeds)
    args.out.mkdir(parents=True, exist_ok=True)
    write_tables(infos, pool_accs, args.seeds, args.out)
    plot(infos, args.seeds, args.out / "informativeness.png")
    print((args.out / "table.md").read_text())


if __name__ == "__main__":
    main()
