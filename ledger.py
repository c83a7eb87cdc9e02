"""The ledger: a protocol's small files, kept in the repository between GPU windows (issue 28).

A ledger folder has run_all.sh's layout (README, "Files a run writes") but only what outlives a
window; weights and pool predictions never do:
  protocol.json                       run_all.sh's protocol record, plus "window": the protocol of
                                      window.py (methods, seeds, precision, default rates)
  rates.json                          measured seconds per unit kind, planning the next window
  windows.json                        one record per merged window: its units and their seconds
  initial/seed<S>/{universe,labeled}.npy          each seed's universe and initial labeled set
  cycle0/seed<S>/{config,metrics}.json            the shared cycle 0's training
  <method>/seed<S>/cycle<C>/labeled_selected.npy  C >= 1: the indices acquired, in pick order
  <method>/seed<S>/cycle<C>/labeled_config.json   C >= 1: what the acquisition was made from
  <method>/seed<S>/cycle<C>/{config,metrics}.json C >= 1: the cycle's training
  alldata/seed<S>/{config,metrics}.json           the all-data reference
A cycle's labeled set is not stored: it is the previous cycle's plus labeled_selected.npy
(checks.py verifies exactly that on the rebuilt tree).

A unit is what one window does without leaving weights behind: the shared cycle 0 of a seed and
every method's first acquisition from it; one method's cycle C (1 <= C < CYCLES) and its
acquisition of cycle C+1; a chain's last cycle (trained, evaluated, no acquisition); an all-data run.
"""
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from files import FileError, index_dtype, load_indices, load_json, save_npy

SHARED_CYCLE0 = "cycle0"


@dataclass(frozen=True)
class Unit:
    kind: str       # "cycle0", "chain" or "alldata"
    seed: int
    cycle: int = 0  # the cycle trained
    method: str = ""

    @property
    def name(self):
        if self.kind == "cycle0":
            return f"cycle0/seed{self.seed}"
        if self.kind == "alldata":
            return f"alldata/seed{self.seed}"
        return f"{self.method}/seed{self.seed}/cycle{self.cycle}"


def all_units(protocol):
    """Every unit of the protocol in the order windows take them: cycle by cycle (every method
    reaches cycle C before any reaches C+1), within a cycle seed by seed, methods in the
    protocol's order; the all-data runs last."""
    seeds, methods = protocol["seeds"], protocol["methods"]
    units = [Unit("cycle0", s) for s in seeds]
    units += [Unit("chain", s, c, m) for c in range(1, protocol["cycles"] + 1) for s in seeds for m in methods]
    return units + [Unit("alldata", s) for s in seeds]


def stage(unit, protocol):
    """The cycle a unit belongs to; the all-data runs come after the last cycle."""
    return protocol["cycles"] + 1 if unit.kind == "alldata" else unit.cycle


def run_dir(unit):
    """The training folder of a unit, relative to the tree."""
    return unit.name


def acquisitions(unit, protocol):
    """[(method, folder of the acquired cycle)] a unit writes after its training."""
    if unit.kind == "cycle0":
        return [(m, f"{m}/seed{unit.seed}/cycle1") for m in protocol["methods"]]
    if unit.kind == "chain" and unit.cycle < protocol["cycles"]:
        return [(unit.method, f"{unit.method}/seed{unit.seed}/cycle{unit.cycle + 1}")]
    return []


def unit_files(unit, protocol):
    """The ledger paths a finished unit adds."""
    files = [f"{run_dir(unit)}/config.json", f"{run_dir(unit)}/metrics.json"]
    for _, folder in acquisitions(unit, protocol):
        files += [f"{folder}/labeled_selected.npy", f"{folder}/labeled_config.json"]
    return files


def is_done(ledger, unit, protocol):
    """True when every file of the unit is in the ledger; one error line when only some are."""
    present = [(Path(ledger) / f).is_file() for f in unit_files(unit, protocol)]
    if any(present) and not all(present):
        missing = [f for f, p in zip(unit_files(unit, protocol), present) if not p]
        raise FileError(f"{ledger}: unit {unit.name} is half there ({missing[0]} missing); "
                        f"a ledger only ever gains whole units")
    return all(present)


def pending_units(ledger, protocol):
    return [u for u in all_units(protocol) if not is_done(ledger, u, protocol)]


# ---- sizes: what a unit trains, for the time estimates and the checks --------------------------------

def budget(protocol, n_universe):
    """Indices acquired per cycle: STEP of the universe (run_all.sh)."""
    return int(round(protocol["step"] * n_universe))


def training_flags(unit, protocol):
    """train.py's pool-tracking flags of a unit, as run_all.sh passes them."""
    from baselines import train_args

    if unit.kind == "alldata" or (unit.kind == "chain" and unit.cycle == protocol["cycles"]):
        return ["--no-track"]
    return train_args(unit.method) if unit.kind == "chain" else []


def tracked_epochs(unit, protocol):
    flags = training_flags(unit, protocol)
    return 0 if "--no-track" in flags else 1 if "--track-last" in flags else protocol["epochs"]


# ---- the labeled sets ------------------------------------------------------------------------------

def initial_sets(ledger, seed):
    """(universe, initial labeled set) of a seed."""
    folder = Path(ledger) / "initial" / f"seed{seed}"
    big = np.iinfo(np.int64).max
    return load_indices(folder / "universe.npy", big), load_indices(folder / "labeled.npy", big)


def labeled_set(ledger, seed, method, cycle):
    """Sorted labeled set of a chain's cycle: the initial set plus every acquisition up to it."""
    labeled = initial_sets(ledger, seed)[1]
    for c in range(1, cycle + 1):
        selected = load_indices(Path(ledger) / method / f"seed{seed}" / f"cycle{c}" / "labeled_selected.npy",
                                np.iinfo(np.int64).max)
        labeled = np.concatenate([labeled, selected])
    return np.sort(labeled)


# ---- a work tree in run_all.sh's layout, rebuilt from the ledger ----------------------------------

def rebuild(ledger, tree, protocol):
    """Write a run_all.sh tree at `tree` from the ledger: protocol.json, initial sets, every
    finished training's config/metrics, every chain's labeled.npy per acquired cycle (previous +
    labeled_selected.npy) with the acquisition's files, and the cycle0 links."""
    ledger, tree = Path(ledger), Path(tree)
    copy_file(ledger / "protocol.json", tree / "protocol.json")
    n_train = protocol["n_train"]
    for seed in protocol["seeds"]:
        for name in ("universe.npy", "labeled.npy"):
            copy_file(ledger / "initial" / f"seed{seed}" / name, tree / "initial" / f"seed{seed}" / name)
        for folder in (f"cycle0/seed{seed}", f"alldata/seed{seed}"):
            copy_training(ledger / folder, tree / folder)
        for method in protocol["methods"]:
            rebuild_chain(ledger, tree, protocol, seed, method, n_train)


def rebuild_chain(ledger, tree, protocol, seed, method, n_train):
    chain = tree / method / f"seed{seed}"
    chain.mkdir(parents=True, exist_ok=True)
    if not (chain / "cycle0").is_symlink():
        os.symlink(f"../../{SHARED_CYCLE0}/seed{seed}", chain / "cycle0")
    for cycle in range(1, protocol["cycles"] + 1):
        source = ledger / method / f"seed{seed}" / f"cycle{cycle}"
        if not (source / "labeled_selected.npy").is_file():
            break
        for name in ("labeled_selected.npy", "labeled_config.json"):
            copy_file(source / name, chain / f"cycle{cycle}" / name)
        labeled = labeled_set(ledger, seed, method, cycle)
        save_npy(chain / f"cycle{cycle}" / "labeled.npy", labeled.astype(index_dtype(n_train)))
        copy_training(source, chain / f"cycle{cycle}")


def copy_training(source, target):
    if (source / "metrics.json").is_file():
        copy_file(source / "config.json", target / "config.json")
        copy_file(source / "metrics.json", target / "metrics.json")


def copy_file(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(Path(source).read_bytes())


def read_protocol(ledger):
    """The window protocol a ledger was started with (protocol.json's "window")."""
    path = Path(ledger) / "protocol.json"
    if not path.is_file():
        raise FileError(f"{path}: no ledger here; start one with `python window.py init`")
    recorded = load_json(path)
    if not isinstance(recorded, dict) or not isinstance(recorded.get("window"), dict):
        raise FileError(f"{path}: not a ledger's protocol (no \"window\" record)")
    return recorded["window"]


def json_bytes(obj):
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


