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
    step = lg.budget(protocol, n_universe)
    n_labeled = n_universe if unit.kind == "alldata" else int(round(protocol["initial"] * n_universe)) + unit.cycle * step
    n_pool = n_universe - n_labeled
    seconds = (rate(rates, defaults, "train_overhead_s")
               + rate(rates, defaults, "train_s_per_image_epoch") * n_labeled * protocol["epochs"]
               + rate(rates, defaults, "pool_s_per_image_pass") * n_pool * lg.tracked_epochs(unit, protocol))
    seconds += sum(rate(rates, defaults, None, m) for m, _ in lg.acquisitions(unit, protocol))
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


def frontier(pending, protocol):
    """The pending units of the earliest unfinished cycle, in order."""
    first = min(lg.stage(u, protocol) for u in pending)
    return [u for u in pending if lg.stage(u, protocol) == first]


def next_unit(pending, estimate, seconds_left, protocol):
    """The first pending unit of the earliest unfinished cycle that fits in the time left, with its
    estimate; (None, the first one's estimate) when none fits: later cycles wait for it."""
    if not pending:
        return None, 0.0
    for unit in frontier(pending, protocol):
        seconds = estimate(unit)
        if seconds <= seconds_left:
            return unit, seconds
    return None, estimate(frontier(pending, protocol)[0])


def windows_needed(pending, estimate, usable, protocol):
    """(how many windows of `usable` seconds the units take, taken as `run` takes them; the unit
    that fits no window, or None)."""
    pending, windows = list(pending), 0
    while pending:
        unit, _ = next_unit(pending, estimate, usable, protocol)
        if unit is None:
            return windows, frontier(pending, protocol)[0]
        windows, left = windows + 1, usable
        while unit is not None:
            pending.remove(unit)
            left -= estimate(unit)
            unit, _ = next_unit(pending, estimate, left, protocol)
    return windows, None


