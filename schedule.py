"""Planning GPU windows: seconds per unit kind measured by past windows, each unit's estimate,
and the order units are taken in (window.py run and plan).

The rates (ledger rates.json, the largest each window measured: planning errs on the slow side):
  train_s_per_image_epoch   train.py's seconds_train / (labeled images x epochs)
  pool_s_per_image_pass     seconds_pool / (pool images x tracked epochs)
  train_overhead_s          a training's wall seconds beyond those two (loading, test, writing)
  window_setup_s            a window's start until its first unit (unpacking, decoding, rebuilding)
  acquire_s {method: s}     one acquisition's wall seconds
A unit cut by a window's deadline gives a lower bound on its phase, counted the same way.
"""
from pathlib import Path

import ledger as lg
from files import load_json, save_json


def measured_rates(windows):
    """The rates the windows (windows.json records) measured, each the largest seen."""
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
        elif cut and cut["phase"] == "train":
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
    seconds = sum(rate(rates, defaults, None, m) for m, _ in lg.acquisitions(unit, protocol))
    if unit.kind != "acquire":
        step = lg.budget(protocol, n_universe)
        n_labeled = n_universe if unit.kind == "alldata" else int(round(protocol["initial"] * n_universe)) + unit.cycle * step
        seconds += (rate(rates, defaults, "train_overhead_s")
                    + rate(rates, defaults, "train_s_per_image_epoch") * n_labeled * protocol["epochs"]
                    + rate(rates, defaults, "pool_s_per_image_pass") * (n_universe - n_labeled)
                    * lg.tracked_epochs(unit, protocol))
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


def runnable(pending, done, estimate, window_seconds, protocol):
    """The pending units whose input unit is done and that fit a whole window; in order."""
    ready = [u for u in pending if lg.requires(u, protocol) is None or lg.requires(u, protocol).name in done]
    return [u for u in ready if estimate(u) <= window_seconds]


def next_unit(pending, done, estimate, seconds_left, window_seconds, protocol):
    """(the unit to start now, its estimate), or (None, the first waiting unit's estimate).

    Among the units that can start (their input unit done) and fit a whole window, the first of the
    earliest cycle that fits in the time left; later cycles wait for it. A unit that fits no
    window does not hold back the others (run and plan name it)."""
    units = runnable(pending, done, estimate, window_seconds, protocol)
    if not units:
        return None, 0.0
    first = min(lg.stage(u, protocol) for u in units)
    frontier = [u for u in units if lg.stage(u, protocol) == first]
    for unit in frontier:
        seconds = estimate(unit)
        if seconds <= seconds_left:
            return unit, seconds
    return None, estimate(frontier[0])


def too_long(pending, estimate, window_seconds):
    """The pending units that fit no window of window_seconds."""
    return [u for u in pending if estimate(u) > window_seconds]


def windows_needed(pending, done, estimate, window_seconds, protocol):
    """How many windows of `window_seconds` the pending units take, filled as `run` fills them
    (units that fit no window, and those after them in their chain, are left out)."""
    pending, done, windows = list(pending), set(done), 0
    while True:
        left = window_seconds
        unit, seconds = next_unit(pending, done, estimate, left, window_seconds, protocol)
        if unit is None:
            return windows
        windows += 1
        while unit is not None:
            pending.remove(unit)
            done.add(unit.name)
            left -= seconds
            unit, seconds = next_unit(pending, done, estimate, left, window_seconds, protocol)
