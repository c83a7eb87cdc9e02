"""The run tree of run_all.sh as report.py reads it: which runs exist and finished, and whether
they are one protocol (no files written).

  <tree>/initial/seed<S>/universe.npy            its length is the denominator of "% labeled"
  <tree>/<method>/seed<S>/cycle<C>/metrics.json  test_acc, n_labeled (a cycle is done when present)
  <tree>/<method>/seed<S>/cycle<C>/config.json   the training's identity and the commit that made it
  <tree>/cycle0/seed<S>/                         the seed's shared cycle 0; <method>/seed<S>/cycle0 links to it
  <tree>/alldata/seed<S>/metrics.json            the all-data reference (paper, Table 1)
  <tree>/<method>/seed<S>/cycle<C>/labeled_config.json  the acquisition's options (method_labels)
"""
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from files import FileError, load_json, load_npy

SHARED_CYCLE0 = "cycle0"  # <tree>/cycle0/seed<S>: the one cycle-0 training of a seed, shared by its methods
NOT_METHODS = ("initial", "alldata", "logs", SHARED_CYCLE0)  # folders of a tree that are no method
VAAL_OFFICIAL_EPOCHS = 100  # baselines/vaal.py's default --vaal-epochs, the official code's


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
