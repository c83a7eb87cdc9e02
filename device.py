"""The compute device: which one, its backend settings, and the memory layout of the model.

Used by train.py (and acquire.py for model-based methods). Only setup_device changes global state.

    python device.py NAME      prints the device NAME resolves to, or one `error:` line (exit 2)
"""
import os
import sys
import time

import torch

from files import FileError, exit_with_error


def resolve_device(name):
    """auto: the first CUDA GPU, else Apple's MPS, else the CPU. An unknown name, or a device this
    machine lacks, raises FileError before any work."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if torch.backends.mps.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise FileError(f"--device: unknown device '{name}'; expected auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FileError(f"--device {name}: no CUDA GPU is available on this machine; use --device cpu (or auto)")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise FileError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                        f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise FileError(f"--device {name}: Apple's MPS is not available on this machine; use --device cpu (or auto)")
    return device


def setup_device(name, deterministic=False):
    """The compute device `name` (as resolve_device), with the backend settings --deterministic asks
    for (call before any CUDA work)."""
    if deterministic:
        # cuBLAS is reproducible only with a fixed workspace, read when CUDA starts (PyTorch's
        # reproducibility notes); a value the user set is kept.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    device = resolve_device(name)
    torch.use_deterministic_algorithms(deterministic)
    # Shapes never change within a run, so cuDNN's autotuner pays off; it is not reproducible.
    torch.backends.cudnn.benchmark = not deterministic
    return device


def describe_device(device):
    """One line for the log: which device trains, so a CPU run of the paper preset is never silent."""
    if device.type == "cuda":
        return f"cuda:{device.index or 0} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def memory_format(device, width):
    """Speed only (the plain equivalent is PyTorch's default layout): channels-last is faster for
    convolutions, but on the CPU, torch 2.14's backward pass of a strided 1x1 convolution corrupts
    memory in channels-last for 4-8 channels and odd batch sizes (a crash, found by
    tests/test_run_all.py): narrow CPU models keep the default layout."""
    if device.type == "cpu" and width < 16:
        return torch.contiguous_format
    return torch.channels_last


def clock(device):
    """Wall time once the device has finished its queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


if __name__ == "__main__":
    try:
        if len(sys.argv) != 2:
            raise FileError("usage: python device.py NAME (auto, cpu, cuda, cuda:N or mps)")
        print(resolve_device(sys.argv[1]))
    except FileError as e:
        exit_with_error(e)
