"""window.py and ledger.py: the paper-scale protocol run one GPU window at a time from a small
ledger (issue 28), here on a tiny image folder on the CPU."""
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time

import numpy as np
import pytest
from conftest import ROOT

import ledger as lg
import schedule
import window
from files import FileError

# random's acquisitions are units of their own in the tiny protocol ("acquire_alone", as VAAL's in the paper's)
TINY_UNITS = ["cycle0/seed0", "random/seed0/cycle1/acquisition", "dispersion/seed0/cycle1", "random/seed0/cycle1",
              "random/seed0/cycle2/acquisition", "dispersion/seed0/cycle2", "random/seed0/cycle2", "alldata/seed0"]


def call(*argv):
    """window.py in this process (torch is imported once for the whole test file)."""
    window.main([str(a) for a in argv])


def start_ledger(folder, image_folder):
    ledger, work = folder / "ledger", folder / "work"
    call("init", "--tiny", "--data", image_folder, "--ledger", ledger, "--work", work)
    return ledger, work


def run_window(ledger, work, image_folder, out, minutes=10):
    call("run", "--data", image_folder, "--ledger", ledger, "--work", work, "--minutes", minutes, "--out", out,
         "--device", "cpu", "--reserve", 0)
    return out / window.ARCHIVE


def archive_units(archive):
    with tarfile.open(archive) as tar:
        return json.loads(tar.extractfile("window.json").read())


def results(ledger):
    """What a ledger says, without what may differ between equal runs (times, paths, dates)."""
    found = {}
    for path in sorted(ledger.rglob("*")):
        name = str(path.relative_to(ledger))
        if path.suffix == ".npy":
            found[name] = np.load(path).tolist()
        elif path.name == "metrics.json":
            m = json.loads(path.read_text())
            found[name] = [m[k] for k in ("test_acc", "train_loss", "train_acc", "n_labeled", "pred_epochs")]
        elif path.name in ("config.json", "labeled_config.json"):
            found[name] = json.loads(path.read_text())["identity"]
    return found


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, image_folder):
    """The tiny protocol in one window, merged with its report: (ledger, archive, report folder)."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    ledger, work = start_ledger(folder, image_folder)
    archive = run_window(ledger, work, image_folder, folder / "out")
    call("merge", archive, "--ledger", ledger, "--report-out", folder / "report")
    return ledger, archive, folder / "report"


def test_units_go_cycle_by_cycle_in_the_protocols_method_order():
    protocol = window.make_protocol("paper", "bf16", 50000)
    names = [u.name for u in lg.all_units(protocol)]
    assert names[:6] == ["cycle0/seed0", "vaal/seed0/cycle1/acquisition", "cycle0/seed1",
                         "vaal/seed1/cycle1/acquisition", "cycle0/seed2", "vaal/seed2/cycle1/acquisition"]
    assert names[6:14] == [f"{m}/seed0/cycle1" for m in ("dispersion", "random", "margin", "bald", "kcenter",
                                                          "coreset", "vaal")] + ["vaal/seed0/cycle2/acquisition"]
    assert names[6 + 24] == "dispersion/seed0/cycle2" and names[-4] == "vaal/seed2/cycle4"
    assert names[-3:] == ["alldata/seed0", "alldata/seed1", "alldata/seed2"]
    assert len(names) == 3 * (1 + 7 * 4 + 4 + 1) and len(set(names)) == len(names)  # + VAAL acquisitions 1-4


def test_a_unit_that_does_not_fit_is_never_started_and_later_cycles_wait():
    protocol = window.make_protocol("paper", "bf16", 50000)
    units = {u.name: u for u in lg.all_units(protocol)}
    pending = [units[n] for n in ("dispersion/seed0/cycle1", "random/seed0/cycle1", "dispersion/seed0/cycle2")]
    done = {"cycle0/seed0"}
    seconds = {"dispersion/seed0/cycle1": 100, "random/seed0/cycle1": 60, "dispersion/seed0/cycle2": 10}
    estimate = lambda unit: seconds[unit.name]  # noqa: E731
    assert schedule.next_unit(pending, done, estimate, 120, 500, protocol) == (units["dispersion/seed0/cycle1"], 100)
    assert schedule.next_unit(pending, done, estimate, 80, 500, protocol) == (units["random/seed0/cycle1"], 60)
    # cycle 2's unit would fit, but cycle 1 is unfinished: every method reaches cycle C first
    assert schedule.next_unit(pending, done, estimate, 50, 500, protocol) == (None, 100)
    # a unit whose input is not done cannot start (here cycle0 of seed 0)
    assert schedule.next_unit(pending, set(), estimate, 500, 500, protocol) == (None, 0.0)
    # units that fit no window (here 90 s) hold back nobody; those after them in the chain wait
    seconds.update({"dispersion/seed0/cycle1": 95, "random/seed0/cycle1": 91})
    assert schedule.next_unit(pending, done, estimate, 500, 90, protocol) == (None, 0.0)
    assert schedule.next_unit(pending + [units["margin/seed0/cycle1"]], done, lambda u: seconds.get(u.name, 20),
                              500, 90, protocol) == (units["margin/seed0/cycle1"], 20)
    assert schedule.next_unit([], done, estimate, 50, 500, protocol) == (None, 0.0)


def test_estimates_come_from_the_largest_measured_rates_else_the_defaults():
    protocol = window.make_protocol("tiny", "float32", 36)  # universe 36: 7 labeled first, 4 per cycle
    units = {u.name: u for u in lg.all_units(protocol)}
    windows = [{"units": [{"trainings": [{"n_labeled": 10, "n_pool": 20, "epochs": 2, "tracked": 2, "seconds": 3.0,
                                          "seconds_train": 0.2, "seconds_pool": 0.04}],
                           "acquisitions": [{"method": "dispersion", "seconds": 1.0}]}]},
               {"units": [{"trainings": [{"n_labeled": 10, "n_pool": 20, "epochs": 1, "tracked": 0, "seconds": 1.0,
                                          "seconds_train": 0.05, "seconds_pool": 0.0}],
                           "acquisitions": [{"method": "dispersion", "seconds": 0.5}]}]}]
    rates = schedule.measured_rates(windows)
    assert rates == {"train_s_per_image_epoch": 0.01, "pool_s_per_image_pass": 0.001, "train_overhead_s": 2.76,
                     "acquire_s": {"dispersion": 1.0}}
    def estimate(name, rates):
        return schedule.estimate_seconds(units[name], protocol, 36, rates, window.DEFAULT_RATES["tiny"])
    # dispersion, cycle 1: 11 labeled x 3 epochs, 25 pooled x 3 tracked epochs, its acquisition
    assert estimate("dispersion/seed0/cycle1", rates) == pytest.approx(1.25 * (2.76 + 0.01 * 33 + 0.001 * 75 + 1.0))
    # random, cycle 1: the last epoch tracked only, no acquisition (a unit of its own: random's never
    # measured, the default 1 s)
    assert estimate("random/seed0/cycle1", rates) == pytest.approx(1.25 * (2.76 + 0.01 * 33 + 0.001 * 25))
    assert estimate("random/seed0/cycle2/acquisition", rates) == pytest.approx(1.25 * 1.0)
    # the last cycle and the all-data run: no pool, no acquisition
    assert estimate("random/seed0/cycle2", rates) == pytest.approx(1.25 * (2.76 + 0.01 * 45))
    assert estimate("alldata/seed0", {}) == pytest.approx(1.25 * (2.0 + 1e-3 * 108))


def test_the_plan_counts_windows_as_run_fills_them():
    protocol = window.make_protocol("tiny", "float32", 36)
    units = lg.all_units(protocol)  # 8 units: 2 in cycle 0, 3 in cycle 1, 2 in cycle 2, all data
    assert schedule.windows_needed(units, set(), lambda unit: 10, 25, protocol) == 4
    # a unit that fits no window is left out with those after it in its chain; the others go on
    slow = lambda unit: 30 if unit.name == "random/seed0/cycle1/acquisition" else 10  # noqa: E731
    assert schedule.windows_needed(units, set(), slow, 25, protocol) == 2  # cycle0, dispersion x 2, all data
    assert schedule.too_long(units, slow, 25) == [units[1]]


def test_one_window_fills_a_ledger_of_small_files_and_a_report(uninterrupted, image_folder):
    ledger, archive, report = uninterrupted
    assert [u["name"] for u in archive_units(archive)["units"]] == TINY_UNITS
    names = {str(p.relative_to(ledger)) for p in ledger.rglob("*") if p.is_file()}
    assert not any(n.endswith((".pt", "preds.npy", "probs.npy", "pool.npy")) for n in names)
    assert {n for n in names if n.endswith(".npy")} == {
        "initial/seed0/universe.npy", "initial/seed0/labeled.npy"} | {
        f"{m}/seed0/cycle{c}/labeled_selected.npy" for m in ("dispersion", "random") for c in (1, 2)}
    config = json.loads((ledger / "dispersion/seed0/cycle2/config.json").read_text())
    assert config["bf16"] is False and config["width"] == 4 and config["identity"]["epochs"] == 3
    rates = json.loads((ledger / "rates.json").read_text())
    assert set(rates["acquire_s"]) == {"dispersion", "random"} and rates["train_s_per_image_epoch"] > 0
    table = (report / "results.md").read_text()
    assert "dispersion" in table and "random" in table


def test_a_window_killed_mid_unit_loses_only_that_unit_and_the_next_window_goes_on(
        uninterrupted, tmp_path, image_folder):
    ledger, work = start_ledger(tmp_path, image_folder)
    out = tmp_path / "out1"
    process = subprocess.Popen(
        [sys.executable, "window.py", "run", "--data", image_folder, "--ledger", ledger, "--work", work,
         "--minutes", "10", "--out", out, "--device", "cpu"], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(ROOT)), start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:  # kill it once a unit has come out
        if (out / window.ARCHIVE).is_file() and archive_units(out / window.ARCHIVE)["units"]:
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    assert process.wait() == -signal.SIGKILL, process.stderr.read()
    kept = [u["name"] for u in archive_units(out / window.ARCHIVE)["units"]]
    assert 1 <= len(kept) < len(TINY_UNITS) and kept == TINY_UNITS[:len(kept)]
    call("merge", out / window.ARCHIVE, "--ledger", ledger, "--no-report")
    assert [u.name for u in lg.pending_units(ledger, lg.read_protocol(ledger))] == TINY_UNITS[len(kept):]

    # a window too short for any unit starts none and says why
    short = run_window(ledger, work, image_folder, tmp_path / "out2", minutes=0.001)
    manifest = archive_units(short)
    assert manifest["units"] == [] and manifest["stopped"].startswith(
        f"no unit can start; {len(TINY_UNITS) - len(kept)} unit(s) fit no window of this length, "
        f"the first {TINY_UNITS[len(kept)]} (about ")

    rest = run_window(ledger, work, image_folder, tmp_path / "out3")
    assert [u["name"] for u in archive_units(rest)["units"]] == TINY_UNITS[len(kept):]
    call("merge", rest, "--ledger", ledger, "--no-report")
    assert results(ledger) == results(uninterrupted[0])  # the same as one uninterrupted window


def test_a_unit_the_deadline_cuts_is_recorded_and_raises_its_rate(tmp_path, image_folder, monkeypatch):
    ledger, work = start_ledger(tmp_path, image_folder)
    (ledger / "rates.json").write_text(json.dumps({"train_overhead_s": 0.1, "acquire_s": {"dispersion": 0.1,
                                                                                          "random": 0.1}}))
    monkeypatch.setattr(window, "train", lambda *args: {})  # the training is not what this test times

    def slow(*args):  # an acquisition far slower than its rate says, like VAAL never timed
        time.sleep(60)
    monkeypatch.setattr(window, "acquire", slow)
    archive = run_window(ledger, work, image_folder, tmp_path / "out", minutes=0.1)  # 6 s
    manifest = archive_units(archive)
    cut = manifest["ran_out"]
    assert manifest["units"] == [] and manifest["stopped"].startswith(
        "ran out of time in unit cycle0/seed0 (acquire dispersion after ")
    assert (cut["unit"], cut["phase"], cut["method"]) == ("cycle0/seed0", "acquire", "dispersion")
    assert 0 < cut["seconds"] < 6
    call("merge", archive, "--ledger", ledger, "--no-report")
    rates = json.loads((ledger / "rates.json").read_text())
    assert rates["acquire_s"] == {"dispersion": cut["seconds"]} and "train_s_per_image_epoch" not in rates
    assert lg.pending_units(ledger, lg.read_protocol(ledger))[0].name == "cycle0/seed0"


def rewrite(archive, target, change):
    """A copy of an archive with change(name, bytes) -> bytes applied to each member."""
    with tarfile.open(archive) as tar, tarfile.open(target, "w") as new:
        for member in tar.getmembers():
            data = change(member.name, tar.extractfile(member).read())
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))
    return target


def fresh_copy(ledger, target):
    """The ledger as init left it: protocol.json and the initial sets."""
    for name in ("protocol.json", "initial/seed0/universe.npy", "initial/seed0/labeled.npy"):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes((ledger / name).read_bytes())
    return target


def merge_error(capsys, *argv):
    with pytest.raises(SystemExit):
        call("merge", *argv, "--no-report")
    return capsys.readouterr().err.strip()


def test_a_failing_unit_ends_the_window_with_one_error_line_and_its_archive(tmp_path, image_folder, monkeypatch,
                                                                           capsys):
    ledger, work = start_ledger(tmp_path, image_folder)
    real, calls = window.acquire, []

    def fails_second(*args):  # the second acquisition meets bad input
        calls.append(args)
        if len(calls) == 2:
            raise FileError("labeled.npy: broken")
        return real(*args)
    monkeypatch.setattr(window, "acquire", fails_second)
    with pytest.raises(SystemExit) as exit:
        run_window(ledger, work, image_folder, tmp_path / "out")
    assert exit.value.code == 2 and capsys.readouterr().err == "error: labeled.npy: broken\n"
    manifest = archive_units(tmp_path / "out" / window.ARCHIVE)
    assert [u["name"] for u in manifest["units"]] == TINY_UNITS[:1]  # cycle 0 went out; the failed unit did not
    assert manifest["stopped"].startswith(f"unit {TINY_UNITS[1]} failed: FileError: labeled.npy: broken (log: ")


def first_units(archive, target, n):
    """The archive of a window that ended after its first n units."""
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("window.json").read())
        manifest["units"] = manifest["units"][:n]
        keep = {path for unit in manifest["units"] for path in unit["files"]}
        with tarfile.open(target, "w") as new:
            window.add_member(new, "window.json", json.dumps(manifest).encode())
            for member in tar.getmembers():
                if member.name in keep:
                    new.addfile(member, tar.extractfile(member))
    return target


def test_an_acquisition_of_its_own_runs_from_the_ledger_alone(uninterrupted, tmp_path, image_folder):
    """random's (like VAAL's) acquisition scores a training of an earlier window: the tree rebuilt
    from the ledger (its labeled.npy, pool.npy and config.json) gives the same selection."""
    ledger, archive, _ = uninterrupted
    fresh = fresh_copy(ledger, tmp_path / "ledger")
    call("merge", first_units(archive, tmp_path / "first.tar", 4), "--ledger", fresh, "--no-report")
    assert [u.name for u in lg.pending_units(fresh, lg.read_protocol(fresh))] == TINY_UNITS[4:]
    rest = run_window(fresh, tmp_path / "work", image_folder, tmp_path / "out")
    assert [u["name"] for u in archive_units(rest)["units"]] == TINY_UNITS[4:]
    call("merge", rest, "--ledger", fresh, "--no-report")
    assert results(fresh) == results(ledger)


def test_merge_refuses_an_archive_that_contradicts_the_ledger_and_merges_nothing(uninterrupted, tmp_path, capsys):
    ledger, archive, _ = uninterrupted
    paper = tmp_path / "paper"
    paper.mkdir()
    (paper / "protocol.json").write_bytes((ROOT / window.DEFAULT_LEDGER / "protocol.json").read_bytes())
    error = merge_error(capsys, archive, "--ledger", paper)
    assert error == f"error: {archive}: made under another protocol than {paper}/protocol.json; nothing merged"
    assert [p.name for p in paper.iterdir()] == ["protocol.json"]

    before = results(ledger)
    other = rewrite(archive, tmp_path / "other.tar", lambda name, data: data.replace(b'"seconds_test": ', b'"seconds_test": 1'))
    error = merge_error(capsys, other, "--ledger", ledger)
    assert error.startswith("error: cycle0/seed0/metrics.json: the ledger holds another result of unit cycle0/seed0")
    assert results(ledger) == before

    def wider(name, data):
        if name == "dispersion/seed0/cycle1/config.json":
            config = json.loads(data)
            config["identity"]["width"] = 8
            return json.dumps(config).encode()
        return data
    fresh = fresh_copy(ledger, tmp_path / "fresh")
    error = merge_error(capsys, rewrite(archive, tmp_path / "wider.tar", wider), "--ledger", fresh)
    assert error == "error: unit dispersion/seed0/cycle1: trained with width = 8, the ledger needs 4"
    assert sorted(p.name for p in fresh.rglob("*") if p.is_file()) == ["labeled.npy", "protocol.json", "universe.npy"]

    def repeated(name, data):
        if name == "random/seed0/cycle2/labeled_selected.npy":
            selected = np.load(io.BytesIO(data))
            buffer = io.BytesIO()
            np.save(buffer, np.full_like(selected, selected[0]))
            return buffer.getvalue()
        return data
    error = merge_error(capsys, rewrite(archive, tmp_path / "repeated.tar", repeated), "--ledger", fresh)
    assert error == ("error: random/seed0/cycle2/labeled_selected.npy: not 4 distinct new indices of the universe")

    def other_option(name, data):  # e.g. a window run after a method's default changed
        if name == "dispersion/seed0/cycle2/labeled_config.json":
            config = json.loads(data)
            config["identity"]["options"]["dispersion_plus_one"] = True
            return json.dumps(config).encode()
        return data
    error = merge_error(capsys, rewrite(archive, tmp_path / "option.tar", other_option), "--ledger", fresh)
    assert error.startswith("error: dispersion/seed0/cycle2/labeled_config.json: options = {")
    assert "'dispersion_plus_one': True" in error and "the ledger needs {" in error
