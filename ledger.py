"""The ledger: a protocol's small files, kept in the repository between GPU windows (issue 28).

A ledger folder has run_all.sh's layout (README, "Files a run writes") but only what outlives a
window; weights and pool predictions never do:
  protocol.json                       run_all.sh's protocol record, plus "window": the protocol of
                                      window.py (methods, seeds, precision, sizes)
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
A method in the protocol's "acquire_alone" (VAAL) reads only the labeled set, the pool and the
images, never the trained network (baselines/vaal.py), so its acquisition is a unit of its own,
from the ledger's files: it then fits a window that it would not fit with a training.
"""
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from baselines import METHODS
from files import FileError, index_dtype, load_indices, load_json, save_npy

SHARED_CYCLE0 = "cycle0"


@dataclass(frozen=True)
class Unit:
    kind: str       # "cycle0", "chain", "acquire" or "alldata"
    seed: int
    cycle: int = 0  # the cycle trained; for "acquire", the cycle acquired
    method: str = ""

    @property
    def name(self):
        if self.kind in ("cycle0", "alldata"):
            return f"{self.kind}/seed{self.seed}"
        chain = f"{self.method}/seed{self.seed}/cycle{self.cycle}"
        return f"{chain}/acquisition" if self.kind == "acquire" else chain


def all_units(protocol):
    """Every unit of the protocol in the order windows take them: cycle by cycle (every method
    reaches cycle C before any reaches C+1), within a cycle seed by seed, methods in the
    protocol's order (an acquisition of its own right after its method's training); the all-data
    runs last."""
    seeds, methods, cycles = protocol["seeds"], protocol["methods"], protocol["cycles"]
    alone = [m for m in methods if m in protocol["acquire_alone"]]
    units = [u for s in seeds for u in [Unit("cycle0", s)] + [Unit("acquire", s, 1, m) for m in alone]]
    for c in range(1, cycles + 1):
        for s in seeds:
            for m in methods:
                units.append(Unit("chain", s, c, m))
                if m in alone and c < cycles:
                    units.append(Unit("acquire", s, c + 1, m))
    return units + [Unit("alldata", s) for s in seeds]


def stage(unit, protocol):
    """The cycle a unit belongs to (an acquisition: the cycle it scores); the all-data runs come
    after the last cycle."""
    return protocol["cycles"] + 1 if unit.kind == "alldata" else unit.cycle - (unit.kind == "acquire")


def requires(unit, protocol):
    """The unit whose files this one starts from, or None."""
    if unit.kind in ("cycle0", "alldata"):
        return None
    if unit.kind == "acquire" or unit.method not in protocol["acquire_alone"]:
        trained = unit.cycle - 1  # the training it scores, or the one whose unit acquired its labeled set
        return Unit("cycle0", unit.seed) if trained == 0 else Unit("chain", unit.seed, trained, unit.method)
    return Unit("acquire", unit.seed, unit.cycle, unit.method)


def run_dir(unit):
    """The training folder of a unit, relative to the tree."""
    return unit.name


def acquisitions(unit, protocol):
    """[(method, folder of the acquired cycle)] a unit writes (after its training, if it trains)."""
    alone = protocol["acquire_alone"]
    if unit.kind == "cycle0":
        return [(m, f"{m}/seed{unit.seed}/cycle1") for m in protocol["methods"] if m not in alone]
    if unit.kind == "chain" and unit.cycle < protocol["cycles"] and unit.method not in alone:
        return [(unit.method, f"{unit.method}/seed{unit.seed}/cycle{unit.cycle + 1}")]
    if unit.kind == "acquire":
        return [(unit.method, f"{unit.method}/seed{unit.seed}/cycle{unit.cycle}")]
    return []


def unit_files(unit, protocol):
    """The ledger paths a finished unit adds."""
    files = [] if unit.kind == "acquire" else [f"{run_dir(unit)}/config.json", f"{run_dir(unit)}/metrics.json"]
    for _, folder in acquisitions(unit, protocol):
        files += [f"{folder}/labeled_selected.npy", f"{folder}/labeled_config.json"]
    return files


def scored_run(unit):
    """The training folder an acquisition unit scores (the shared one for cycle 0)."""
    trained = unit.cycle - 1
    return f"cycle0/seed{unit.seed}" if trained == 0 else f"{unit.method}/seed{unit.seed}/cycle{trained}"


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


def done_names(ledger, protocol):
    return {u.name for u in all_units(protocol) if is_done(ledger, u, protocol)}


# ---- sizes: what a unit trains, for the time estimates and the checks --------------------------------

def budget(protocol, n_universe):
    """Indices acquired per cycle: STEP of the universe (run_all.sh)."""
    return int(round(protocol["step"] * n_universe))


def training_flags(unit, protocol):
    """train.py's pool-tracking flags of a unit, as run_all.sh passes them: the last cycle and the
    all-data run track nothing; a method's later cycles record every epoch only if it reads them
    (TRACKS_EVERY_EPOCH), else the final softmax (--track-last 1, which changes nothing in training)."""
    if unit.kind == "alldata" or (unit.kind == "chain" and unit.cycle == protocol["cycles"]):
        return ["--no-track"]
    if unit.kind != "chain" or getattr(METHODS[unit.method], "TRACKS_EVERY_EPOCH", False):
        return []
    return ["--track-last", "1"]


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

def rebuild(ledger, tree, protocol, data=None):
    """Write a run_all.sh tree at `tree` from the ledger: protocol.json, initial sets, every
    finished training's config/metrics with its labeled.npy and pool.npy, every chain's labeled.npy
    per acquired cycle (previous + labeled_selected.npy) with the acquisition's files, and the
    cycle0 links. data: {"dataset": ..., "data_root": ...} replaces those of each config.json
    copied into the tree (the paths of this machine, for acquire.py; the identity stays)."""
    ledger, tree = Path(ledger), Path(tree)
    copy_file(ledger / "protocol.json", tree / "protocol.json")
    for seed in protocol["seeds"]:
        universe, initial = initial_sets(ledger, seed)
        for name in ("universe.npy", "labeled.npy"):
            copy_file(ledger / "initial" / f"seed{seed}" / name, tree / "initial" / f"seed{seed}" / name)
        copy_training(ledger / f"cycle0/seed{seed}", tree / f"cycle0/seed{seed}", initial, universe, protocol, data)
        copy_training(ledger / f"alldata/seed{seed}", tree / f"alldata/seed{seed}", universe, universe, protocol, data)
        for method in protocol["methods"]:
            rebuild_chain(ledger, tree, protocol, seed, method, data)


def rebuild_chain(ledger, tree, protocol, seed, method, data):
    chain = tree / method / f"seed{seed}"
    chain.mkdir(parents=True, exist_ok=True)
    if not (chain / "cycle0").is_symlink():
        os.symlink(f"../../{SHARED_CYCLE0}/seed{seed}", chain / "cycle0")
    universe = initial_sets(ledger, seed)[0]
    for cycle in range(1, protocol["cycles"] + 1):
        source = ledger / method / f"seed{seed}" / f"cycle{cycle}"
        if not (source / "labeled_selected.npy").is_file():
            break
        for name in ("labeled_selected.npy", "labeled_config.json"):
            copy_file(source / name, chain / f"cycle{cycle}" / name)
        labeled = labeled_set(ledger, seed, method, cycle)
        save_npy(chain / f"cycle{cycle}" / "labeled.npy", labeled.astype(index_dtype(protocol["n_train"])))
        copy_training(source, chain / f"cycle{cycle}", labeled, universe, protocol, data)


def copy_training(source, target, labeled, universe, protocol, data):
    """A finished training's config.json and metrics.json, with the labeled.npy and pool.npy that
    train.py wrote beside them (pool = universe - labeled, sorted)."""
    if not (source / "metrics.json").is_file():
        return
    config = load_json(source / "config.json")
    target.mkdir(parents=True, exist_ok=True)
    (target / "config.json").write_bytes(json_bytes({**config, **data}) if data else (source / "config.json").read_bytes())
    copy_file(source / "metrics.json", target / "metrics.json")
    dtype = index_dtype(protocol["n_train"])
    save_npy(target / "labeled.npy", labeled.astype(dtype))
    save_npy(target / "pool.npy", np.setdiff1d(universe, labeled).astype(dtype))


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


