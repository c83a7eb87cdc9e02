"""Run the paper-scale protocol one GPU window at a time, keeping only a small ledger (issue 28).

    python window.py init [--tiny] --data DATA [--ledger L] [--precision bf16|float32]
    python window.py run --data DATA --minutes M --out OUT [--ledger L] [--work W] [--device D]
    python window.py plan [--ledger L] [--minutes M]
    python window.py merge OUT/window.tar [--ledger L] [--report-out R] [--no-report]

init   reads DATA (an image folder with train/ and test/, or a .tar.gz of one: the CIFAR-10 JPEG
       archive) and writes the ledger's protocol.json (run_all.sh's settings, this file's PROTOCOLS
       entry as "window", the dataset's fingerprint) and each seed's initial set,
       initial/seed<S>/{universe,labeled}.npy, drawn as data.py initial draws it.
run    reads the ledger (ledger.py) and DATA; rebuilds a run_all.sh tree under W/tree; then takes the
       pending units in ledger.all_units' order (cycle by cycle, methods in the protocol's order,
       the all-data runs last), never starting one that its estimate (schedule.py: the ledger's
       rates.json, else DEFAULT_RATES) says cannot finish in the minutes left. Each unit calls
       train.py and acquire.py in this process, with run_all.sh's arguments (one CUDA start-up per
       window), and checks.py on its chain. After each unit, OUT/window.tar is rewritten atomically
       with every finished unit's small files and window.json (their timings, why the window
       stopped): a window killed mid-unit loses only that unit. A unit still running at the
       deadline (M minutes less --reserve) is stopped, and how long its phase ran is recorded.
       Logs: W/logs/<unit>.log.
plan   prints the units done and left per cycle, the GPU time left and the windows it takes.
merge  window_merge.py: checks the archive's units against the ledger, refuses the whole archive
       at the first contradiction, else adds them, updates windows.json and rates.json, checks
       every chain (checks.py) and runs report.py into R (default: the ledger's parent folder).
"""
import argparse
import contextlib
import io
import json
import shutil
import signal
import sys
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

import acquire as acquire_script
import checks
import data
import ledger as lg
import schedule
import train as train_script
import window_merge
from baselines.common import AcquisitionError
from files import FileError, exit_with_error, save_json, save_npy
from provenance import check_protocol, first_difference, stamp

# The protocols, in one place. "paper": Table 1 and Fig. 4 (section 4.1: CIFAR-10, ResNet-18 width
# 64, 100 epochs, 10% initial, +5% per cycle to 30%; batch 256 from the authors' code; bf16, measured
# safe on the H200, see results/gpu-h200); "tiny": the same code on a few images, for the tests.
PROTOCOLS = {
    "paper": {"preset": "paper", "seeds": [0, 1, 2],
              "methods": ["dispersion", "random", "margin", "bald", "kcenter", "coreset", "vaal"],
              "initial": 0.1, "step": 0.05, "cycles": 4, "epochs": 100, "width": 64, "batch_size": 256,
              "acquire_args": [], "acquire_alone": ["vaal"], "precision": "bf16"},
    "tiny": {"preset": "tiny", "seeds": [0], "methods": ["dispersion", "random"],
             "initial": 0.2, "step": 0.1, "cycles": 2, "epochs": 3, "width": 4, "batch_size": 8,
             "acquire_args": [], "acquire_alone": ["random"], "precision": "float32"},
}
# Seconds for the kinds no window has measured yet (not part of the protocol: better guesses never
# invalidate a ledger). The paper's from the H200 (results/gpu-h200: cycle 0 in bf16 trained 5,000
# images x 100 epochs in 13.4 s and predicted 45,000 x 100 in 22.5 s, 40.4 s in all; BALD and
# k-center 4.0 s, CoreSet 33.8 s), rounded up. Never timed there: the window's start-up (unpacking
# and decoding 60,000 JPEGs, CUDA), 60 s, and VAAL at its official size (issue 28: "may be half"
# of 2.5-3 h, i.e. 375-450 s per acquisition), 300 s: a guess that fits a window, so that a window
# tries it; if it runs longer, the deadline stops it and records how long it ran, which then
# plans the next windows (schedule.measured_rates), and `plan` says if it fits none.
DEFAULT_RATES = {
    "paper": {"train_s_per_image_epoch": 3e-5, "pool_s_per_image_pass": 6e-6, "train_overhead_s": 15.0,
              "window_setup_s": 60.0, "acquire_other_s": 120.0,
              "acquire_s": {"dispersion": 5.0, "random": 5.0, "margin": 5.0, "bald": 10.0, "kcenter": 10.0,
                            "coreset": 60.0, "vaal": 300.0}},
    "tiny": {"train_s_per_image_epoch": 1e-3, "pool_s_per_image_pass": 1e-4, "train_overhead_s": 2.0,
             "window_setup_s": 2.0, "acquire_other_s": 1.0, "acquire_s": {}},
}
DEFAULT_LEDGER = "results/cifar10-paper/ledger"
ARCHIVE = "window.tar"


def make_protocol(name, precision, n_train):
    protocol = dict(PROTOCOLS[name], name=name, precision=precision, bf16=precision == "bf16", n_train=n_train)
    return json.loads(json.dumps(protocol))  # plain JSON values, as read back from protocol.json


def train_args(protocol):
    return ["--bf16"] if protocol["bf16"] else []


def run_all_settings(protocol):
    """protocol.json's settings as run_all.sh records them, so the rebuilt tree is one of its trees."""
    return {"PRESET": protocol["preset"], "UNIVERSE_SIZE": "", "INITIAL": str(protocol["initial"]),
            "INITIAL_SEED": "", "STEP": str(protocol["step"]), "CYCLES": str(protocol["cycles"]),
            "EPOCHS": str(protocol["epochs"]), "WIDTH": str(protocol["width"]),
            "BATCH_SIZE": str(protocol["batch_size"]), "TRAIN_ARGS": " ".join(train_args(protocol)),
            "ACQUIRE_ARGS": " ".join(protocol["acquire_args"])}


# ---- the dataset ------------------------------------------------------------------------------------

def dataset_folder(source, work):
    """folder:PATH of DATA; an archive is unpacked once into W/data/<its name>."""
    source = Path(source)
    if source.is_dir():
        return f"folder:{source.resolve()}"
    if not source.is_file() or not source.name.endswith((".tar.gz", ".tgz", ".tar")):
        raise FileError(f"--data: expected an image folder or a .tar.gz archive of one, got {source}")
    name = next(source.name[:-len(s)] for s in (".tar.gz", ".tgz", ".tar") if source.name.endswith(s))
    folder = Path(work) / "data" / name
    if not (folder / ".unpacked").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        with tarfile.open(source) as tar:
            tar.extractall(folder, filter="data")
        (folder / ".unpacked").touch()
    return f"folder:{folder.resolve()}"


# ---- init -------------------------------------------------------------------------------------------

def init(args):
    """Write the ledger's protocol.json and initial sets (drawn as data.py initial draws them)."""

    name = "tiny" if args.tiny else "paper"
    dataset = dataset_folder(args.data, args.work)
    n_train = len(data.load_dataset(dataset, Path(args.work) / "cache").train_y)
    protocol = make_protocol(name, args.precision or PROTOCOLS[name]["precision"], n_train)
    ledger = Path(args.ledger)
    if (ledger / "protocol.json").is_file():
        check_protocol_code(ledger, lg.read_protocol(ledger))
        if lg.read_protocol(ledger) != protocol:
            raise FileError(f"{ledger}/protocol.json: a ledger of another protocol is there; use another --ledger")
        print(f"{ledger}: kept (same protocol)")
        return

    save_json(ledger / "protocol.json", {"settings": run_all_settings(protocol), "dataset": dataset,
                                         "dataset_fingerprint": data.dataset_fingerprint(dataset),
                                         "window": protocol, "created": stamp(), "changes": []})
    for seed in protocol["seeds"]:
        universe, labeled = data.draw_initial(n_train, protocol["initial"], seed)
        save_npy(ledger / "initial" / f"seed{seed}" / "universe.npy", universe)
        save_npy(ledger / "initial" / f"seed{seed}" / "labeled.npy", labeled)
    print(f"{ledger}: {name} protocol ({protocol['precision']}), seeds {protocol['seeds']}, {n_train} training images")


def check_protocol_code(ledger, protocol):
    """The ledger's protocol must be window.py's PROTOCOLS entry of that name: edited code never
    continues a ledger made with other settings."""
    now = make_protocol(protocol.get("name"), protocol.get("precision"), protocol.get("n_train")) \
        if protocol.get("name") in PROTOCOLS else {}

    key = first_difference(protocol, now)
    if key is not None:
        raise FileError(f"{ledger}/protocol.json: {key} is {protocol.get(key)!r}, window.py's PROTOCOLS says "
                        f"{now.get(key)!r}; a ledger is continued only with its own protocol")


# ---- run: one window --------------------------------------------------------------------------------

class Window:
    """The state of one window: its clock, its finished units, its archive."""

    def __init__(self, args, protocol):
        self.start = time.monotonic()
        self.deadline = self.start + 60 * args.minutes - args.reserve
        self.args, self.protocol = args, protocol
        self.ledger, self.work = Path(args.ledger), Path(args.work)
        self.tree = self.work / "tree"
        self.out = Path(args.out) / ARCHIVE
        self.rates = schedule.read_rates(self.ledger)
        self.n_universe = len(lg.initial_sets(self.ledger, protocol["seeds"][0])[0])
        self.units, self.stopped, self.ran_out = [], "running", None
        self.setup_seconds = None
        self.phase = {}  # what the current unit is doing: {"phase": "train" or "acquire", ..., "since": t}
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.device = device_name(args.device)

    def seconds_left(self):
        return self.deadline - time.monotonic()

    def pending(self):
        done = {u["name"] for u in self.units}
        return [u for u in lg.pending_units(self.ledger, self.protocol) if u.name not in done]

    def done(self):
        return lg.done_names(self.ledger, self.protocol) | {u["name"] for u in self.units}

    def window_seconds(self):
        """The longest a unit may take: a whole window less its start-up and reserve."""
        return 60 * self.args.minutes - self.args.reserve - (self.setup_seconds or 0)

    def estimate(self, unit):
        """From the ledger's rates and this window's own measurements, the larger of each."""
        rates = schedule.combined_rates(self.rates, schedule.measured_rates([{"units": self.units}]))
        return schedule.estimate_seconds(unit, self.protocol, self.n_universe, rates, DEFAULT_RATES[self.protocol["name"]])

    def pack(self):
        """OUT/window.tar with window.json and every finished unit's files, replaced atomically."""
        manifest = {"protocol": self.protocol, "units": self.units, "stopped": self.stopped,
                    "ran_out": self.ran_out, "seconds": round(time.monotonic() - self.start, 1),
                    "setup_seconds": self.setup_seconds,
                    "started": self.started, "device": self.device}
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_name(f".{self.out.name}.tmp")
        with tarfile.open(tmp, "w") as tar:
            add_member(tar, "window.json", lg.json_bytes(manifest))
            for unit in self.units:
                for path in unit["files"]:
                    add_member(tar, path, (self.tree / path).read_bytes())
        tmp.replace(self.out)


def add_member(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def run(args):
    ledger = Path(args.ledger)
    protocol = lg.read_protocol(ledger)
    check_protocol_code(ledger, protocol)
    window = Window(args, protocol)
    dataset = prepare_tree(window, args)
    window.setup_seconds = round(time.monotonic() - window.start, 1)
    window.pack()
    while True:
        pending, done = window.pending(), window.done()
        unit, seconds = schedule.next_unit(pending, done, window.estimate, window.seconds_left(),
                                           window.window_seconds(), protocol)
        if unit is None:
            window.stopped = stop_reason(window, pending, done, seconds)
            break
        print(f"{unit.name}: starting (estimated {seconds:.0f} s, {window.seconds_left():.0f} s left)", flush=True)
        try:
            alarm_at(window.deadline)
            record = run_unit(window, unit, dataset)
        except OutOfTime:  # the estimate was short: what ran out, and after how long, plans the next window
            window.ran_out = cut = ran_out(window.phase, unit)
            what = " ".join(filter(None, [cut["phase"], cut.get("method")]))
            window.stopped = (f"ran out of time in unit {unit.name} ({what} after {cut['seconds']:.0f} s; "
                              f"the unit was estimated at {seconds:.0f} s)")
            break
        except BaseException as e:  # the finished units still go out; this one is lost
            window.stopped = f"unit {unit.name} failed: {type(e).__name__}: {e} (log: {log_path(window, unit)})"
            window.pack()
            raise
        finally:
            alarm_at(None)
        window.units.append(record)
        window.pack()
        print(f"{unit.name}: done in {record['seconds']:.1f} s; {len(window.units)} unit(s) in {window.out}", flush=True)
    window.pack()
    print(f"window: {window.stopped}; {len(window.units)} unit(s) in {window.out}")


def stop_reason(window, pending, done, seconds):
    """Why the window takes no further unit, in one line."""
    if not pending:
        return "every unit finished"
    never = schedule.too_long(pending, window.estimate, window.window_seconds())
    waiting = [u for u in schedule.runnable(pending, done, window.estimate, window.window_seconds(),
                                            window.protocol)]
    reason = (f"next unit {waiting[0].name} needs about {seconds:.0f} s, {window.seconds_left():.0f} s left"
              if waiting else "no unit can start")
    return reason + (f"; {len(never)} unit(s) fit no window of this length, the first {never[0].name} "
                     f"(about {window.estimate(never[0]):.0f} s)" if never else "")


class OutOfTime(BaseException):
    """The window's deadline passed inside a unit (BaseException: no `except Exception` stops it)."""


def alarm_at(deadline):
    """Raise OutOfTime in this (the main) thread when time.monotonic() passes `deadline`; None disarms."""
    def ring(signum, frame):
        raise OutOfTime()
    signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, 0 if deadline is None else max(deadline - time.monotonic(), 1e-3))


def ran_out(phase, unit):
    """The record of a unit cut by the deadline: its phase and how long that phase had run (a lower
    bound on its time, which ledger.measured_rates uses)."""
    if phase.get("unit") != unit.name:  # cut before its first phase began
        return {"unit": unit.name, "phase": "start", "seconds": 0.0}
    record = {k: v for k, v in phase.items() if k != "since"}
    return {**record, "seconds": round(time.monotonic() - phase["since"], 3)}


def prepare_tree(window, args):
    """A fresh work tree rebuilt from the ledger, checked against DATA (provenance.check_protocol)."""

    dataset = dataset_folder(args.data, window.work)
    shutil.rmtree(window.tree, ignore_errors=True)
    lg.rebuild(window.ledger, window.tree, window.protocol, {"dataset": dataset, "data_root": str(window.work / "cache")})
    check_protocol(window.tree, run_all_settings(window.protocol), dataset, data.dataset_fingerprint(dataset))
    data.load_dataset(dataset, window.work / "cache")  # decoded and cached once, before the first unit
    return dataset


def device_name(device):
    if device in ("auto", "cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return "cpu" if device in ("auto", "cpu") else device


def run_unit(window, unit, dataset):
    """Train the unit's cycle, then its acquisitions, each as run_all.sh calls them; its timings."""

    protocol, tree, start = window.protocol, window.tree, time.monotonic()
    seed = unit.seed
    log = log_path(window, unit)
    log.parent.mkdir(parents=True, exist_ok=True)
    trainings, acquired = [], []
    with open(log, "w") as stream, contextlib.redirect_stdout(stream):
        if unit.kind != "acquire":
            trainings.append(train_unit(window, unit, dataset))
        scored = tree / (lg.scored_run(unit) if unit.kind == "acquire" else lg.run_dir(unit))
        for method, folder in lg.acquisitions(unit, protocol):
            window.phase = {"unit": unit.name, "phase": "acquire", "method": method, "since": time.monotonic()}
            step = lg.budget(protocol, window.n_universe)
            acquired.append(acquire(window.args, scored, tree / folder, unit.seed, method, step, protocol["acquire_args"]))
            checks.check_chain(tree / "initial" / f"seed{seed}", tree / method / f"seed{seed}", step)
    return {"name": unit.name, "files": lg.unit_files(unit, protocol), "trainings": trainings,
            "acquisitions": acquired, "seconds": round(time.monotonic() - start, 3)}


def log_path(window, unit):
    return window.work / "logs" / (unit.name.replace("/", "_") + ".log")


def train_unit(window, unit, dataset):
    """The unit's training (its phase recorded for the deadline); its sizes and seconds."""
    tree, protocol = window.tree, window.protocol
    universe = tree / "initial" / f"seed{unit.seed}" / "universe.npy"
    run = tree / lg.run_dir(unit)
    labeled = {"cycle0": tree / "initial" / f"seed{unit.seed}" / "labeled.npy", "alldata": universe}.get(
        unit.kind, run / "labeled.npy")
    n_labeled = len(np.load(labeled))
    window.phase = {"unit": unit.name, "phase": "train", "n_labeled": n_labeled, "n_pool": window.n_universe - n_labeled,
                    "epochs": protocol["epochs"], "tracked": lg.tracked_epochs(unit, protocol), "since": time.monotonic()}
    return train(window.args, dataset, window.work / "cache", run, labeled, universe, unit, protocol)


def train(args, dataset, data_root, run, labeled, universe, unit, protocol):
    """train.py on one labeled set, in this process; returns its sizes and seconds (for the rates)."""

    argv = ["--dataset", dataset, "--data-root", str(data_root), "--labeled", str(labeled),
            "--universe", str(universe), "--out", str(run), "--epochs", str(protocol["epochs"]),
            "--width", str(protocol["width"]), "--batch-size", str(protocol["batch_size"]),
            "--seed", str(unit.seed), "--device", args.device, "--resume", "--checkpoint-every", "0",
            *lg.training_flags(unit, protocol), *train_args(protocol)]
    start = time.monotonic()
    train_script.main(argv)
    metrics = json.loads((run / "metrics.json").read_text())
    return {"n_labeled": metrics["n_labeled"], "n_pool": metrics["n_pool"], "epochs": metrics["epochs"],
            "tracked": len(metrics["pred_epochs"]), "seconds": round(time.monotonic() - start, 3),
            "seconds_train": metrics["seconds_train"], "seconds_pool": metrics["seconds_pool"]}


def acquire(args, scored, folder, seed, method, step, acquire_args):
    """acquire.py on the scored run into folder/labeled.npy, in this process; its seconds."""

    argv = ["--run", str(scored), "--method", method, "--budget", str(step), "--out", str(folder / "labeled.npy"),
            "--seed", str(seed), "--device", args.device, "--resume", *acquire_args]
    start = time.monotonic()
    acquire_script.main(argv)
    return {"method": method, "seconds": round(time.monotonic() - start, 3)}


# ---- plan: what is left, and how many windows it takes ---------------------------------------------

def plan(args):
    """Print the units done and left per cycle, and the windows of --minutes the rest takes at the
    ledger's rates (measured where rates.json has them, else the protocol's defaults)."""
    ledger = Path(args.ledger)
    protocol = lg.read_protocol(ledger)
    rates, defaults = schedule.read_rates(ledger), DEFAULT_RATES[protocol["name"]]
    n_universe = len(lg.initial_sets(ledger, protocol["seeds"][0])[0])
    estimate = lambda unit: schedule.estimate_seconds(unit, protocol, n_universe, rates, defaults)  # noqa: E731
    pending = lg.pending_units(ledger, protocol)
    for stage in range(protocol["cycles"] + 2):
        units = [u for u in lg.all_units(protocol) if lg.stage(u, protocol) == stage]
        left = [u for u in units if u in pending]
        label = "all data" if stage > protocol["cycles"] else f"cycle {stage}"
        print(f"{label:<9} {len(units) - len(left):3d} of {len(units):3d} units done; "
              f"left: about {sum(map(estimate, left)) / 60:6.1f} min")
    measured = sorted([k for k in rates if k != "acquire_s"] + list(rates.get("acquire_s", {})))
    unmeasured = sorted([k for k in defaults if k not in rates and k not in ("acquire_s", "acquire_other_s")]
                        + [m for m in protocol["methods"] if m not in rates.get("acquire_s", {})])
    print(f"left: {len(pending)} units, about {sum(map(estimate, pending)) / 3600:.2f} h of one GPU "
          f"(estimates, safety factor 1.25 included; measured: {', '.join(measured) or 'nothing'}; "
          f"defaults: {', '.join(unmeasured) or 'none'})")
    usable = 60 * args.minutes - args.reserve - rates.get("window_setup_s", defaults["window_setup_s"])
    done = lg.done_names(ledger, protocol)
    windows = schedule.windows_needed(pending, done, estimate, usable, protocol)
    never = schedule.too_long(pending, estimate, usable)
    print(f"windows of {args.minutes:g} min ({usable:.0f} s for units): {windows}"
          + (f"; {len(never)} unit(s) fit none, waiting with the units after them in their chains: "
             f"{', '.join(u.name for u in never[:3])}{' ...' if len(never) > 3 else ''} "
             f"(about {estimate(never[0]):.0f} s)" if never else ""))


# ---- command line -----------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="command", required=True)
    for name in ("init", "run", "plan", "merge"):
        c = commands.add_parser(name)
        c.add_argument("--ledger", default=DEFAULT_LEDGER, help=f"the ledger folder (default {DEFAULT_LEDGER})")
        if name in ("init", "run"):
            c.add_argument("--data", required=True, help="CIFAR-10 JPEG archive (.tar.gz) or image folder")
            c.add_argument("--work", default="runs/window", help="scratch folder: unpacked data, cache, tree, logs")
    init_cmd, run_cmd, plan_cmd, merge_cmd = (commands.choices[n] for n in ("init", "run", "plan", "merge"))
    init_cmd.add_argument("--tiny", action="store_true", help="the tiny protocol (tests, a CPU)")
    init_cmd.add_argument("--precision", choices=["bf16", "float32"], default=None,
                          help="training precision (train.py --bf16), recorded in every config.json "
                               "(default: the protocol's: bf16 for paper, float32 for tiny)")
    run_cmd.add_argument("--minutes", type=float, required=True, help="the window's length, start-up included")
    plan_cmd.add_argument("--minutes", type=float, default=9, help="the windows' length (default 9)")
    plan_cmd.add_argument("--reserve", type=float, default=10.0, help="seconds kept free at each window's end")
    run_cmd.add_argument("--out", required=True, help="folder for window.tar (on the GPU machine: $OUT)")
    run_cmd.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    run_cmd.add_argument("--reserve", type=float, default=10.0, help="seconds kept free at the end (default 10)")
    merge_cmd.add_argument("archive", help="window.tar from `window.py run`")
    merge_cmd.add_argument("--report-out", default=None, help="report.py's output folder (default: the ledger's parent)")
    merge_cmd.add_argument("--no-report", dest="report", action="store_false", help="check the chains, skip report.py")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    try:
        {"init": init, "run": run, "plan": plan, "merge": window_merge.merge}[args.command](args)
    except (FileError, AcquisitionError) as e:
        exit_with_error(e)


if __name__ == "__main__":
    main(sys.argv[1:])
