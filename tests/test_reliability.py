"""Crash anywhere and resume exactly; atomic writes; hostile inputs never give a deep traceback."""
import errno
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import ROOT, run_script, start_run_all
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_acquire import make_run
from test_devices import tiny_training_state, train_on

import acquire
import checkpoint
import files
from baselines.common import AcquisitionError
from baselines.dispersion import label_dispersion
from files import FileError
from models import build_model, load_model


def outputs(tree):
    """Every array and every accuracy of a run tree, keyed by relative path."""
    found = {str(p.relative_to(tree)): np.load(p) for p in tree.rglob("*.npy")}
    for p in tree.rglob("metrics.json"):
        metrics = json.loads(p.read_text())
        found[str(p.relative_to(tree))] = (metrics["test_acc"], metrics["train_loss"])
    return found


def test_sigkill_at_any_point_then_rerun_equals_an_uninterrupted_run(protocol_tree, tmp_path):
    reference_tree, dataset, _ = protocol_tree
    killed_runs = tmp_path / "killed" / "runs"
    kills = 0
    for delay in (2.5, 4.0, 1.0, 6.0, 3.0):  # seconds into each attempt: data loading, training, acquiring
        process = start_run_all(dataset, killed_runs, "dispersion", "random")
        time.sleep(delay)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the shell and the python step it is running
            kills += 1
        process.wait()
    assert kills >= 3
    assert start_run_all(dataset, killed_runs, "dispersion", "random").wait(timeout=600) == 0
    expected, got = outputs(reference_tree), outputs(killed_runs / reference_tree.name)
    assert expected.keys() == got.keys()
    for name, value in expected.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got[name], value, err_msg=name)
        else:
            assert got[name] == value, name
    assert not list(killed_runs.rglob("checkpoint.pt")) and not list(killed_runs.rglob(".*.tmp"))


def test_train_killed_mid_training_resumes_identically(image_folder, tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "labeled.npy", np.sort(rng.choice(36, 10, replace=False)))
    args = [sys.executable, str(ROOT / "train.py"), "--dataset", f"folder:{image_folder}", "--data-root",
            str(tmp_path / "cache"), "--labeled", str(tmp_path / "labeled.npy"), "--epochs", "12",
            "--width", "8", "--batch-size", "4", "--checkpoint-every", "1"]
    subprocess.run(args + ["--out", str(tmp_path / "whole")], check=True, capture_output=True)
    process = subprocess.Popen(args + ["--out", str(tmp_path / "cut")], stdout=subprocess.DEVNULL)
    while not (tmp_path / "cut" / "checkpoint.pt").exists() and process.poll() is None:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "cut" / "metrics.json").exists(), "finished before it could be killed"
    log = subprocess.run(args + ["--out", str(tmp_path / "cut"), "--resume"], check=True,
                         capture_output=True, text=True).stdout
    assert "resuming" in log
    for name in ("preds.npy", "probs.npy"):
        np.testing.assert_array_equal(np.load(tmp_path / "cut" / name), np.load(tmp_path / "whole" / name))
    whole, cut = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("whole", "cut"))
    assert (cut["test_acc"], cut["train_loss"]) == (whole["test_acc"], whole["train_loss"])


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "labeled.npy"
    np.save(target, np.arange(3))
    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(files.os, "fsync", disk_full)
    with pytest.raises(FileError, match="labeled.npy: cannot write .No space left on device"):
        files.save_npy(target, np.arange(5))
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["labeled.npy"]


class FullDisk(io.RawIOBase):
    """A file that takes `room` bytes, then fails like a full disk (ENOSPC)."""

    def __init__(self, file, room):
        self.file, self.room = file, room

    def writable(self):
        return True

    def write(self, data):
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.file.write(data)

    def fileno(self):
        return self.file.fileno()

    def close(self):
        self.file.close()
        super().close()


def test_disk_full_inside_torch_save_keeps_the_old_file(tmp_path, monkeypatch):
    """torch's zip writer turns the failed write into a RuntimeError, not an OSError."""
    target = tmp_path / "model.pt"
    torch.save({"w": torch.ones(3)}, target)
    real_fdopen = os.fdopen
    monkeypatch.setattr(files.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode), room=1000))
    with pytest.raises(FileError, match=r"model.pt: cannot write .torch.save failed; is the disk full\?"):
        files.save_torch(target, {"w": torch.zeros(10_000)})
    assert torch.equal(torch.load(target, weights_only=True)["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_unwritable_output_is_one_clear_error(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(FileError, match="cannot write"):
        files.save_npy(tmp_path / "a_file" / "x.npy", np.arange(3))


def test_truncated_npy_is_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(1000))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(FileError, match="x.npy: not a readable .npy array"):
        files.load_npy(tmp_path / "x.npy")


def test_pickled_object_arrays_are_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FileError, match="not a readable .npy array"):
        files.load_npy(tmp_path / "x.npy")


ANY_DTYPE = st.sampled_from([np.uint8, np.int8, np.int16, np.int64, np.float32, np.float64, np.bool_])
ANY_ARRAY = hnp.arrays(ANY_DTYPE, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(preds=ANY_ARRAY, budget=st.integers(-2, 8), seed=st.integers(0, 3))
def test_random_preds_files_give_a_valid_selection_or_our_error(tmp_path, preds, budget, seed):
    run = make_run(tmp_path / "run", np.zeros((1, 6), np.uint8), labeled=[0, 1], pool=np.arange(2, 8))
    np.save(run / "preds.npy", preds)
    out = tmp_path / "next.npy"
    out.unlink(missing_ok=True)
    try:
        acquire.main(["--run", str(run), "--method", "dispersion", "--budget", str(budget),
                      "--out", str(out), "--seed", str(seed)])
    except (FileError, AcquisitionError):
        assert not out.exists()
        return
    nxt = np.load(out)
    assert len(nxt) == 2 + budget and len(np.unique(nxt)) == len(nxt) and {0, 1} <= set(nxt)


@settings(max_examples=200, deadline=None)
@given(preds=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12)))
def test_dispersion_is_in_range_and_zero_for_constant_predictions(preds):
    dispersion = label_dispersion(preds)
    epochs = preds.shape[0]
    assert dispersion.shape == (preds.shape[1],)
    assert np.all(dispersion >= 0) and np.all(dispersion <= 1 - 1 / epochs + 1e-12)
    constant = np.all(preds == preds[0], axis=0)
    assert np.all(dispersion[constant] == 0)


def one_line_error(error_info, *parts):
    """The FileError's message is one line holding every part (file name, key, what to do)."""
    message = str(error_info.value)
    assert "\n" not in message, message
    for part in parts:
        assert part in message, message


def tiny_trained_run(folder):
    """A run folder as models.load_model reads it: config.json and model.pt of a width-4 model."""
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"num_classes": 3, "width": 4, "dropout": 0.0}))
    torch.save(build_model(3, width=4).state_dict(), folder / "model.pt")
    return folder


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage, message", [
    (lambda pt: pt.write_bytes(b""), "model.pt: empty file"),
    (lambda pt: pt.write_bytes(b"not a model " * 20), "model.pt: damaged or not a PyTorch file"),
    (truncate, "model.pt: damaged or not a PyTorch file"),
    (lambda pt: torch.save(build_model(3, width=8).state_dict(), pt), "not weights of the model described"),
    (lambda pt: torch.save([1, 2], pt), "not weights of the model described"),
])
def test_damaged_model_pt_is_one_line_naming_it(tmp_path, damage, message):
    run = tiny_trained_run(tmp_path / "run")
    assert load_model(run).classifier.out_features == 3  # undamaged, it loads
    damage(run / "model.pt")
    with pytest.raises(FileError) as error:
        load_model(run)
    one_line_error(error, message, f"delete {run} and train it again")


@pytest.mark.parametrize("config, message", [
    ({}, "config.json: lacks 'num_classes'"),
    ([3, 4], "config.json: expected a JSON object of settings, found list"),
    ({"num_classes": "3", "width": 4, "dropout": 0.0}, "'num_classes' must be a whole number >= 1, found \"3\""),
    ({"num_classes": 3, "width": 4.5, "dropout": 0.0}, "'width' must be a whole number >= 1, found 4.5"),
    ({"num_classes": 3, "width": 4, "dropout": None}, "'dropout' must be a number in [0, 1), found null"),
])
def test_bad_config_json_of_a_model_is_one_line_naming_the_key(tmp_path, config, message):
    run = tiny_trained_run(tmp_path / "run")
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(FileError) as error:
        load_model(run)
    one_line_error(error, message)


@pytest.mark.parametrize("config, message", [
    ({}, "config.json: lacks 'num_classes'"),
    ({"num_classes": 10, "n_train": "ten", "dataset": "folder:/nowhere"}, "'n_train' must be a whole number"),
    ({"num_classes": [10], "n_train": 16, "dataset": "folder:/nowhere"}, "'num_classes' must be a whole number"),
    ({"num_classes": 10, "n_train": 16, "dataset": 7}, "'dataset' must be a dataset name, found 7"),
    ({"num_classes": 10, "n_train": 16, "dataset": "folder:/x", "data_root": 1}, "'data_root' must be a folder"),
    ({"num_classes": 10, "n_train": 16, "dataset": "folder:/x", "channel_std": [0.2, 0, 0.2]},
     "'channel_std' must be a list of 3 positive numbers, found [0.2, 0, 0.2]"),
])
def test_bad_config_json_stops_acquire_py_with_one_line(tmp_path, config, message):
    run = make_run(tmp_path / "run", np.zeros((3, 6), np.uint8), labeled=[0, 1], pool=np.arange(2, 8))
    (run / "config.json").write_text(json.dumps(config))
    result = run_script("acquire.py", "--run", run, "--method", "margin", "--budget", 2,
                        "--out", tmp_path / "next.npy", check=False)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {run / 'config.json'}: ")
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "next.npy").exists()


def saved_checkpoint(tmp_path):
    """A checkpoint.pt of the tiny training state of tests/test_devices.py, and the identity it matches."""
    identity, state = tiny_training_state()
    checkpoint.save(tmp_path / "checkpoint.pt", identity, 1, state, torch.device("cpu"))
    return tmp_path / "checkpoint.pt", identity


def edited(edit):
    """A damage: load the checkpoint, edit its dict, save it again."""
    def damage(path):
        saved = torch.load(path, weights_only=True)
        edit(saved)
        torch.save(saved, path)
    return damage


@pytest.mark.parametrize("damage, message", [
    (lambda pt: pt.write_bytes(b""), "checkpoint.pt: empty file"),
    (lambda pt: pt.write_bytes(b"\x00garbage" * 50), "checkpoint.pt: damaged or not a PyTorch file"),
    (truncate, "checkpoint.pt: damaged or not a PyTorch file"),
    (lambda pt: torch.save([1, 2, 3], pt), "not a checkpoint of train.py ('identity' missing"),
    (edited(lambda saved: saved.pop("model")), "not a checkpoint of train.py ('model' missing"),
    (edited(lambda saved: saved.update(epoch="1")), "('epoch' missing or of the wrong type)"),
    (edited(lambda saved: saved.update(epoch=0)), "damaged (epoch 0, 2 generators)"),
    (edited(lambda saved: saved.update(generators=[])), "damaged (epoch 1, 0 generators)"),
    (edited(lambda saved: saved["model"].update({"stem.0.weight": torch.zeros(1)})), "damaged (Error(s) in loading"),
    (edited(lambda saved: saved.update(history="{not json")), "damaged (Expecting property name"),
    (edited(lambda saved: saved.update(history='{"train_loss": []}')), "its history is not the one train.py records"),
    (edited(lambda saved: saved.pop("device_type")), "('device_type' missing or of the wrong type)"),
    (edited(lambda saved: saved.update(torch_rng=torch.zeros(3))), "checkpoint.pt: damaged ("),
])
def test_damaged_checkpoint_is_one_line_naming_it(tmp_path, damage, message):
    path, identity = saved_checkpoint(tmp_path)
    assert checkpoint.restore(path, identity, tiny_training_state()[1], torch.device("cpu")) == 1  # undamaged
    damage(path)
    with pytest.raises(FileError) as error:
        checkpoint.restore(path, identity, tiny_training_state()[1], torch.device("cpu"))
    one_line_error(error, message, "delete it to start this training over")


def test_truncated_checkpoint_stops_train_py_with_one_line(split, tmp_path):
    run = tmp_path / "run"
    train_on(split, "cpu", run, "--stop-after-epoch", "1")
    truncate(run / "checkpoint.pt")
    result = train_on(split, "cpu", run, "--resume", check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {run / 'checkpoint.pt'}: damaged or not a PyTorch file")
    assert result.stderr.rstrip().endswith("delete it to start this training over")
