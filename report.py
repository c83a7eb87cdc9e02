"""Report on a run tree written by run_all.sh: learning curves, results table, informativeness, examples.

    python report.py runs/<dataset> [--out REPORT] [--data-root DIR] [--vaal-epochs N]

Reads (README, "Files a run writes"):
  <tree>/initial/seed<S>/universe.npy                   its length is the denominator of "% labeled"
  <tree>/<method>/seed<S>/cycle<C>/metrics.json         test_acc, n_labeled (a cycle is done when present)
  <tree>/cycle0/seed<S>/{pool,preds,probs}.npy          the shared initial model's pool predictions; each
                                                        <method>/seed<S>/cycle0 links to it
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
  informativeness  scored on each seed's shared cycle 0 (<tree>/cycle0/seed<S>); a method's own saved
            scores, or its query order up to the budget for greedy methods, or for CoreSet (a set, its
            order an artefact) its accuracy on all its picks, at the budget only; a score with missing
            or unfit inputs is listed, never scored on ties (reporting/pool.py).
The work is done in reporting/: tree.py reads the tree, stats.py computes (pure functions on arrays),
tables.py writes the markdown, CSV and summary, pool.py analyses the initial model's pool, plots.py
draws the figures.
"""
import argparse
from pathlib import Path

from files import FileError, exit_with_error
from reporting import plots
from reporting.pool import LABEL_NOTE, analyse_pool
from reporting.stats import chain_stats, mean_std, paired_differences, sort_by_final
from reporting.tables import (
    aubc_markdown,
    csv_text,
    curve_rows,
    paired_markdown,
    provenance_markdown,
    relative_markdown,
    results_markdown,
    summary,
)
from reporting.tree import (
    VAAL_OFFICIAL_EPOCHS,
    alldata_acc,
    commit_lines,
    matrices,
    method_labels,
    protocol_warnings,
    run_configs,
    scan_tree,
)


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
    labels = method_labels(tree, args.vaal_epochs)  # "vaal [1 epoch]", "bald [gal]": what differs from the paper
    stats = {labels.get(m, m): chain_stats(*matrices(tree, chain), alldata_seeds) for m, chain in tree.chains.items()}
    order = sort_by_final({m: s["mean"][-1] for m, s in stats.items()})
    header = ["method", "cycle", "labeled_pct", "acc_mean", "acc_std", "n_seeds"]
    (out / "learning_curves.csv").write_text(csv_text(header, curve_rows(stats, alldata)))
    plots.learning_curves({m: stats[m] for m in order}, alldata, out / "learning_curves.png", tree.root.name)
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
