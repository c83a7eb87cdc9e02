"""Report on a run tree written by run_all.sh: learning curves, results table, informativeness, examples.

    python report.py runs/<dataset> [--out results/<name>] [--data-root DIR]

Reads (README, "Files a run writes"):
  <tree>/initial/seed<S>/universe.npy                   its length is the denominator of "% labeled"
  <tree>/<method>/seed<S>/cycle<C>/metrics.json         test_acc, n_labeled (a cycle is done when present)
  <tree>/<method>/seed<S>/cycle0/{pool,preds,probs}.npy the pool predictions of the initial model
  <tree>/<method>/seed<S>/cycle1/labeled_scores.npy     a method's own saved scores (model-based methods)
  <tree>/alldata/seed<S>/metrics.json                   the all-data reference (paper, Table 1)
  true labels and images through data.load_dataset (config.json's dataset; --data-root)
Writes into --out (default results/<tree name>), and a summary on stdout:
  learning_curves.png/.csv  test accuracy vs % labeled, mean ± 1 std over seeds (paper, Fig. 4)
  results.md                accuracy per cycle; the last one relative to all data (paper, Table 1)
  informativeness.png/.csv  the initial model's accuracy on the top p% of the pool by each score
                            (paper, section 3.2, Fig. 3): the lower, the more informative
  auroc.md                  AUROC of each score for telling misclassified pool samples from correct ones
  examples.png              pool images with their last 5 predicted labels, confidence and dispersion (Fig. 1)

Conventions:
  std       sample standard deviation over seeds (ddof=1); one seed has none. (With 3 seeds ddof=0
            would be sqrt(2/3) = 0.82 times smaller.)
  relative  mean over seeds of acc / all-data acc of the same seed, over the seeds that have both.
  missing   a (method, cycle) mean uses the seeds whose run finished; where that is k < N of the N
            seeds in the tree the table says "(k of N seeds)", and the summary lists what is missing.
  informativeness  for each seed, cycle0 of the dispersion chain (or of the first chain, by name, with
            preds.npy and probs.npy): all chains of a seed start from the same labeled set. Scored
            there: random, oracle, dispersion (Eq. 1-2), margin, entropy, least_confidence (the
            baselines/ functions). Other methods (BALD, BADGE, k-center, VAAL...) need their model or
            extra training, so their own saved scores are used where acquire.py wrote them, against
            their own cycle0 model. Ties in a score count as broken uniformly at random (top_k's way).
The numbers are pure functions in report_stats.py; the figures are drawn by report_plots.py.
"""
import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import report_plots
from acquire import RunData
from baselines.dispersion import label_dispersion
from files import FileError, exit_with_error, load_json, load_npy
from report_stats import (
    COMPUTED,
    FRACTIONS,
    auroc,
    auroc_markdown,
    cell,
    chain_stats,
    csv_text,
    curve_rows,
    mean_std,
    missing_cycles,
    pick_examples,
    pool_scores,
    results_markdown,
    sort_by_final,
    top_accuracy,
)

# ---- the run tree ---------------------------------------------------------------------------------

@dataclass
class Tree:
    """A run is its metrics.json dict, or None when its folder exists but the run did not finish."""
    root: Path
    chains: dict    # {method: {seed: {cycle: run}}}
    alldata: dict   # {seed: run}
    universe: dict  # {seed: number of training indices taking part}

    @property
    def seeds(self):
        found = set(self.universe) | set(self.alldata)
        return sorted(found.union(*(chain.keys() for chain in self.chains.values())))

    @property
    def cycles(self):
        return list(range(1 + max((c for ch in self.chains.values() for s in ch.values() for c in s), default=-1)))

    def run_dir(self, method, seed, cycle):
        return self.root / method / f"seed{seed}" / f"cycle{cycle}"


def numbered(folder, prefix):
    """{n: path} of the <prefix><n> subfolders of folder."""
    paths = folder.glob(f"{prefix}*") if folder.is_dir() else []
    return {int(p.name[len(prefix):]): p for p in paths if re.fullmatch(rf"{prefix}\d+", p.name) and p.is_dir()}


def finished(run):
    return load_json(run / "metrics.json") if (run / "metrics.json").is_file() else None


def scan_tree(root):
    root = Path(root)
    if not root.is_dir():
        raise FileError(f"{root}: no such run tree")
    universe = {s: len(load_npy(p / "universe.npy", ndim=1)) for s, p in numbered(root / "initial", "seed").items()
                if (p / "universe.npy").is_file()}
    alldata = {s: finished(p) for s, p in numbered(root / "alldata", "seed").items()}
    chains = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in ("initial", "alldata", "logs")):
        seeds = {s: {c: finished(run) for c, run in numbered(p, "cycle").items()}
                 for s, p in numbered(folder, "seed").items()}
        if seeds:
            chains[folder.name] = seeds
    tree = Tree(root, chains, alldata, universe)
    if not tree.cycles:
        raise FileError(f"{root}: no <method>/seed<S>/cycle<C> folders; expected a run tree of run_all.sh")
    return tree


def matrices(tree, chain):
    """[S, C] test accuracy and labeled share of the universe, both in % (NaN: missing or unfinished)."""
    acc = np.full((len(tree.seeds), len(tree.cycles)), np.nan)
    pct = acc.copy()
    for i, seed in enumerate(tree.seeds):
        for c, m in chain.get(seed, {}).items():
            if m:
                acc[i, c] = 100 * m["test_acc"]
                pct[i, c] = 100 * m["n_labeled"] / tree.universe.get(seed, m["n_labeled"] + m.get("n_pool", 0))
    return acc, pct


def alldata_acc(tree):
    return np.array([100 * tree.alldata[s]["test_acc"] if tree.alldata.get(s) else np.nan for s in tree.seeds])


def incomplete_lines(tree):
    lines = [f"{method} seed{seed}: cycle {', '.join(map(str, miss))} missing"
             + (f" (cycle {', '.join(map(str, unfinished))} started, not finished)" if unfinished else "")
             for method, chain in tree.chains.items()
             for seed, (miss, unfinished) in missing_cycles(chain, tree.seeds, tree.cycles).items()]
    no_alldata = [str(s) for s in tree.seeds if not tree.alldata.get(s)]
    return lines + ([f"alldata: seed {', '.join(no_alldata)} missing"] if no_alldata else [])


# ---- the initial model's pool: informativeness (section 3.2) and examples (Fig. 1) -------------------

def reference_runs(tree, data_root=None):
    """{seed: (method, RunData)}: cycle0 of the seed's dispersion chain, else of the first chain with
    preds and probs; seeds without one are left out."""
    found = {}
    for seed in tree.seeds:
        for method in sorted(tree.chains, key=lambda m: (m != "dispersion", m)):
            run = tree.run_dir(method, seed, 0)
            if (tree.chains[method].get(seed, {}).get(0) and (run / "preds.npy").is_file()
                    and (run / "probs.npy").is_file()):
                found[seed] = method, RunData(run, data_root)
                break
    return found


def saved_scores(tree, seed, labels):
    """{name: (correct, scores)} for methods report.py does not score itself: the scores acquire.py saved
    for cycle0 (cycle1/labeled_scores.npy), against that chain's own cycle0 model (e.g. BALD's has dropout)."""
    found = {}
    for method in sorted(set(tree.chains) - set(COMPUTED)):
        scores_file, run_dir = tree.run_dir(method, seed, 1) / "labeled_scores.npy", tree.run_dir(method, seed, 0)
        if scores_file.is_file() and (run_dir / "probs.npy").is_file() and tree.chains[method].get(seed, {}).get(0):
            run, scores = RunData(run_dir), load_npy(scores_file, ndim=1, kind="float")
            if len(scores) == len(run.pool):
                found[f"{method} (saved)"] = (run.probs.argmax(1) == labels[run.pool], scores)
    return found


def informativeness(tree, labels, references=None):
    """{score: {"curve": (mean, std, n) of [F] accuracies in %, "auroc": (mean, std, n)}}, and notes.

    references: reference_runs(tree), if already found (their loaded arrays are reused)."""
    per_seed, used, pool_acc = {}, [], []
    for seed, (method, run) in (references or reference_runs(tree)).items():
        correct = run.probs.argmax(1) == labels[run.pool]
        used.append(f"{method}/seed{seed}")
        pool_acc.append(100 * correct.mean())
        pairs = {name: (correct, s) for name, s in pool_scores(run.preds, run.probs, correct).items()}
        for name, (ok, scores) in {**pairs, **saved_scores(tree, seed, labels)}.items():
            per_seed.setdefault(name, []).append((100 * top_accuracy(ok, scores), auroc(scores, ~ok)))
    info = {name: {"curve": mean_std(np.array([c for c, _ in v])), "auroc": mean_std(np.array([a for _, a in v]))}
            for name, v in per_seed.items()}
    unscored = sorted(set(tree.chains) - set(COMPUTED) - {n.split(" ")[0] for n in info})
    model = f"Model: cycle0 (initial labeled set) of {', '.join(used)}; its accuracy on the pool: "
    notes = [f"{model}{np.mean(pool_acc):.2f}%."]
    if any(name.endswith("(saved)") for name in info):
        notes.append("\"(saved)\": the scores acquire.py saved for that method, against its own cycle0 model.")
    if unscored:
        notes.append(f"Not scored (no cycle1/labeled_scores.npy saved): {', '.join(unscored)}.")
    return info, notes


def example_panels(run, dataset, n_last=5):
    """[(image, title, text)] for the Fig. 1 grid, from the run's pool."""
    preds, probs, names = run.preds, run.probs, dataset.classes
    labels, predicted, confidence = dataset.train_y[run.pool], probs.argmax(1), probs.max(1)
    dispersion = label_dispersion(preds)
    epochs = load_json(run.dir / "metrics.json").get("pred_epochs") or list(range(1, len(preds) + 1))
    panels = []
    for i in pick_examples(predicted == labels, confidence, dispersion):
        lines = [f"epoch {e}: {names[c]}" for e, c in zip(epochs[-n_last:], preds[-n_last:, i])]
        lines.append(f"confidence {confidence[i]:.2f}\ndispersion {dispersion[i]:.2f}")
        panels.append((dataset.train_x[run.pool[i]], f"true: {names[labels[i]]}\npredicted: {names[predicted[i]]}",
                       "\n".join(lines)))
    return panels


def analyse_pool(tree, data_root, out):
    """Write informativeness.png/.csv, auroc.md and examples.png; return summary lines."""
    references = reference_runs(tree, data_root)
    if not references:
        return ["informativeness, examples: skipped (no finished cycle0 with preds.npy and probs.npy)"]
    _, run = next(iter(references.values()))
    try:
        dataset = run.dataset  # checked against the run's config; never downloads
    except (FileError, OSError, ValueError) as e:
        return [f"informativeness, examples: skipped (true labels unavailable: {e}; see --data-root)"]
    info, notes = informativeness(tree, dataset.train_y, references)
    rows = [(name, f"{100 * f:.0f}", float(v["curve"][0][j]), float(v["curve"][1][j]), int(v["curve"][2][j]))
            for name, v in info.items() for j, f in enumerate(FRACTIONS)]
    (out / "informativeness.csv").write_text(csv_text(["score", "top_pct", "acc_mean", "acc_std", "n_seeds"], rows))
    (out / "auroc.md").write_text(auroc_markdown(info, notes))
    report_plots.informativeness(FRACTIONS, info, out / "informativeness.png", tree.root.name)
    report_plots.examples(example_panels(run, dataset), out / "examples.png",
                          f"{tree.root.name}: pool of {run.dir.relative_to(tree.root)}")
    ranked = sorted((n for n in info if n not in ("random", "oracle")), key=lambda n: -info[n]["auroc"][0])
    return notes + ["AUROC (misclassified vs correct pool samples): "
                    + ", ".join(f"{n} {info[n]['auroc'][0]:.3f}" for n in ranked)]


# ---- command line -----------------------------------------------------------------------------------

def summary(tree, stats, alldata, order):
    n = len(tree.seeds)
    lines = [f"{tree.root}: seeds {' '.join(map(str, tree.seeds))}, cycles 0-{tree.cycles[-1]}",
             f"methods: {' '.join(sorted(tree.chains))}",
             "final cycle: test accuracy % (mean ± std over seeds) | relative to all data"]
    for m in order:
        s = stats[m]
        rel = cell(100 * s["rel"][0], 100 * s["rel"][1], s["rel"][2], n, "%")
        lines.append(f"  {m:<18} {cell(s['mean'][-1], s['std'][-1], s['n'][-1], n):<32} | {rel}")
    lines.append(f"  {'all data':<18} {cell(*alldata, n)}")
    missing = incomplete_lines(tree)
    return lines + (["incomplete:"] + [f"  {line}" for line in missing] if missing else ["every chain complete"])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tree", help="a run tree of run_all.sh: runs/<dataset>")
    p.add_argument("--out", default=None, help="output folder (default: results/<tree name>)")
    p.add_argument("--data-root", default=None, help="dataset cache folder for true labels and images "
                                                     "(default: the runs' config.json data_root)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    tree = scan_tree(args.tree)
    out = Path(args.out or Path("results") / tree.root.name)
    out.mkdir(parents=True, exist_ok=True)
    alldata_seeds = alldata_acc(tree)
    alldata = mean_std(alldata_seeds)
    stats = {m: chain_stats(*matrices(tree, chain), alldata_seeds) for m, chain in tree.chains.items()}
    order = sort_by_final({m: s["mean"][-1] for m, s in stats.items()})
    header = ["method", "cycle", "labeled_pct", "acc_mean", "acc_std", "n_seeds"]
    (out / "learning_curves.csv").write_text(csv_text(header, curve_rows(stats, alldata)))
    report_plots.learning_curves({m: stats[m] for m in order}, alldata, out / "learning_curves.png", tree.root.name)
    (out / "results.md").write_text(results_markdown(stats, alldata, len(tree.seeds), tree.root.name))
    try:
        pool_lines = analyse_pool(tree, args.data_root, out)
    except FileError as e:  # a damaged cycle0 costs the pool analysis, not the curves and table
        pool_lines = [f"informativeness, examples: skipped ({e})"]
    lines = summary(tree, stats, alldata, order) + pool_lines
    print("\n".join(lines + [f"wrote {out}/: {' '.join(sorted(p.name for p in out.iterdir()))}"]))


if __name__ == "__main__":
    try:
        main()
    except FileError as e:
        exit_with_error(e)
