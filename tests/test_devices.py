"""The same checks on every device at hand: CPU always, CUDA when a GPU is present (else skipped).

Also the device-handling failures a CPU-only suite would not see by itself: checkpoints restored
on the CPU first, a checkpoint of another device type, cuBLAS determinism, cuDNN's autotuner.
`python -m pytest -k cuda` runs only the CUDA cases (benchmarks/gpu_check.py does).
"""
import json
import os

import numpy as np
import pytest
import torch
from conftest import run_script

import acquire
import checkpoint
import device as device_settings
import train
from baselines import METHODS
from files import FileError

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                reason="no CUDA GPU"))]
TINY = ["--epochs", "3", "--width", "4", "--batch-size", "8", "--pool-batch-size", "7"]
ACQUIRE_TINY = {"vaal": ["--vaal-epochs", "1", "--vaal-width", "4"], "coreset": ["--coreset-time-limit", "5"]}


def train_on(split, device, out, *extra, check=True):
    return run_script("train.py", "--dataset", split["dataset"], "--data-root", split["root"] / "cache",
                      "--labeled", split["root"] / "labeled.npy", "--universe", split["root"] / "universe.npy",
                      "--out", out, "--device", device, *TINY, *extra, check=check)


def results(run):
    metrics = json.loads((run / "metrics.json").read_text())
    return (np.load(run / "preds.npy"), np.load(run / "probs.npy"), metrics["test_acc"], metrics["train_loss"])


def assert_same_results(a, b):
    for x, y in zip(results(a), results(b)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("device", DEVICES)
def test_train_then_every_method_acquires(split, tmp_path, device):
    run = tmp_path / "run"
    log = train_on(split, device, run).stdout
    assert f"training on {device}" in log  # every training says where it runs
    assert json.loads((run / "config.json").read_text())["device"].startswith(device)
    labeled, pool = np.load(run / "labeled.npy"), np.load(run / "pool.npy")
    for method in METHODS:
        out = tmp_path / f"{method}.npy"
        acquire.main(["--run", str(run), "--method", method, "--budget", "5", "--out", str(out),
                      "--device", device, *ACQUIRE_TINY.get(method, [])])
        queried = np.load(tmp_path / f"{method}_selected.npy")
        assert len(set(queried.tolist())) == 5 and np.isin(queried, pool).all(), method
        np.testing.assert_array_equal(np.load(out), np.sort(np.concatenate([labeled, queried])))


@pytest.mark.parametrize("device", DEVICES)
def test_stopped_and_resumed_equals_uninterrupted(split, tmp_path, device):
    """Bit for bit with --deterministic (on CUDA, cuDNN's fastest kernels are not reproducible)."""
    train_on(split, device, tmp_path / "whole", "--deterministic")
    train_on(split, device, tmp_path / "cut", "--deterministic", "--stop-after-epoch", "1")
    assert (tmp_path / "cut" / "checkpoint.pt").exists() and not (tmp_path / "cut" / "metrics.json").exists()
    assert "resuming" in train_on(split, device, tmp_path / "cut", "--deterministic", "--resume").stdout
    assert_same_results(tmp_path / "whole", tmp_path / "cut")


@pytest.mark.parametrize("device", DEVICES)
def test_deterministic_reruns_are_bit_identical(split, tmp_path, device):
    for name in ("a", "b"):
        train_on(split, device, tmp_path / name, "--deterministic")
    assert_same_results(tmp_path / "a", tmp_path / "b")


def tiny_training_state():
    """(identity, state): what train.main builds before its epoch loop, for a 3-class width-4 model and a pool of 5."""
    args = train.parse_args(["--dataset", "x", "--labeled", "x", "--out", "x", "--width", "4"])
    identity = {key: vars(args)[key] for key in train.TRAINING_SETTINGS}  # what a checkpoint must match
    return identity, train.new_training_state(args, 3, 2, 5, torch.device("cpu"))


def save_and_restore(tmp_path, device, edit=None):
    identity, saved = tiny_training_state()
    torch.randint(0, 10, (3,), generator=saved.generators[0])  # move a generator on before saving
    checkpoint.save(tmp_path / "checkpoint.pt", identity, 1, saved, torch.device("cpu"))
    if edit:
        state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
        edit(state)
        torch.save(state, tmp_path / "checkpoint.pt")
    _, restored = tiny_training_state()
    return checkpoint.restore(tmp_path / "checkpoint.pt", identity, restored, device), saved, restored


def test_checkpoint_is_loaded_to_the_cpu_first(tmp_path, monkeypatch):
    """On a GPU, torch.load(map_location=cuda) put the RNG states on the GPU, and set_state refused
    them ("RNG state must be a torch.ByteTensor") on every retry. Emulated here: a tensor loaded
    to any device but the CPU lands where set_state cannot read it (the meta device)."""
    real_load = torch.load

    def to_meta(x):
        if torch.is_tensor(x):
            return x.to("meta")
        if isinstance(x, dict):
            return {k: to_meta(v) for k, v in x.items()}
        return [to_meta(v) for v in x] if isinstance(x, list) else x

    def load_as_on_another_device(path, map_location=None, **kwargs):
        state = real_load(path, map_location="cpu", **kwargs)
        return state if map_location == "cpu" else to_meta(state)

    monkeypatch.setattr(torch, "load", load_as_on_another_device)
    epoch, saved, restored = save_and_restore(tmp_path, torch.device("cpu"))
    assert epoch == 1
    assert torch.equal(saved.generators[0].get_state(), restored.generators[0].get_state())


def test_checkpoint_of_another_device_type_is_refused_by_name(tmp_path):
    def as_if_written_on_cuda(state):
        state["device_type"] = "cuda"
        state["generators"] = [torch.zeros(16, dtype=torch.uint8)] * 2  # a CUDA generator's state size

    with pytest.raises(FileError, match=r"checkpoint.pt: written on cuda, but this run is on cpu"):
        save_and_restore(tmp_path, torch.device("cpu"), as_if_written_on_cuda)


def test_checkpoint_of_another_device_type_stops_train_py_with_one_line(split, tmp_path):
    run = tmp_path / "run"
    train_on(split, "cpu", run, "--stop-after-epoch", "1")
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    state["device_type"], state["generators"] = "cuda", [torch.zeros(16, dtype=torch.uint8)] * 2
    torch.save(state, run / "checkpoint.pt")
    result = train_on(split, "cpu", run, "--resume", check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert f"error: {run / 'checkpoint.pt'}: written on cuda, but this run is on cpu" in result.stderr


@pytest.mark.parametrize("user_value", [None, ":16:8"])
def test_deterministic_sets_the_cublas_workspace_unless_the_user_did(monkeypatch, user_value):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    if user_value:
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", user_value)
    try:
        device_settings.setup_device("cpu", deterministic=True)
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == (user_value or ":4096:8")
    finally:
        device_settings.setup_device("cpu", deterministic=False)


def test_cudnn_autotuner_is_on_unless_deterministic():
    try:
        device_settings.setup_device("cpu", deterministic=True)
        assert torch.backends.cudnn.benchmark is False and torch.are_deterministic_algorithms_enabled()
    finally:
        device_settings.setup_device("cpu", deterministic=False)
    assert torch.backends.cudnn.benchmark is True and not torch.are_deterministic_algorithms_enabled()


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
UNUSABLE_DEVICES = [("foo", "--device: unknown device 'foo'; expected auto, cpu, cuda, cuda:N or mps"),
                    ("meta", "--device: unknown device 'meta'"),
                    pytest.param("cuda", "--device cuda: no CUDA GPU is available on this machine", marks=NO_CUDA)]


@pytest.mark.parametrize("name, message", UNUSABLE_DEVICES)
def test_unusable_device_stops_train_py_with_one_line(split, tmp_path, name, message):
    result = train_on(split, name, tmp_path / "run", check=False)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {message}"), result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "run").exists()


@pytest.mark.parametrize("name, message", UNUSABLE_DEVICES)
def test_unusable_device_stops_acquire_py_with_one_line(tmp_path, name, message):
    from test_acquire import make_run

    run = make_run(tmp_path / "run", np.zeros((3, 6), np.uint8), labeled=[0, 1], pool=np.arange(2, 8))
    result = run_script("acquire.py", "--run", run, "--method", "bald", "--budget", 2, "--out", tmp_path / "n.npy",
                        "--device", name, check=False)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {message}"), result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "n.npy").exists()


def test_a_cuda_index_beyond_the_machines_gpus_is_refused():
    name = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU (none on a CPU machine)
    with pytest.raises(FileError, match=rf"--device {name}: (no CUDA GPU is available|this machine has)"):
        device_settings.resolve_device(name)
