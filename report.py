"""Report on a run tree written by run_all.sh: learning curves, results table, informativeness, examples.

    python report.py runs/<dataset> [--out REPORT] [--data-root DIR] [--vaal-epochs N]

Reads (README, "Files a run writes"):
  <tree>/initial/seed<S>/universe.npy                   its length is the denominator of "% labeled"
  <tree>/<method>/seed<S>/cycle<C>/metrics.json         test_acc, n_labeled (a cycle is done when present)
  <tree>/cycle0/seed<S>/{pool,preds,probs}.npy          the shared initial model's pool predictions; each
                                                        <method>/seed<S>/cycle0 links to it (older trees:
                                                        a real cycle0 folder per method, read the same way)
  <tree>/<method>/seed<S>/cycle1/labeled_scores.npy     a method's own saved scores (model-based methods)
  <tree>/<method>/seed<S>/cycle1/labeled_selected.npy   the training indices it queried, best first
  <tree>/<method>/seed<S>/cycle<C>/labeled_config.json  the method's options, where recorded: a VAAL of other
                                                        than 100 epochs is named "vaal [N epochs]", a BALD of
                                                        another variant than the authors' "bald [VARIANT]"
  <tree>/alldata/seed<S>/metrics.json                   the all-data reference (paper, Table 1)
  true labels and images through data.load_dataset (config.json's dataset; --data-root)
Writes into --out (default runs/<dataset>-report, beside the tree), and a summary on stdout:
  learning_curves.png/.csv  test accuracy vs % labeled, mean ± 1 std over seeds (paper, Fig. 4)
  results.md                accuracy per cycle; the last one relative to all data (paper, Table 1);
                            that share at every cycle; AUBC per method; paired differences to random
                            with 95% t-intervals
  informativeness.png/.csv  the initial model's accuracy on the top p% of the pool by each score
                            (paper, section 3.2, Fig. 3): the lower, the more informative
  informativeness_seeds.csv the same and the AUROC for each seed (for paired comparisons)
  auroc.md                  AUROC of each score for telling misclassified pool samples from correct ones;
                            Fig. 3 as a table (top 1/2/5/10/20%); dispersion minus each score, paired
  examples.png              pool images with their last 5 predicted labels, confidence and dispersion (Fig. 1)

Conventions:
  std       sample standard deviation over seeds (ddof=1); one seed has none. (With 3 seeds ddof=0
            would be sqrt(2/3) = 0.82 times smaller.)
  relative  mean over seeds of acc / all-data acc of the same seed, over the seeds that have both.
  missing   a (method, cycle) mean uses the seeds whose run finished; where that is k < N of the N
            seeds in the tree the table says "(k of N seeds)", and the summary lists what is missing.
  AUBC      per seed over the seeds whose every cycle finished (the table says how many), then mean ± std.
  paired    method - random on the same seed (both start from the seed's initial labeled set), mean and
            95% t-interval over the seeds where both finished; "*" where it excludes 0, n/a under 2 seeds.
  provenance  results.md names the commits of the trainings (config.json) and flags a chain whose
            cycles differ in a training setting or whose cycle 0 is not the seed's shared one.
  informativeness  scored on each seed's cycle 0 (the shared <tree>/cycle0/seed<S> where it exists);
            a method's own saved scores, or its query order up to the budget for greedy methods, or
            for CoreSet (a set, its order an artefact) its accuracy on all its picks, at the budget only;
            a score with missing or unfit inputs is listed, never scored on ties (report_pool.py).
The numbers are pure functions in report_stats.py; the pool analysis is in report_pool.py; the figures
are drawn by report_plots.py.
"""
import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import report_plots
from files import FileError, exit_with_error, load_json, load_npy
from report_pool import LABEL_NOTE, SHARED_CYCLE0, analyse_pool
from report_stats import (
    aubc_header,
    aubc_markdown,
    cell,
    chain_stats,
    csv_text,
    curve_rows,
    diff_cell,
    mean_std,
    missing_cycles,
    paired_differences,
    paired_markdown,
    relative_markdown,
    results_markdown,
    sort_by_final,
)

NOT_METHODS = ("initial", "alldata", "logs", SHARED_CYCLE0)  # folders of a tree that are no method
VAAL_OFFICIAL_EPOCHS = 100  # baselines/vaal.py's default --vaal-epochs, the official code's

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
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in NOT_METHODS):
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


def recorded(tree, method, option):
    """The values of one of a method's options over its chain's cycle<C>/labeled_config.json (acquire.py's
    record of what an acquisition was made from), sorted; [] where none is recorded."""
    records = (tree.root / method).glob("seed*/cycle*/labeled_config.json") if method in tree.chains else []
    values = set()
    for path in records:
        config = load_json(path)
        identity = config.get("identity", {}) if isinstance(config, dict) else {}
        values.add(identity.get("options", {}).get(option))
    return sorted(values - {None})


def method_labels(tree, vaal_epochs=None):
    """{method: the name every table and figure shows}, where a setting differs from the paper's:
    a VAAL trained other than the official 100 epochs is "vaal [N epochs]" (N recorded, else --vaal-epochs:
    trees without the record; quick and medium presets: 1); a BALD recorded with another variant than the
    authors' is "bald [VARIANT]" (trees without the record before issue 31: acquisition-dropout, 20 passes)."""
    labels = {}
    epochs = recorded(tree, "vaal", "vaal_epochs") or [vaal_epochs or VAAL_OFFICIAL_EPOCHS]
    if epochs != [VAAL_OFFICIAL_EPOCHS]:
        labels["vaal"] = f"vaal [{'/'.join(map(str, epochs))} epoch{'s' * (epochs != [1])}]"
    variants = recorded(tree, "bald", "bald_variant")
    if variants and variants != ["authors"]:
        labels["bald"] = f"bald [{'/'.join(variants)}]"
    return labels


def alldata_acc(tree):
    return np.array([100 * tree.alldata[s]["test_acc"] if tree.alldata.get(s) else np.nan for s in tree.seeds])


def incomplete_lines(tree):
    lines = [f"{method} seed{seed}: cycle {', '.join(map(str, miss))} missing"
             + (f" (cycle {', '.join(map(str, unfinished))} started, not finished)" if unfinished else "")
             for method, chain in tree.chains.items()
             for seed, (miss, unfinished) in missing_cycles(chain, tree.seeds, tree.cycles).items()]
    no_alldata = [str(s) for s in tree.seeds if not tree.alldata.get(s)]
    return lines + ([f"alldata: seed {', '.join(no_alldata)} missing"] if no_alldata else [])


# ---- provenance: is the tree one protocol, and which code made it ------------------------------------

TRACKING = ("labeled_sha256", "track_every", "track_last", "no_track")  # may differ between cycles


def run_configs(tree):
    """{run folder (resolved, so the shared cycle 0 appears once): config.json dict} of every training
    in the tree that has one."""
    runs = [tree.run_dir(m, s, c) for m, ch in tree.chains.items() for s, cy in ch.items() for c in cy]
    runs += [tree.root / "alldata" / f"seed{s}" for s in tree.alldata]
    configs = {}
    for run in runs:
        if (run / "config.json").is_file():
            config = load_json(run / "config.json")
            configs[run.resolve()] = config if isinstance(config, dict) else {}
    return configs


def protocol_warnings(tree, configs):
    """One line per chain whose cycles were trained with differing settings (beyond the labeled set
    and the pool tracking), or whose cycle 0 is not the seed's shared cycle-0 training."""
    warnings = []
    for method, chain in tree.chains.items():
        for seed in chain:
            shared = tree.root / SHARED_CYCLE0 / f"seed{seed}"
            cycle0 = tree.run_dir(method, seed, 0)
            if shared.is_dir() and cycle0.exists() and cycle0.resolve() != shared.resolve():
                warnings.append(f"{method} seed{seed}: cycle0 is not the seed's shared {SHARED_CYCLE0}/seed{seed}")
            runs = {c: tree.run_dir(method, seed, c).resolve() for c in chain}
            settings = {c: {k: v for k, v in configs[run].get("identity", {}).items() if k not in TRACKING}
                        for c, run in runs.items() if run in configs}
            first = min(settings, default=None)
            for c, values in settings.items():
                differing = sorted(k for k in set(values) | set(settings[first]) if values.get(k) != settings[first].get(k))
                if differing:
                    warnings.append(f"{method} seed{seed}: cycle{c} trained with other {', '.join(differing)} "
                                    f"than cycle{first}")
    return warnings


def commit_lines(configs):
    """The code that made the runs: each commit (+ 'with uncommitted changes') and how many runs."""
    counts = {}
    for config in configs.values():
        git = config.get("environment", {}).get("git", {})
        name = str(git.get("commit", "unknown"))[:12] + (" with uncommitted changes" if git.get("dirty") else "")
        counts[name] = counts.get(name, 0) + 1
    return [f"{name}: {n} run{'s' * (n != 1)}" for name, n in sorted(counts.items())]


def provenance_markdown(warnings, commits):
    lines = ["## Provenance", "", "Commits of the trainings summarised here (config.json):", ""]
    lines += [f"- {line}" for line in commits] or ["- none recorded"]
    if warnings:
        lines += ["", "**Not one protocol** (the comparison mixes settings):", ""] + [f"- {w}" for w in warnings]
    return "\n".join(lines) + "\n"


# ---- command line -----------------------------------------------------------------------------------

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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tree", help="a run tree of run_all.sh: runs/<dataset>")
    p.add_argument("--out", default=None, help="output folder (default: <tree>-report beside the tree, "
                                               "e.g. runs/cifar10-report)")
    p.add_argument("--data-root", default=None, help="dataset cache folder for true labels and images "
                                                     "(default: the runs' config.json data_root)")
    p.add_argument("--vaal-epochs", type=int, default=None,
                   help="VAAL's --vaal-epochs, for trees whose acquisitions did not record it (quick and medium "
                        f"presets: 1); tables then name it \"vaal [N epochs]\" (default: {VAAL_OFFICIAL_EPOCHS})")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    tree = scan_tree(args.tree)
    out = Path(args.out) if args.out else tree.root.with_name(tree.root.name + "-report")
    out.mkdir(parents=True, exist_ok=True)
    alldata_seeds = alldata_acc(tree)
    alldata = mean_std(alldata_seeds)
    labels = method_labels(tree, args.vaal_epochs)
    stats = {labels.get(m, m): chain_stats(*matrices(tree, chain), alldata_seeds) for m, chain in tree.chains.items()}
    order = sort_by_final({m: s["mean"][-1] for m, s in stats.items()})
    header = ["method", "cycle", "labeled_pct", "acc_mean", "acc_std", "n_seeds"]
    (out / "learning_curves.csv").write_text(csv_text(header, curve_rows(stats, alldata)))
    report_plots.learning_curves({m: stats[m] for m in order}, alldata, out / "learning_curves.png", tree.root.name)
    n_seeds, paired = len(tree.seeds), paired_differences(stats)
    configs = run_configs(tree)
    warnings, commits = protocol_warnings(tree, configs), commit_lines(configs)
    tables = [results_markdown(stats, alldata, n_seeds, tree.root.name), relative_markdown(stats, n_seeds),
              aubc_markdown(stats, n_seeds), paired_markdown(stats, paired, n_seeds),
              provenance_markdown(warnings, commits)]
    if labels:
        tables.append(LABEL_NOTE + "\n")
    (out / "results.md").write_text("\n".join(tables))
    try:
        pool_lines = analyse_pool(tree, args.data_root, out, labels)
    except FileError as e:  # a damaged cycle0 costs the pool analysis, not the curves and table
        pool_lines = [f"informativeness, examples: skipped ({e})"]
    lines = summary(tree, stats, alldata, order, paired) + pool_lines + ["commits: " + "; ".join(commits or ["none recorded"])]
    lines += [f"warning: {w}" for w in warnings]
    print("\n".join(lines + [f"wrote {out}/: {' '.join(sorted(p.name for p in out.iterdir()))}"]))


if __name__ == "__main__":
    try:
        main()
    except FileError as e:
        exit_with_error(e)
