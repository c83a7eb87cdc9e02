"""Train ResNet-18 from scratch on the labeled set, tracking the pool's predicted labels per epoch.

This is the training step of one active-learning cycle (paper, sections 3.1 and 4.1): after
every epoch the model, in eval mode and without augmentation, predicts the class of every
unlabeled pool sample; those predictions are what label-dispersion (Eq. 1-2) is computed from.

    python train.py --dataset cifar10 --labeled labeled.npy --out RUN [--universe universe.npy]

Reads --labeled (indices into the training set) and optionally --universe (the training indices
taking part in active learning; the pool is the universe minus the labeled set; default: the
whole training set).
Writes into RUN, each file atomically; metrics.json comes last, so its presence means "done":
  config.json   every setting, the library versions, git commit and device
  labeled.npy   [L] sorted labeled training indices (a copy of --labeled unless it is this file)
  pool.npy      [P] sorted training indices of the unlabeled pool
  preds.npy     [T, P] uint8 (uint16 above 256 classes): predicted class after each tracked
                epoch; with the default tracking, row t holds the predictions after epoch t+1
  probs.npy     [P, C] float32: softmax over the pool after the last epoch
  model.pt      final weights (a state_dict; models.load_model rebuilds the network)
  metrics.json  test_acc (a fraction), n_labeled, per-epoch loss and lr, seconds per phase
  checkpoint.pt only while training: the state --resume continues from
"""
import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import data
from files import (
    FileError,
    exit_with_error,
    index_dtype,
    label_dtype,
    load_indices,
    remove_stale_temporaries,
    save_json,
    save_npy,
    save_torch,
)
from models import build_model, fuse_batchnorm


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="cifar10, cifar100 or folder:PATH")
    p.add_argument("--data-root", default="./data", help="download and cache folder")
    p.add_argument("--labeled", required=True, help=".npy of labeled training indices")
    p.add_argument("--universe", default=None,
                   help=".npy of the training indices taking part; pool = universe - labeled (default: all)")
    p.add_argument("--subset", help=argparse.SUPPRESS)  # the old name of --universe: refused below
    p.add_argument("--out", required=True, help="run folder to write")
    p.add_argument("--epochs", type=int, default=100, help="100 (paper, section 4.1)")
    p.add_argument("--batch-size", type=int, default=256, help="256 (authors' code; paper silent)")
    p.add_argument("--lr", type=float, default=0.02, help="0.02 (paper, section 4.1)")
    p.add_argument("--momentum", type=float, default=0.9, help="0.9 (paper, section 4.1)")
    p.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=True,
                   help="Nesterov momentum (authors' code; paper silent)")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="5e-4 (authors' code; paper silent)")
    p.add_argument("--milestones", type=int, nargs="*", default=None,
                   help="epochs where lr is multiplied by --gamma (default: 60%% and 80%% of --epochs, "
                        "i.e. 60 80 as in the paper)")
    p.add_argument("--gamma", type=float, default=0.2,
                   help="lr factor at each milestone: 0.2 = divide by 5 (paper); the authors' code uses 0.5")
    p.add_argument("--width", type=int, default=64, help="ResNet-18 base channels (64 = the paper's model)")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout before the classifier (for BALD)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--pool-batch-size", type=int, default=None,
                   help="batch size for predicting pool/test (default: 1024 on GPU, 64 on CPU)")
    p.add_argument("--no-track", action="store_true",
                   help="skip pool predictions (no preds.npy/probs.npy): for runs no acquisition follows")
    p.add_argument("--track-every", type=int, default=1, help="record pool predictions every k-th epoch")
    p.add_argument("--track-last", type=int, default=0, help="record only the last K epochs (0: all)")
    p.add_argument("--track-augment", action="store_true",
                   help="predict the pool on augmented images (authors' code) instead of clean ones (paper)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CUDA only)")
    p.add_argument("--deterministic", action="store_true",
                   help="torch.use_deterministic_algorithms (CUDA; CPU runs are deterministic already)")
    p.add_argument("--checkpoint-every", type=int, default=10, help="save checkpoint.pt every k epochs (0: never)")
    p.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt if it exists")
    p.add_argument("--stop-after-epoch", type=int, default=None,
                   help="save a checkpoint after this epoch and exit (split a long run over job slots)")
    args = p.parse_args(argv)
    if args.subset is not None:
        raise FileError("--subset was renamed --universe (the .npy of the training indices taking part)")
    del args.subset
    if args.milestones is None:
        args.milestones = [int(round(0.6 * args.epochs)), int(round(0.8 * args.epochs))]
    for flag in ("epochs", "batch_size", "width", "track_every"):
        if getattr(args, flag) < 1:
            raise FileError(f"--{flag.replace('_', '-')}: expected a positive integer, got {getattr(args, flag)}")
    if not 0 <= args.dropout < 1:
        raise FileError(f"--dropout: expected a probability in [0, 1), got {args.dropout}")
    return args


def tracked_epochs(args):
    """1-based epochs after which the pool is predicted (always including the last one)."""
    if args.no_track:
        return []
    first = args.epochs - args.track_last + 1 if args.track_last > 0 else 1
    return [e for e in range(1, args.epochs + 1) if e >= first and (args.epochs - e) % args.track_every == 0]


def resolve_device(name):
    """auto: the first CUDA GPU, else Apple's MPS, else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if torch.backends.mps.is_available() else torch.device("cpu")
    return torch.device(name)


def setup_device(args):
    """The compute device, with the backend settings this run asks for (call before any CUDA work)."""
    if args.deterministic:
        # cuBLAS is reproducible only with a fixed workspace, read when CUDA starts (PyTorch's
        # reproducibility notes); a value the user set is kept.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    device = resolve_device(args.device)
    torch.use_deterministic_algorithms(args.deterministic)
    # Shapes never change within a run, so cuDNN's autotuner pays off; it is not reproducible.
    torch.backends.cudnn.benchmark = not args.deterministic
    return device


def describe_device(device):
    """One line for the log: which device trains, so a CPU run of the paper preset is never silent."""
    if device.type == "cuda":
        return f"cuda:{device.index or 0} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def split_pool(args, n_train):
    """(labeled, pool) index arrays; the pool is the universe (or everything) minus the labeled set."""
    labeled = load_indices(args.labeled, n_train)
    universe = np.arange(n_train) if args.universe is None else load_indices(args.universe, n_train)
    if not np.isin(labeled, universe).all():
        raise FileError(f"{args.labeled}: holds indices outside the universe {args.universe}")
    if len(labeled) < 2:
        raise FileError(f"{args.labeled}: expected at least 2 labeled indices, found {len(labeled)}")
    pool = np.setdiff1d(universe, labeled)  # sorted, disjoint from labeled by construction
    return np.sort(labeled), pool


def memory_format(device, width):
    """Channels-last is faster for convolutions, but on the CPU, torch 2.14's backward pass of a
    strided 1x1 convolution corrupts memory in channels-last for 4-8 channels and odd batch sizes
    (a crash, found by tests/test_run_all.py): narrow CPU models keep the default layout."""
    if device.type == "cpu" and width < 16:
        return torch.contiguous_format
    return torch.channels_last


def train_one_epoch(model, optimizer, images, labels, prep, args, generator, autocast):
    """One pass over the labeled set in a random order, with augmentation; returns the mean loss.

    images: [L, 3, H, W] uint8 on the device; prep: uint8 batch -> normalised float batch.
    """
    model.train()
    n = len(labels)
    order = torch.randperm(n, generator=generator, device=images.device)
    loss_sum = torch.zeros((), device=images.device)
    for start in range(0, n, args.batch_size):
        batch = order[start:start + args.batch_size]
        if len(batch) < 2:  # BatchNorm cannot train on a single sample; it is seen next epoch
            continue
        x = prep(data.random_crop_flip(images[batch], generator))
        with autocast:
            loss = F.cross_entropy(model(x), labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach().float() * len(batch)
    return loss_sum.item() / n  # one host-device sync per epoch, for the log


@torch.inference_mode()
def predict(model, images, prep, batch_size, autocast, generator=None, with_probs=False):
    """Predicted class [N] (and softmax [N, C] if with_probs) in eval mode; augmented if generator.

    Runs a copy of the model with BatchNorm folded into the convolutions: the same function up to
    float rounding, and faster (benchmarks/speed.py prints both forward rates); `model` is left as it was.
    """
    model = fuse_batchnorm(model)
    classes, probs = [], []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        if generator is not None:
            batch = data.random_crop_flip(batch, generator)
        with autocast:
            logits = model(prep(batch)).float()
        classes.append(logits.argmax(1))
        if with_probs:
            probs.append(logits.softmax(1))
    empty = torch.zeros(0, dtype=torch.long, device=images.device)
    classes = torch.cat(classes) if classes else empty
    return (classes, torch.cat(probs) if probs else None) if with_probs else classes


def environment(device):
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    import torchvision
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__, "git_commit": commit,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
            or platform.machine(), "torch_threads": torch.get_num_threads()}


SETTINGS_THAT_MUST_MATCH = ("dataset", "labeled", "universe", "epochs", "batch_size", "lr", "momentum",
                            "nesterov", "weight_decay", "milestones", "gamma", "width", "dropout",
                            "seed", "track_every", "track_last", "track_augment", "no_track", "bf16")


def save_checkpoint(path, args, epoch, model, optimizer, scheduler, generators, preds, history, device):
    """Everything --resume needs to continue exactly: weights, optimiser, schedule, RNG states."""
    save_torch(path, {
        "settings": {k: vars(args)[k] for k in SETTINGS_THAT_MUST_MATCH}, "epoch": epoch,
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "device_type": device.type, "generators": [g.get_state() for g in generators],
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.zeros(0),
        "preds": preds, "history": json.dumps(history)})


def restore_checkpoint(path, args, model, optimizer, scheduler, generators, preds, device):
    """Load a checkpoint of the same settings into the given objects; returns (epoch, history).

    Loaded to the CPU first: RNG states must stay CPU byte tensors, and load_state_dict copies the
    weights and the optimiser's buffers to wherever the model lives.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    differing = [k for k in SETTINGS_THAT_MUST_MATCH if state["settings"].get(k) != vars(args)[k]]
    if differing or state["preds"].shape != preds.shape:
        raise FileError(f"{path}: written with other settings ({', '.join(differing) or 'pool size'}); "
                        f"delete it or run without --resume")
    saved_on = state.get("device_type", device.type)
    if saved_on != device.type:  # a CPU and a CUDA generator have different states and streams
        raise FileError(f"{path}: written on {saved_on}, but this run is on {device.type}; resume it on "
                        f"{saved_on} (--device), or delete it to start this training again")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    for generator, saved in zip(generators, state["generators"]):
        generator.set_state(saved)
    torch.set_rng_state(state["torch_rng"])
    if device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"], device)
    preds.copy_(state["preds"])
    return state["epoch"], json.loads(state["history"])


def write_run_description(out, args, dataset, labeled, pool, device, channel_mean, channel_std):
    """config.json (every setting and the environment), pool.npy and labeled.npy."""
    config = dict(vars(args), device=str(device), n_train=len(dataset.train_y), n_labeled=len(labeled),
                  n_pool=len(pool), num_classes=dataset.num_classes, classes=dataset.classes,
                  channel_mean=channel_mean.tolist(), channel_std=channel_std.tolist(),
                  environment=environment(device))
    save_json(out / "config.json", config)
    save_npy(out / "pool.npy", pool.astype(index_dtype(len(dataset.train_y))))
    if not (out / "labeled.npy").exists() or not (out / "labeled.npy").samefile(args.labeled):
        save_npy(out / "labeled.npy", labeled.astype(index_dtype(len(dataset.train_y))))


def test_accuracy(model, dataset, prep, batch_size, autocast, device):
    """Fraction of the test set classified correctly; the only place the test images are used."""
    test_pred = predict(model, data.to_device_images(dataset.test_x, device), prep, batch_size, autocast)
    return float((test_pred.cpu().numpy() == dataset.test_y).mean())


def write_outputs(out, model, preds, probs, num_classes, metrics):
    """The run's results, each atomically; metrics.json last, as the mark of a finished run."""
    if len(preds):
        save_npy(out / "preds.npy", preds.cpu().numpy().astype(label_dtype(num_classes)))
        save_npy(out / "probs.npy", probs.float().cpu().numpy())
    save_torch(out / "model.pt", model.state_dict())
    rounded = {k: round(v, 3) if k.startswith("seconds") else v for k, v in metrics.items()}
    save_json(out / "metrics.json", rounded)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    device = setup_device(args)
    print(f"{out}: training on {describe_device(device)}", flush=True)
    dataset = data.load_dataset(args.dataset, args.data_root)
    labeled, pool = split_pool(args, len(dataset.train_y))
    epochs_to_track = tracked_epochs(args) if len(pool) else []
    pool_batch = args.pool_batch_size or (1024 if device.type == "cuda" else 64)

    (out / "metrics.json").unlink(missing_ok=True)  # this folder is "not done" until we finish
    remove_stale_temporaries(out)
    channel_mean, channel_std = dataset.channel_stats()
    write_run_description(out, args, dataset, labeled, pool, device, channel_mean, channel_std)

    # Everything lives on the device as uint8; batches are augmented and normalised there.
    mean, std = (torch.from_numpy(s).to(device) for s in (channel_mean, channel_std))
    layout = memory_format(device, args.width)
    def prep(batch):
        return data.normalize(batch, mean, std, layout)
    train_x = data.to_device_images(dataset.train_x[labeled], device)
    train_y = torch.from_numpy(dataset.train_y[labeled]).to(device)
    pool_x = data.to_device_images(dataset.train_x[pool], device)

    torch.manual_seed(args.seed)  # weight init and dropout masks
    model = build_model(dataset.num_classes, args.width, args.dropout).to(device, memory_format=layout)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                                nesterov=args.nesterov, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, args.milestones, args.gamma)
    generator = torch.Generator(device).manual_seed(args.seed)            # shuffling + augmentation
    track_generator = torch.Generator(device).manual_seed(args.seed + 1)  # only for --track-augment
    autocast = torch.autocast(device.type, torch.bfloat16, enabled=args.bf16 and device.type == "cuda")

    preds = torch.zeros(len(epochs_to_track), len(pool), dtype=torch.int16, device=device)
    history = {"train_loss": [], "lr": [], "seconds_train": 0.0, "seconds_pool": 0.0}
    start_epoch = 1
    checkpoint_path = out / "checkpoint.pt"
    generators = (generator, track_generator)
    if args.resume and checkpoint_path.is_file():
        done, history = restore_checkpoint(checkpoint_path, args, model, optimizer, scheduler, generators,
                                           preds, device)
        start_epoch = done + 1
        print(f"resuming {out} after epoch {done}", flush=True)

    probs = None
    for epoch in range(start_epoch, args.epochs + 1):
        t0 = time.perf_counter()
        loss = train_one_epoch(model, optimizer, train_x, train_y, prep, args, generator, autocast)
        lr = scheduler.get_last_lr()[0]
        scheduler.step()
        t1 = time.perf_counter()
        if epoch in epochs_to_track:
            last = epoch == args.epochs
            aug = track_generator if args.track_augment else None
            result = predict(model, pool_x, prep, pool_batch, autocast, aug, with_probs=last and aug is None)
            preds[epochs_to_track.index(epoch)] = result[0] if isinstance(result, tuple) else result
            probs = result[1] if isinstance(result, tuple) else probs
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        t2 = time.perf_counter()
        history["train_loss"].append(loss)
        history["lr"].append(lr)
        history["seconds_train"] += t1 - t0
        history["seconds_pool"] += t2 - t1
        print(f"epoch {epoch:3d}/{args.epochs}  loss {loss:.4f}  lr {lr:.5f}  "
              f"train {t1 - t0:.1f}s  pool {t2 - t1:.1f}s", flush=True)
        stop_now = epoch == args.stop_after_epoch and epoch < args.epochs
        if stop_now or (args.checkpoint_every and epoch % args.checkpoint_every == 0 and epoch < args.epochs):
            save_checkpoint(checkpoint_path, args, epoch, model, optimizer, scheduler, generators, preds,
                            history, device)
        if stop_now:
            print(f"{out}: stopped after epoch {epoch}; continue with --resume", flush=True)
            return

    if epochs_to_track and probs is None:  # --track-augment: the final softmax is on clean images
        probs = predict(model, pool_x, prep, pool_batch, autocast, with_probs=True)[1]
    t3 = time.perf_counter()
    test_acc = test_accuracy(model, dataset, prep, pool_batch, autocast, device)
    history["seconds_test"] = time.perf_counter() - t3
    write_outputs(out, model, preds, probs, dataset.num_classes, {
        "test_acc": test_acc, "n_labeled": len(labeled), "n_pool": len(pool), "epochs": args.epochs,
        "pred_epochs": epochs_to_track, **history})
    checkpoint_path.unlink(missing_ok=True)
    print(f"{out}: test accuracy {test_acc:.4f} with {len(labeled)} labeled samples", flush=True)


if __name__ == "__main__":
    try:
        main()
    except FileError as e:
        exit_with_error(e)
