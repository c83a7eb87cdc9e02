"""Save and restore a training mid-way: train.py --checkpoint-every, --stop-after-epoch, --resume.

A checkpoint (RUN/checkpoint.pt, removed when the training finishes) holds everything that changes
during training: weights, optimiser and schedule, the random generators' states and the pool
predictions recorded so far, so a resumed training gives the same results as an uninterrupted one
(bit for bit on the CPU, and on CUDA with --deterministic). It is loaded to the CPU first: RNG states
must stay CPU byte tensors, and load_state_dict copies the rest to wherever the model lives.
A damaged checkpoint (empty, truncated, not written by save) is refused with one line.
"""
import json

import torch

from files import FileError, brief, load_torch, save_torch
from provenance import check_identity

# What save() writes, and the type of each entry (and "device_type", absent in older checkpoints).
CONTENTS = {"identity": dict, "epoch": int, "model": dict, "optimizer": dict, "scheduler": dict,
            "generators": list, "torch_rng": torch.Tensor, "cuda_rng": torch.Tensor, "preds": torch.Tensor,
            "history": str}
REMEDY = "delete it to start this training over"


def save(path, identity, epoch, state, device):
    """identity: train.training_identity (inputs and settings); state: train.TrainingState after
    `epoch` (1-based) epochs."""
    save_torch(path, {
        "identity": identity, "epoch": epoch,
        "model": state.model.state_dict(), "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(), "device_type": device.type,
        "generators": [g.get_state() for g in state.generators], "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.zeros(0),
        "preds": state.preds, "history": json.dumps(state.history)})


def restore(path, identity, state, device):
    """Load a checkpoint of the same inputs, settings and device type into `state`; returns its epoch."""
    saved = load_torch(path, REMEDY)
    wrong = [k for k, kind in CONTENTS.items() if not isinstance(saved, dict) or not isinstance(saved.get(k), kind)]
    if wrong:
        raise FileError(f"{path}: not a checkpoint of train.py ('{wrong[0]}' missing or of the wrong type); {REMEDY}")
    check_identity(path, saved["identity"], identity, "written", f"{REMEDY}, or run without --resume")
    if saved["preds"].shape != state.preds.shape:
        raise FileError(f"{path}: pool predictions of shape {tuple(saved['preds'].shape)}, expected "
                        f"{tuple(state.preds.shape)}; {REMEDY}")
    saved_on = saved.get("device_type", device.type)
    if saved_on != device.type:  # a CPU and a CUDA generator have different states and streams
        raise FileError(f"{path}: written on {saved_on}, but this run is on {device.type}; resume it on "
                        f"{saved_on} (--device), or {REMEDY}")
    if not 1 <= saved["epoch"] < identity["epochs"] or len(saved["generators"]) != len(state.generators):
        raise FileError(f"{path}: damaged (epoch {saved['epoch']}, {len(saved['generators'])} generators); {REMEDY}")
    try:
        _load_into(saved, state, device)
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError) as e:
        raise FileError(f"{path}: damaged ({brief(e)}); {REMEDY}") from None
    return saved["epoch"]


def _load_into(saved, state, device):
    """Copy a checked checkpoint's weights, optimiser, schedule, RNG states and records into `state`."""
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scheduler.load_state_dict(saved["scheduler"])
    for generator, generator_state in zip(state.generators, saved["generators"]):
        generator.set_state(generator_state)
    torch.set_rng_state(saved["torch_rng"])
    if device.type == "cuda":
        torch.cuda.set_rng_state(saved["cuda_rng"], device)
    state.preds.copy_(saved["preds"])
    state.history.clear()
    state.history.update(json.loads(saved["history"]))
