"""The initial model's pool for report.py: informativeness (paper, section 3.2, Fig. 3), AUROC, examples (Fig. 1).

Reads, for each seed, cycle 0's pool predictions: preds.npy and probs.npy of <tree>/cycle0/seed<S>, the
shared cycle-0 training (each <method>/seed<S>/cycle0 links to it). Scored there: random, oracle, dispersion (Eq. 1-2), margin, entropy,
least_confidence (the baselines/ functions). Other methods need their model or extra training:
  saved scores  cycle1/labeled_scores.npy, against the chain's own cycle0 model (BALD, VAAL, ...)
  query order   cycle1/labeled_selected.npy, the picks best first, for greedy methods (ORDER_ONLY) and any
                method without saved scores; known only up to the budget, so the curve stops there
                (NaN, empty in the CSV) and there is no AUROC
  a set         cycle1/labeled_selected.npy of a method whose picks are a set (PICKS_ARE_A_SET: CoreSet, whose
                order is coreset.py re-sorting the program's set farthest-first): its accuracy on all its
                picks, one point at its budget (its share of the pool as top_pct in the CSVs), no AUROC
Ties in a score count as broken uniformly at random (top_k's way). A score whose inputs are missing or
unfit (dispersion from fewer than 2 recorded epochs, where every sample ties; a file of the wrong
shape) is left out for that seed and listed in auroc.md and the summary, never scored on ties.
"""
import numpy as np

from baselines import METHODS
from baselines.dispersion import label_dispersion
from files import FileError, load_indices, load_json, load_npy
from reporting import plots
from reporting.stats import (
    COMPUTED,
    FRACTIONS,
    auroc,
    mean_std,
    order_accuracy,
    pick_examples,
    pool_scores,
    top_accuracy,
)
from reporting.tables import auroc_markdown, csv_text
from reporting.tree import SHARED_CYCLE0
from rundata import RunData

# Methods whose labeled_scores.npy, if any, is not the order they query in: they pick greedily, each
# pick depending on the previous ones (k-center's scores are only the distances before the first pick).
# Their informativeness follows cycle1/labeled_selected.npy.
ORDER_ONLY = tuple(name for name, module in METHODS.items() if not getattr(module, "SCORES_ARE_QUERY_ORDER", True))
# Methods whose picks are a set, in an order that means nothing (CoreSet's program chooses a set; coreset.py
# re-sorts it farthest-first): scored by their accuracy on all their picks, at their budget only.
SET_ONLY = tuple(name for name, module in METHODS.items() if getattr(module, "PICKS_ARE_A_SET", False))
SET_SUFFIX = " (a set, at its budget)"
LABEL_NOTE = ("A name with [ ]: a setting that differs from the paper's. vaal [N epochs]: VAAL's VAE and "
              "discriminator trained N epochs (--vaal-epochs N; official code: 100), a far shorter VAAL training "
              "than the paper's. bald [VARIANT]: BALD's stochastic passes as --bald-variant VARIANT makes them, "
              "not the authors' (baselines/bald.py).")


def has_pool_predictions(run):
    return all((run / name).is_file() for name in ("metrics.json", "preds.npy", "probs.npy"))


def reference_runs(tree, data_root=None):
    """{seed: RunData}: the seed's shared cycle0 (<tree>/cycle0/seed<S>), finished with preds.npy and
    probs.npy; seeds without one are left out."""
    runs = {seed: tree.root / SHARED_CYCLE0 / f"seed{seed}" for seed in tree.seeds}
    return {seed: RunData(run, data_root) for seed, run in runs.items() if has_pool_predictions(run)}


def computed_scores(run, correct):
    """{name: [P] scores} report.py computes on a reference run, and {name: why missing}: dispersion
    needs 2 or more recorded epochs (with one, every sample has dispersion 0 and all tie)."""
    scores = pool_scores(run.preds, run.probs, correct)
    if len(run.preds) >= 2:
        return scores, {}
    del scores["dispersion"]
    return scores, {"dispersion": f"{run.dir}/preds.npy has {len(run.preds)} recorded epoch, 2 or more needed "
                                  "(this cycle 0 was trained with --track-last 1?)"}


def query_order(run, selected_file):
    """[B] pool positions of the training indices in labeled_selected.npy, best first."""
    selected = load_indices(selected_file, run.n_train)
    where = {int(i): k for k, i in enumerate(run.pool)}
    if any(int(i) not in where for i in selected):
        raise FileError(f"{selected_file}: indices outside the pool of {run.dir}")
    return np.array([where[int(i)] for i in selected], dtype=int)


def chain_score(tree, seed, method, labels, reference):
    """(name, [F] curve in %, AUROC, at_budget) from what acquire.py saved for a method report.py does not
    score, against its chain's own cycle0 model (the already loaded `reference` run when the chain links to
    the shared cycle 0); at_budget: (share of the pool %, accuracy % on all its picks) for SET_ONLY methods,
    whose curve is then all NaN, else None. FileError when its files are missing or unfit."""
    run_dir, cycle1 = tree.run_dir(method, seed, 0), tree.run_dir(method, seed, 1)
    if not run_dir.exists():
        raise FileError(f"{run_dir}: missing (run_all.sh links it to ../../{SHARED_CYCLE0}/seed{seed} "
                        "when the chain starts)")
    if not ((run_dir / "metrics.json").is_file() and (run_dir / "probs.npy").is_file()):
        raise FileError(f"{run_dir}: no finished cycle 0 with probs.npy")
    run = reference if run_dir.resolve() == reference.dir.resolve() else RunData(run_dir)
    correct = run.probs.argmax(1) == labels[run.pool]
    scores_file, selected_file = cycle1 / "labeled_scores.npy", cycle1 / "labeled_selected.npy"
    if method in ORDER_ONLY or not scores_file.is_file():
        if not selected_file.is_file():
            raise FileError(f"{cycle1}: no labeled_scores.npy or labeled_selected.npy")
        picks = query_order(run, selected_file)
        if method in SET_ONLY:
            at_budget = 100 * len(picks) / len(run.pool), 100 * correct[picks].mean()
            return method + SET_SUFFIX, np.full(len(FRACTIONS), np.nan), np.nan, at_budget
        return f"{method} (query order)", 100 * order_accuracy(correct, picks), np.nan, None
    scores = load_npy(scores_file, ndim=1, kind="float")
    if len(scores) != len(run.pool):
        raise FileError(f"{scores_file}: {len(scores)} scores for a pool of {len(run.pool)}")
    return f"{method} (saved)", 100 * top_accuracy(correct, scores), auroc(scores, ~correct), None


def seed_informativeness(tree, seed, run, labels):
    """{name: ([F] curve in %, AUROC, at_budget or None)} of every score for one seed, {name: why missing},
    pool accuracy %."""
    correct = run.probs.argmax(1) == labels[run.pool]
    scores, missing = computed_scores(run, correct)
    found = {name: (100 * top_accuracy(correct, s), auroc(s, ~correct), None) for name, s in scores.items()}
    for method in sorted(set(tree.chains) - set(COMPUTED)):
        try:
            name, curve, area, at_budget = chain_score(tree, seed, method, labels, run)
            found[name] = curve, area, at_budget
        except FileError as e:
            missing[method] = str(e)
    return found, missing, 100 * correct.mean()


def summarise(per_seed):
    """{seed: (curve, AUROC, at_budget)} of one score -> its info entry: "curve" and "auroc" (mean, std, n),
    "order_only", "per_seed" {seed: (curve, AUROC)}, and for a set "at_budget" {"share", "acc": (mean, std, n),
    "per_seed" {seed: accuracy}}."""
    entry = {"curve": mean_std(np.array([c for c, _, _ in per_seed.values()])),
             "auroc": mean_std(np.array([a for _, a, _ in per_seed.values()])),
             "order_only": False, "per_seed": {s: (c, a) for s, (c, a, _) in per_seed.items()}}
    budgets = {s: b for s, (_, _, b) in per_seed.items() if b is not None}
    if budgets:
        entry["at_budget"] = {"share": float(np.mean([share for share, _ in budgets.values()])),
                              "acc": mean_std(np.array([acc for _, acc in budgets.values()])),
                              "per_seed": {s: acc for s, (_, acc) in budgets.items()}}
    return entry


def informativeness(tree, labels, references=None):
    """{score: {"curve": (mean, std, n) of [F] accuracies in %, "auroc": (mean, std, n), "order_only"}},
    notes, and the missing scores [(name, seed, why)].

    references: reference_runs(tree), if already found (their loaded arrays are reused)."""
    references = reference_runs(tree) if references is None else references
    per_seed, missing, pool_acc = {}, [], []
    for seed, run in references.items():
        found, absent, accuracy = seed_informativeness(tree, seed, run, labels)
        for name, value in found.items():
            per_seed.setdefault(name, {})[seed] = value
        missing += [(name, seed, why.replace(f"{tree.root}/", "")) for name, why in absent.items()]
        pool_acc.append(accuracy)
    info = {name: {**summarise(v), "order_only": name.endswith("(query order)")} for name, v in per_seed.items()}
    used = ", ".join(str(run.dir.relative_to(tree.root)) for run in references.values())
    notes = [f"Model: cycle 0 (initial labeled set) of {used}; its accuracy on the pool: {np.mean(pool_acc):.2f}%."]
    if any(name.endswith("(saved)") for name in info):
        notes.append("\"(saved)\": the scores acquire.py saved for that method, against its own cycle0 model.")
    if any(v["order_only"] for v in info.values()):
        notes.append("\"(query order)\": the method's picks (cycle1/labeled_selected.npy, best first), against its "
                     "own cycle0 model; known only up to the budget, so the curve stops there and has no AUROC.")
    if any("at_budget" in v for v in info.values()):
        notes.append(f"\"{SET_SUFFIX.strip()[1:-1]}\": CoreSet's program chooses a set of centres; the order of its "
                     "picks in labeled_selected.npy is coreset.py re-sorting that set farthest-first, not an order "
                     "it queries in, so only its accuracy on all its picks, at its budget, is shown (no curve "
                     "below the budget, no AUROC).")
    no_model = [str(s) for s in tree.seeds if s not in references]
    if no_model:
        notes.append(f"Seed {', '.join(no_model)}: no finished cycle 0 with preds.npy and probs.npy, left out.")
    return info, notes, missing


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


def relabel(info, labels):
    """info with each score named as `labels` {method: shown name} says: "vaal (saved)" -> "vaal [1 epoch] (saved)"."""
    def shown(name):
        method, _, rest = name.partition(" ")
        return " ".join(filter(None, [labels.get(method, method), rest]))
    return {shown(name): v for name, v in info.items()}


def analyse_pool(tree, data_root, out, labels=None):
    """Write informativeness.png/.csv, informativeness_seeds.csv (each seed's curve and AUROC, for paired
    comparisons), auroc.md and examples.png, each score named as `labels` {method: name} says; return summary
    lines."""
    references = reference_runs(tree, data_root)
    if not references:
        return ["informativeness, examples: skipped (no finished cycle0 with preds.npy and probs.npy)"]
    run = next(iter(references.values()))
    try:
        dataset = run.dataset  # checked against the run's config; never downloads
    except (FileError, OSError, ValueError) as e:
        return [f"informativeness, examples: skipped (true labels unavailable: {e}; see --data-root)"]
    info, notes, missing = informativeness(tree, dataset.train_y, references)
    info = relabel(info, labels or {})
    notes = notes + ([LABEL_NOTE] if labels else [])
    rows, seed_rows = csv_rows(info)
    (out / "informativeness.csv").write_text(csv_text(["score", "top_pct", "acc_mean", "acc_std", "n_seeds"], rows))
    (out / "informativeness_seeds.csv").write_text(csv_text(["score", "seed", "top_pct", "acc", "auroc"], seed_rows))
    (out / "auroc.md").write_text(auroc_markdown(info, notes, missing))
    plots.informativeness(FRACTIONS, info, out / "informativeness.png", tree.root.name)
    plots.examples(example_panels(run, dataset), out / "examples.png",
                          f"{tree.root.name}: pool of {run.dir.relative_to(tree.root)}")
    if missing:
        notes = notes + ["informativeness, missing (left out, never scored on ties):",
                         *(f"  {name} seed{seed}: {why}" for name, seed, why in missing)]
    return notes + [auroc_line(info)]


def csv_rows(info):
    """Rows of informativeness.csv (mean over seeds) and informativeness_seeds.csv: a score's accuracy at
    each top p%; a set's (SET_ONLY) at its budget only, top_pct being its share of the pool."""
    rows, seed_rows = [], []
    for name, v in info.items():
        if "at_budget" in v:
            share, acc = f"{v['at_budget']['share']:.2f}", v["at_budget"]["acc"]
            rows.append((name, share, float(acc[0]), float(acc[1]), int(acc[2])))
            seed_rows += [(name, seed, share, float(a), np.nan) for seed, a in v["at_budget"]["per_seed"].items()]
            continue
        rows += [(name, f"{100 * f:.0f}", float(v["curve"][0][j]), float(v["curve"][1][j]), int(v["curve"][2][j]))
                 for j, f in enumerate(FRACTIONS)]
        seed_rows += [(name, seed, f"{100 * f:.0f}", float(curve[j]), float(area))
                      for seed, (curve, area) in v["per_seed"].items() for j, f in enumerate(FRACTIONS)]
    return rows, seed_rows


def auroc_line(info):
    """One summary line: each score's mean AUROC, best first; the query-order ones have none."""
    ranked = sorted((n for n in info if n not in ("random", "oracle") and info[n]["auroc"][2]),
                    key=lambda n: -info[n]["auroc"][0])
    order_only = [n.split(" ")[0] for n in sorted(info) if info[n]["order_only"]]
    sets = [n.split(" ")[0] for n in sorted(info) if "at_budget" in info[n]]
    return ("AUROC (misclassified vs correct pool samples): " + ", ".join(f"{n} {info[n]['auroc'][0]:.3f}" for n in ranked)
            + (f"; n/a (query order known only up to the budget): {', '.join(order_only)}" if order_only else "")
            + (f"; n/a (a set, scored at its budget only): {', '.join(sets)}" if sets else ""))
