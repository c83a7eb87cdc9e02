"""Merging what a GPU window brought back into the ledger (window.py merge).

Reads OUT/window.tar (window.py run); checks every unit against the ledger (ledger.check_unit) on a
staged copy, so an archive with one contradiction changes nothing; writes the units, windows.json
and rates.json (schedule.py); rebuilds the tree, checks every chain (checks.py) and runs report.py.
"""
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

import checks
import ledger as lg
import schedule
from files import FileError
from provenance import first_difference, indices_sha256


def expected_identity(unit, protocol, labeled, universe, fingerprint):
    """The parts of a training's config.json identity the ledger fixes (train.py training_identity)."""

    flags = lg.training_flags(unit, protocol)
    return {"dataset_fingerprint": fingerprint, "labeled_sha256": indices_sha256(labeled),
            "universe_sha256": indices_sha256(universe), "epochs": protocol["epochs"],
            "width": protocol["width"], "batch_size": protocol["batch_size"], "seed": unit.seed,
            "bf16": protocol["bf16"], "no_track": "--no-track" in flags, "track_last": 1 if "--track-last" in flags else 0}


def unit_labeled(ledger, unit):
    """The labeled set a unit trains on, or scores the pool of, from the ledger."""
    universe, initial = lg.initial_sets(ledger, unit.seed)
    if unit.kind == "alldata":
        return universe
    cycle = unit.cycle - 1 if unit.kind == "acquire" else unit.cycle
    return initial if unit.kind == "cycle0" or cycle == 0 else lg.labeled_set(ledger, unit.seed, unit.method, cycle)


def check_unit(ledger, unit, protocol, files, fingerprint):
    """Raise one FileError line unless the unit's files (ledger path -> bytes) are what the
    ledger's protocol and the unit's inputs in the ledger must give."""
    universe = lg.initial_sets(ledger, unit.seed)[0]
    try:
        labeled = unit_labeled(ledger, unit)
        if unit.kind == "acquire":  # scores a training the ledger holds
            scored = json.loads((Path(ledger) / lg.scored_run(unit) / "config.json").read_text())
    except (FileError, OSError) as e:
        raise FileError(f"unit {unit.name}: its inputs are not in the ledger ({e})") from None
    if unit.kind == "acquire":
        identity = scored.get("identity")
    else:
        identity = check_training(unit, protocol, files, labeled, universe, fingerprint)
    for method, folder in lg.acquisitions(unit, protocol):
        check_acquisition(ledger, unit, protocol, files, method, folder, identity, labeled, universe)


def check_training(unit, protocol, files, labeled, universe, fingerprint):
    """The training's identity, once checked against what the ledger asks for."""

    config = json.loads(files[f"{lg.run_dir(unit)}/config.json"])
    metrics = json.loads(files[f"{lg.run_dir(unit)}/metrics.json"])
    identity = config.get("identity") or {}
    expected = expected_identity(unit, protocol, labeled, universe, fingerprint)
    key = first_difference({k: identity.get(k) for k in expected}, expected)
    if key is not None:
        raise FileError(f"unit {unit.name}: trained with {key} = {identity.get(key)!r}, the ledger needs {expected[key]!r}")
    if metrics.get("n_labeled") != len(labeled) or not isinstance(metrics.get("test_acc"), float):
        raise FileError(f"unit {unit.name}: metrics.json is not a finished training on {len(labeled)} labeled")
    return identity


def check_acquisition(ledger, unit, protocol, files, method, folder, identity, labeled, universe):
    """An acquisition made by `method` from the training of `identity` on `labeled`, with the
    options of the method's acquisitions already in the ledger (a changed default, such as another
    BALD variant, is refused): the budget's worth of new, distinct indices of the universe."""

    step = lg.budget(protocol, len(universe))
    made = json.loads(files[f"{folder}/labeled_config.json"]).get("identity") or {}
    wanted = {"method": method, "budget": step, "seed": unit.seed, "run_identity": identity,
              "run_labeled_sha256": indices_sha256(labeled)}
    earlier = recorded_options(ledger, method)  # every acquisition of a method runs with the same options
    if earlier is not None:
        wanted["options"] = earlier
    key = first_difference({k: made.get(k) for k in wanted}, wanted)
    if key is not None:
        raise FileError(f"{folder}/labeled_config.json: {key} = {made.get(key)!r}, the ledger needs {wanted[key]!r}")
    selected = np.load(io.BytesIO(files[f"{folder}/labeled_selected.npy"]), allow_pickle=False)
    if selected.shape != (step,) or np.unique(selected).size != step or np.isin(selected, labeled).any() \
            or not np.isin(selected, universe).all():
        raise FileError(f"{folder}/labeled_selected.npy: not {step} distinct new indices of the universe")


def recorded_options(ledger, method):
    """The options of the method's first acquisition in the ledger, or None when it has none."""
    for path in sorted(Path(ledger).glob(f"{method}/seed*/cycle*/labeled_config.json")):
        return (json.loads(path.read_text()).get("identity") or {}).get("options")
    return None


def merge_units(ledger, protocol, units, files, fingerprint):
    """Add each unit's files to the ledger, in the window's order, after checking it; a unit already
    there must be there byte for byte (a rerun never mixes). Returns the names of the units added."""
    added = []
    for unit in units:
        paths = lg.unit_files(unit, protocol)
        missing = [p for p in paths if p not in files]
        if missing:
            raise FileError(f"unit {unit.name}: {missing[0]} is not in the archive")
        if lg.is_done(ledger, unit, protocol):
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
def read_archive(path):
    """(window.json, {ledger path: bytes}) of an archive `run` wrote; refuses anything else."""
    try:
        with tarfile.open(path) as tar:
            members = tar.getmembers()
            if any(not m.isfile() or m.name.startswith("/") or ".." in m.name.split("/") for m in members):
                raise FileError(f"{path}: holds something other than plain files inside the ledger")
            files = {m.name: tar.extractfile(m).read() for m in members}
    except (OSError, tarfile.TarError) as e:
        raise FileError(f"{path}: not a readable archive of window.py run ({e})") from None
    if "window.json" not in files:
        raise FileError(f"{path}: no window.json; not an archive of window.py run")
    return json.loads(files.pop("window.json")), files


def merge(args):
    ledger = Path(args.ledger)
    protocol = lg.read_protocol(ledger)
    manifest, files = read_archive(args.archive)
    if manifest.get("protocol") != protocol:
        raise FileError(f"{args.archive}: made under another protocol than {ledger}/protocol.json; nothing merged")
    fingerprint = json.loads((ledger / "protocol.json").read_text())["dataset_fingerprint"]
    units = [unit_by_name(protocol, u["name"]) for u in manifest["units"]]
    expected = {p for u in units for p in lg.unit_files(u, protocol)}
    if set(files) - expected:
        raise FileError(f"{args.archive}: {sorted(set(files) - expected)[0]} belongs to no unit of window.json")
    with tempfile.TemporaryDirectory() as staging:  # the whole archive is checked before the ledger changes
        shutil.copytree(ledger, Path(staging) / "ledger")
        added = merge_units(Path(staging) / "ledger", protocol, units, files, fingerprint)
    for unit in units:
        if unit.name in added:
            for path in lg.unit_files(unit, protocol):
                write_bytes(ledger / path, files[path])
    record_window(ledger, manifest, added)
    print(f"{ledger}: merged {len(added)} unit(s) ({len(units) - len(added)} already there); "
          f"window: {manifest.get('stopped')}")
    check_and_report(ledger, protocol, Path(args.report_out or ledger.parent), args.report)


def unit_by_name(protocol, name):
    for unit in lg.all_units(protocol):
        if unit.name == name:
            return unit
    raise FileError(f"window.json: unit {name!r} is not in the protocol")


def record_window(ledger, manifest, added):
    """windows.json gains the window's record once (its new units' timings, and what ran out if
    anything did: a lower bound learnt even when no unit finished); rates.json follows."""
    windows = schedule.read_windows(ledger)
    record = {k: manifest.get(k) for k in ("started", "device", "seconds", "setup_seconds", "stopped", "ran_out")}
    record["units"] = [u for u in manifest["units"] if u["name"] in added]
    seen = any(w.get("started") == record["started"] and w.get("seconds") == record["seconds"] for w in windows)
    if (added or record["ran_out"]) and not seen:
        windows.append(record)
    schedule.save_rates(ledger, windows)


def check_and_report(ledger, protocol, report_out, report=True):
    """Rebuild the tree, check every chain (checks.py), run report.py on it into report_out."""
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / ledger.resolve().parent.name
        lg.rebuild(ledger, tree, protocol)
        n_universe = len(lg.initial_sets(ledger, protocol["seeds"][0])[0])
        for seed in protocol["seeds"]:
            for method in protocol["methods"]:
                checks.check_chain(tree / "initial" / f"seed{seed}", tree / method / f"seed{seed}",
                                   lg.budget(protocol, n_universe))
        print(f"{ledger}: every chain checked (checks.py)")
        if not report or not schedule.read_windows(ledger):
            print("report: not run" if schedule.read_windows(ledger) else "report: nothing trained yet")
            return
        report = subprocess.run([sys.executable, str(Path(__file__).with_name("report.py")), str(tree),
                                 "--out", str(report_out)], capture_output=True, text=True)
        print(report.stdout, end="")
        if report.returncode != 0:
            raise FileError(f"report.py failed: {report.stderr.strip().splitlines()[-1:]}")


