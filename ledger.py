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
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from files import FileError, index_dtype, load_indices, load_json, save_json, save_npy

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


# ---- rates: seconds per unit kind -------------------------------------------------------------------

def measured_rates(windows):
    """The rates the windows measured, each the largest seen (planning errs on the slow side):
    train_s_per_image_epoch, pool_s_per_image_pass, train_overhead_s, acquire_s {method: s}."""
    rates = {"acquire_s": {}}
    for window in windows:
        for unit in window.get("units", []):
            for t in unit.get("trainings", []):
                raise_to(rates, "train_s_per_image_epoch", t["seconds_train"] / (t["n_labeled"] * t["epochs"]))
                if t["tracked"] and t["n_pool"]:
                    raise_to(rates, "pool_s_per_image_pass", t["seconds_pool"] / (t["n_pool"] * t["tracked"]))
                raise_to(rates, "train_overhead_s", t["seconds"] - t["seconds_train"] - t["seconds_pool"])
            for a in unit.get("acquisitions", []):
                raise_to(rates["acquire_s"], a["method"], a["seconds"])
        if window.get("setup_seconds") is not None:
            raise_to(rates, "window_setup_s", window["setup_seconds"])
        cut = window.get("ran_out")  # a phase the deadline cut: it takes at least that long
        if cut and cut["phase"] == "acquire":
            raise_to(rates["acquire_s"], cut["method"], cut["seconds"])
        elif cut:
            raise_to(rates, "train_s_per_image_epoch", cut["seconds"] / (cut["n_labeled"] * cut["epochs"]))
    return rates


def combined_rates(rates, more):
    """The larger of each rate of two rate records."""
    combined = {**rates, "acquire_s": dict(rates.get("acquire_s", {}))}
    for key, value in more.items():
        if key == "acquire_s":
            for method, seconds in value.items():
                raise_to(combined["acquire_s"], method, seconds)
        else:
            raise_to(combined, key, value)
    return combined


def raise_to(rates, key, value):
    rates[key] = max(rates.get(key, value), value)


def rate(rates, defaults, key, method=None):
    """A measured rate, else the protocol's default for kinds never measured."""
    if method is not None:
        return rates.get("acquire_s", {}).get(method, defaults["acquire_s"].get(method, defaults["acquire_other_s"]))
    return rates.get(key, defaults[key])


def estimate_seconds(unit, protocol, n_universe, rates, defaults, safety=1.25):
    """Seconds a unit is expected to take: its training from per-image rates, plus its
    acquisitions, times a safety factor (the rates are the largest measured, not an upper bound)."""
    step = budget(protocol, n_universe)
    n_labeled = n_universe if unit.kind == "alldata" else int(round(protocol["initial"] * n_universe)) + unit.cycle * step
    n_pool = n_universe - n_labeled
    seconds = (rate(rates, defaults, "train_overhead_s")
               + rate(rates, defaults, "train_s_per_image_epoch") * n_labeled * protocol["epochs"]
               + rate(rates, defaults, "pool_s_per_image_pass") * n_pool * tracked_epochs(unit, protocol))
    seconds += sum(rate(rates, defaults, None, m) for m, _ in acquisitions(unit, protocol))
    return safety * seconds


def read_windows(ledger):
    path = Path(ledger) / "windows.json"
    return load_json(path) if path.is_file() else []


def save_rates(ledger, windows):
    save_json(Path(ledger) / "windows.json", windows)
    save_json(Path(ledger) / "rates.json", measured_rates(windows))


def read_rates(ledger):
    path = Path(ledger) / "rates.json"
    return load_json(path) if path.is_file() else {"acquire_s": {}}


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


# ---- merging what a window brought back ------------------------------------------------------------

def expected_identity(unit, protocol, labeled, universe, fingerprint):
    """The parts of a training's config.json identity the ledger fixes (train.py training_identity)."""
    from provenance import indices_sha256

    flags = training_flags(unit, protocol)
    return {"dataset_fingerprint": fingerprint, "labeled_sha256": indices_sha256(labeled),
            "universe_sha256": indices_sha256(universe), "epochs": protocol["epochs"],
            "width": protocol["width"], "batch_size": protocol["batch_size"], "seed": unit.seed,
            "bf16": protocol["bf16"], "no_track": "--no-track" in flags, "track_last": 1 if "--track-last" in flags else 0}


def unit_labeled(ledger, unit):
    """The labeled set a unit trains on, from the ledger (its inputs must be there)."""
    universe, initial = initial_sets(ledger, unit.seed)
    if unit.kind == "alldata":
        return universe
    if unit.kind == "cycle0":
        return initial
    return labeled_set(ledger, unit.seed, unit.method, unit.cycle)


def check_unit(ledger, unit, protocol, files, fingerprint):
    """Raise one FileError line unless the unit's files (ledger path -> bytes) are what the
    ledger's protocol and the unit's inputs in the ledger must give."""
    from provenance import first_difference, indices_sha256

    universe = initial_sets(ledger, unit.seed)[0]
    try:
        labeled = unit_labeled(ledger, unit)
    except FileError as e:
        raise FileError(f"unit {unit.name}: its inputs are not in the ledger ({e})") from None
    config = json.loads(files[f"{run_dir(unit)}/config.json"])
    metrics = json.loads(files[f"{run_dir(unit)}/metrics.json"])
    identity = config.get("identity") or {}
    expected = expected_identity(unit, protocol, labeled, universe, fingerprint)
    key = first_difference({k: identity.get(k) for k in expected}, expected)
    if key is not None:
        raise FileError(f"unit {unit.name}: trained with {key} = {identity.get(key)!r}, the ledger needs {expected[key]!r}")
    if metrics.get("n_labeled") != len(labeled) or not isinstance(metrics.get("test_acc"), float):
        raise FileError(f"unit {unit.name}: metrics.json is not a finished training on {len(labeled)} labeled")
    step = budget(protocol, len(universe))
    for method, folder in acquisitions(unit, protocol):
        made = (json.loads(files[f"{folder}/labeled_config.json"]).get("identity") or {})
        wanted = {"method": method, "budget": step, "seed": unit.seed, "run_identity": identity,
                  "run_labeled_sha256": indices_sha256(labeled)}
        key = first_difference({k: made.get(k) for k in wanted}, wanted)
        if key is not None:
            raise FileError(f"{folder}/labeled_config.json: {key} = {made.get(key)!r}, the ledger needs {wanted[key]!r}")
        selected = np.load(io.BytesIO(files[f"{folder}/labeled_selected.npy"]), allow_pickle=False)
        if selected.shape != (step,) or np.unique(selected).size != step or np.isin(selected, labeled).any() \
                or not np.isin(selected, universe).all():
            raise FileError(f"{folder}/labeled_selected.npy: not {step} distinct new indices of the universe")


def merge_units(ledger, protocol, units, files, fingerprint):
    """Add each unit's files to the ledger, in the window's order, after checking it; a unit already
    there must be there byte for byte (a rerun never mixes). Returns the names of the units added."""
    added = []
    for unit in units:
        paths = unit_files(unit, protocol)
        missing = [p for p in paths if p not in files]
        if missing:
            raise FileError(f"unit {unit.name}: {missing[0]} is not in the archive")
        if is_done(ledger, unit, protocol):
            for p in paths:
                if (Path(ledger) / p).read_bytes() != files[p]:
                    raise FileError(f"{p}: the ledger holds another result of unit {unit.name} "
                                    f"(two windows ran it from the same ledger); nothing merged")
            continue
        check_unit(ledger, unit, protocol, files, fingerprint)
        for p in paths:
            write_bytes(Path(ledger) / p, files[p])
        added.append(unit.name)
    return added


def write_bytes(path, data):
    """Write atomically: a temp file beside `path`, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
