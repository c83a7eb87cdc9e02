"""Save and restore a training mid-way: train.py --checkpoint-every, --stop-after-epoch, --resume.

A checkpoint (RUN/checkpoint.pt, removed when the training finishes) holds everything that changes
during training (TrainingState): weights, optimiser and schedule, the random generators' states and
the pool predictions and history recorded so far, so a resumed training gives the same results as an
uninterrupted one (bit for bit on the CPU, and on CUDA with --deterministic). It is loaded to the CPU
first: RNG states must stay CPU byte tensors, and load_state_dict copies the rest to wherever the
model lives. A damaged checkpoint (empty, truncated, not written by save) is refused with one line,
and so is one of other inputs or settings (the training's identity, train.training_identity).
"""
import json
from dataclasses import dataclass

import torch

from files import FileError, brief, load_torch, save_torch
from provenance import check_identity


@dataclass
class TrainingState:
    """Everything that changes while training, and that a checkpoint must restore."""
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generators: tuple  # (shuffling + augmentation, pool augmentation for --track-augment)
    preds: torch.Tensor  # [T, P] predicted class of every pool sample after each recorded epoch
    history: dict       # per-epoch loss, accuracy, lr and seconds; seconds per phase (metrics.json)


# What save() writes, and the type of each entry.
CONTENTS = {"identity": dict, "epoch": int, "model": dict, "optimizer": dict, "scheduler": dict,
            "device_type": str, "generators": list, "torch_rng": torch.Tensor, "cuda_rng": torch.Tensor,
            "preds": torch.Tensor, "history": str}
REMEDY = "delete it to start this training over"


def save(path, identity, epoch, state, device):
    """identity: train.training_identity (inputs and settings); state: the TrainingState after
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
    saved_on = saved["device_type"]
    if saved_on != device.type:  # a CPU and a CUDA generator have different states and streams
        raise FileError(f"{path}: written on {saved_on}, but this run is on {device.type}; resume it on "
                        f"{saved_on} (--device), or {REMEDY}")
    if not 1 <= saved["epoch"] < identity["epochs"] or len(saved["generators"]) != len(state.generators):
        raise FileError(f"{path}: damaged (epoch {saved['epoch']}, {len(saved['generators'])} generators); {REMEDY}")
    try:
        history = json.loads(saved["history"])
    except ValueError as e:
        raise FileError(f"{path}: damaged ({brief(e)}); {REMEDY}") from None
    if not isinstance(history, dict) or set(history) != set(state.history):
        raise FileError(f"{path}: its history is not the one train.py records (written by another version?); "
                        f"{REMEDY}")
    try:
        _load_into(saved, history, state, device)
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError) as e:
        raise FileError(f"{path}: damaged ({brief(e)}); {REMEDY}") from None
    return saved["epoch"]


def _load_into(saved, history, state, device):
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
    state.history.update(history)


def resume(path, identity, state, device):
    """The epoch a checkpoint left off at, restored into `state`; 0 when there is none."""
    if not path.is_file():
        return 0
    done = restore(path, identity, state, device)
    print(f"resuming {path.parent} after epoch {done}", flush=True)
    return done


def stop_or_checkpoint(path, identity, epoch, state, device, epochs, every, stop_after=None):
    """After `epoch` of `epochs`: save a checkpoint when one is due (every `every` epochs, 0: never,
    or at --stop-after-epoch); True if the run should stop here (stop_after)."""
    stop = epoch == stop_after and epoch < epochs
    if stop or (every and epoch % every == 0 and epoch < epochs):
        save(path, identity, epoch, state, device)
    if stop:
        print(f"{path.parent}: stopped after epoch {epoch}; continue with --resume", flush=True)
    return stop
