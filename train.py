"""Train ResNet-18 from scratch on the labeled set, tracking the pool's predicted labels per epoch.

This is the training step of one active-learning cycle (paper, sections 3.1 and 4.1): after
every epoch the model, in eval mode and without augmentation, predicts the class of every
unlabeled pool sample; those predictions are what label-dispersion (Eq. 1-2) is computed from.

    python train.py --dataset cifar10 --labeled labeled.npy --out RUN [--universe universe.npy]

Reads --labeled (indices into the training set) and optionally --universe (the training indices
taking part in active learning; the pool is the universe minus the labeled set; default: the
universe.npy beside --labeled where data.py initial wrote one, else the whole training set).
Writes into RUN, each file atomically; metrics.json comes last, so its presence means "done":
  config.json   every setting, the library versions, git commit and device
  labeled.npy   [L] sorted labeled training indices (a copy of --labeled unless it is this file)
  pool.npy      [P] sorted training indices of the unlabeled pool
  preds.npy     [T, P] uint8 (uint16 above 256 classes): predicted class after each tracked
                epoch; with the default tracking, row t holds the predictions after epoch t+1
  probs.npy     [P, C] float32: softmax over the pool after the last epoch
  model.pt      final weights (a state_dict; models.load_model rebuilds the network)
  metrics.json  test_acc (a fraction), n_labeled, per-epoch loss, training accuracy, lr and seconds
                (training, predicting the pool), and the seconds of each phase in total
  checkpoint.pt only while training: the state --resume continues from
"""
import argparse
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

import checkpoint
import data
from checkpoint import TrainingState
from device import clock, describe_device, memory_format, setup_device
from files import (
    FileError,
    exit_with_error,
    index_dtype,
    label_dtype,
    load_indices,
    load_json,
    load_npy,
    remove_stale_temporaries,
    save_json,
    save_npy,
    save_torch,
)
from models import build_model, fuse_batchnorm
from provenance import check_identity, git_state, indices_sha256


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="cifar10, cifar100 or folder:PATH")
    p.add_argument("--data-root", default="./data", help="download and cache folder")
    p.add_argument("--labeled", required=True, help=".npy of labeled training indices")
    p.add_argument("--universe", default=None,
                   help=".npy of the training indices taking part; pool = universe - labeled (default: the "
                        "universe.npy beside --labeled if there is one, else the whole training set)")
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
    p.add_argument("--resume", action="store_true",
                   help="go on where RUN left off: keep it if it finished, continue RUN/checkpoint.pt if "
                        "there is one; either only if made from the same inputs and settings, else refuse")
    p.add_argument("--stop-after-epoch", type=int, default=None,
                   help="save a checkpoint after this epoch and exit (split a long run over job slots)")
    args = p.parse_args(argv)
    beside = Path(args.labeled).with_name("universe.npy")
    if args.universe is None and beside.is_file() and beside != Path(args.labeled):
        args.universe = str(beside)  # data.py initial writes the two side by side; never all by mistake
        print(f"--universe: {beside} (found beside --labeled)", flush=True)
    if args.milestones is None:
        args.milestones = [int(round(0.6 * args.epochs)), int(round(0.8 * args.epochs))]
    for flag in ("epochs", "batch_size", "width", "track_every"):
        if getattr(args, flag) < 1:
            raise FileError(f"--{flag.replace('_', '-')}: expected a positive integer, got {getattr(args, flag)}")
    if not 0 <= args.dropout < 1:
        raise FileError(f"--dropout: expected a probability in [0, 1), got {args.dropout}")
    return args


def tracked_epochs(epochs, track_every=1, track_last=0, no_track=False):
    """1-based epochs after which the pool is predicted (always including the last one)."""
    if no_track:
        return []
    first = epochs - track_last + 1 if track_last > 0 else 1
    return [e for e in range(1, epochs + 1) if e >= first and (epochs - e) % track_every == 0]


def split_pool(labeled_file, universe_file, n_train):
    """(labeled, pool) index arrays; the pool is the universe (or everything) minus the labeled set."""
    labeled = load_indices(labeled_file, n_train)
    universe = np.arange(n_train) if universe_file is None else load_indices(universe_file, n_train)
    if not np.isin(labeled, universe).all():
        raise FileError(f"{labeled_file}: holds indices outside the universe {universe_file}")
    if len(labeled) < 2:
        raise FileError(f"{labeled_file}: expected at least 2 labeled indices, found {len(labeled)}")
    pool = np.setdiff1d(universe, labeled)  # sorted, disjoint from labeled by construction
    return np.sort(labeled), pool


def train_one_epoch(model, optimizer, images, labels, prep, batch_size, generator, autocast):
    """One pass over the labeled set in a random order, with augmentation; returns the mean loss and
    the accuracy on the augmented training batches (for the log).

    images: [L, 3, H, W] uint8 on the device; prep: uint8 batch -> normalised float batch.
    """
    model.train()
    n = len(labels)
    order = torch.randperm(n, generator=generator, device=images.device)
    loss_sum = torch.zeros((), device=images.device)
    correct = torch.zeros((), dtype=torch.long, device=images.device)
    for start in range(0, n, batch_size):
        batch = order[start:start + batch_size]
        if len(batch) < 2:  # BatchNorm cannot train on a single sample; it is seen next epoch
            continue
        x = prep(data.random_crop_flip(images[batch], generator))
        with autocast:
            logits = model(x)
            loss = F.cross_entropy(logits, labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach().float() * len(batch)
        correct += (logits.detach().argmax(1) == labels[batch]).sum()
    return loss_sum.item() / n, correct.item() / n  # host-device syncs once per epoch, for the log


@torch.inference_mode()
def predict(model, images, prep, batch_size, autocast, generator=None):
    """(predicted class [N], softmax [N, C]) of images [N, 3, H, W] uint8, in eval mode; augmented
    with `generator` if given (--track-augment).

    Speed only: runs a copy of the model with BatchNorm folded into the convolutions, the same
    function up to float rounding as `model.eval()` under `torch.no_grad()` (models.fuse_batchnorm);
    `model` itself is left as it was.
    """
    model = fuse_batchnorm(model)
    classes, probs = [], []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        if generator is not None:
            batch = data.random_crop_flip(batch, generator)
        with autocast:
            logits = model(prep(batch))  # float32 even under bf16 autocast (models.py)
        classes.append(logits.argmax(1))
        probs.append(logits.softmax(1))
    if not classes:
        return torch.zeros(0, dtype=torch.long, device=images.device), None
    return torch.cat(classes), torch.cat(probs)


def environment(device):
    """Library versions, the code's git state (provenance.git_state) and the device, for config.json."""
    import torchvision  # here: a rerun's train.py --resume that keeps a finished run never needs it (data.py)
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__, "git": git_state(),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
            or platform.machine(), "torch_threads": torch.get_num_threads()}


# Every setting that changes what a training computes; with the hashes of its inputs, a training's
# identity (config.json "identity"): a finished run or a checkpoint is reused only if it matches.
TRAINING_SETTINGS = ("epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "milestones",
                     "gamma", "width", "dropout", "seed", "track_every", "track_last", "track_augment",
                     "no_track", "bf16", "deterministic", "pool_batch_size")


def training_identity(args):
    """What this training would be made from: dataset fingerprint, hashes of the labeled set and
    universe (their contents, not their paths), and every training setting."""
    labeled = load_npy(args.labeled, ndim=1, kind="int")
    universe = load_npy(args.universe, ndim=1, kind="int") if args.universe else None
    return {"dataset_fingerprint": data.dataset_fingerprint(args.dataset),
            "labeled_sha256": indices_sha256(labeled),
            "universe_sha256": "all" if universe is None else indices_sha256(universe),
            **{key: vars(args)[key] for key in TRAINING_SETTINGS}}


def reuse_finished(out, identity):
    """--resume on a finished run: True when it was made from exactly these inputs and settings;
    one error line when not (a rerun never mixes old and new)."""
    if not (out / "metrics.json").is_file():
        return False
    config = load_json(out / "config.json")
    check_identity(out / "config.json", config.get("identity") if isinstance(config, dict) else None,
                   identity, "finished", f"delete {out} to train it again, or use another run folder")
    print(f"{out}: finished already with these inputs and settings; kept", flush=True)
    return True


def start_run_folder(out, args, identity, dataset, labeled, pool, device, channel_mean, channel_std):
    """Mark the folder unfinished (no metrics.json), then write config.json (every setting and the
    environment), pool.npy and labeled.npy."""
    (out / "metrics.json").unlink(missing_ok=True)
    remove_stale_temporaries(out)
    config = dict(vars(args), identity=identity, device=str(device), n_train=len(dataset.train_y),
                  n_labeled=len(labeled), n_pool=len(pool), num_classes=dataset.num_classes, classes=dataset.classes,
                  channel_mean=channel_mean.tolist(), channel_std=channel_std.tolist(),
                  environment=environment(device))
    save_json(out / "config.json", config)
    save_npy(out / "pool.npy", pool.astype(index_dtype(len(dataset.train_y))))
    if not (out / "labeled.npy").exists() or not (out / "labeled.npy").samefile(args.labeled):
        save_npy(out / "labeled.npy", labeled.astype(index_dtype(len(dataset.train_y))))


def test_accuracy(model, dataset, prep, batch_size, autocast, device):
    """Fraction of the test set classified correctly; the only place the test images are used."""
    test_pred, _ = predict(model, data.to_device_images(dataset.test_x, device), prep, batch_size, autocast)
    return float((test_pred.cpu().numpy() == dataset.test_y).mean())


def write_outputs(out, model, preds, probs, num_classes, metrics):
    """The run's results, each atomically; metrics.json last, as the mark of a finished run."""
    if len(preds):
        save_npy(out / "preds.npy", preds.cpu().numpy().astype(label_dtype(num_classes)))
        save_npy(out / "probs.npy", probs.float().cpu().numpy())
    save_torch(out / "model.pt", model.state_dict())
    rounded = {k: to_milliseconds(v) if k.startswith("seconds") else v for k, v in metrics.items()}
    save_json(out / "metrics.json", rounded)


def to_milliseconds(seconds):
    """Seconds (a number, or a list of them) rounded to the millisecond."""
    return [round(s, 3) for s in seconds] if isinstance(seconds, list) else round(seconds, 3)


@dataclass
class Inputs:
    """What every epoch reads, on the device.

    Speed only: images live on the device as uint8, and each batch is cropped, flipped and
    normalised there (plain equivalent: a DataLoader with torchvision's RandomCrop(32, padding=4),
    RandomHorizontalFlip and Normalize; tests/test_data.py checks the pixels agree).
    """
    train_x: torch.Tensor  # [L, 3, H, W] uint8, the labeled images
    train_y: torch.Tensor  # [L] their classes
    pool_x: torch.Tensor   # [P, 3, H, W] uint8, the pool images
    prep: Callable         # uint8 batch -> normalised float batch (the training set's channel mean, std)
    pool_batch: int        # batch size for predicting the pool and the test set
    autocast: torch.autocast  # bfloat16 with --bf16 on CUDA, else disabled


def to_device(dataset, labeled, pool, channel_mean, channel_std, device, width, pool_batch_size, bf16):
    """The Inputs of a training: labeled and pool images moved to the device once, and how to batch them."""
    mean, std = (torch.from_numpy(s).to(device) for s in (channel_mean, channel_std))
    def prep(batch):
        return data.normalize(batch, mean, std, memory_format(device, width))
    return Inputs(data.to_device_images(dataset.train_x[labeled], device),
                  torch.from_numpy(dataset.train_y[labeled]).to(device),
                  data.to_device_images(dataset.train_x[pool], device), prep,
                  pool_batch_size or (1024 if device.type == "cuda" else 64),
                  torch.autocast(device.type, torch.bfloat16, enabled=bf16 and device.type == "cuda"))


def new_training_state(args, num_classes, num_tracked, pool_size, device):
    """The paper's model and optimiser (section 4.1), seeded; nothing recorded yet."""
    torch.manual_seed(args.seed)  # weight init (and dropout masks, if any)
    model = build_model(num_classes, args.width, args.dropout).to(device, memory_format=memory_format(device, args.width))
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                                nesterov=args.nesterov, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, args.milestones, args.gamma)
    generators = (torch.Generator(device).manual_seed(args.seed), torch.Generator(device).manual_seed(args.seed + 1))
    preds = torch.zeros(num_tracked, pool_size, dtype=torch.int16, device=device)
    history = {"train_loss": [], "train_acc": [], "lr": [], "seconds_train": 0.0, "seconds_pool": 0.0,
               "seconds_train_per_epoch": [], "seconds_pool_per_epoch": []}
    return TrainingState(model, optimizer, scheduler, generators, preds, history)


def log_epoch(history, epoch, epochs, loss, accuracy, lr, seconds_train, seconds_pool):
    """Record the epoch in metrics.json's history and print one line: the console and train.log show
    the progress, with the time left at the mean pace of the epochs so far."""
    history["train_loss"].append(loss)
    history["train_acc"].append(accuracy)
    history["lr"].append(lr)
    history["seconds_train_per_epoch"].append(seconds_train)
    history["seconds_pool_per_epoch"].append(seconds_pool)
    history["seconds_train"] += seconds_train
    history["seconds_pool"] += seconds_pool
    seconds_per_epoch = (history["seconds_train"] + history["seconds_pool"]) / len(history["train_loss"])
    print(f"epoch {epoch:3d}/{epochs}  loss {loss:.4f}  train acc {accuracy:.3f}  lr {lr:.5f}  "
          f"train {seconds_train:.1f}s  pool {seconds_pool:.1f}s  "
          f"left {format_seconds(seconds_per_epoch * (epochs - epoch))}", flush=True)


def format_seconds(seconds):
    """1h02m, 3m05s or 12s."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def warn_if_paper_scale_on_cpu(device, width, epochs):
    if device.type == "cpu" and width >= 64 and epochs >= 50:
        print("warning: the paper's network (width 64) on a CPU: about 10 hours for a cycle 0 of CIFAR-10 "
              "on 2 cores (benchmarks/README.md); --width 16 --epochs 20 (run_all.sh PRESET=quick) is "
              "CPU-sized", file=sys.stderr, flush=True)


def train(args, out, identity, state, first_epoch, tracked, inputs, device):
    """The epochs from first_epoch on: train on the labeled set, then, after a tracked epoch, predict
    the pool; a checkpoint when one is due. Returns (finished, probs): finished is False when
    --stop-after-epoch stopped the run; probs [P, C] is the pool's softmax after the last tracked epoch."""
    augment_pool = state.generators[1] if args.track_augment else None
    probs = None
    for epoch in range(first_epoch, args.epochs + 1):
        t0 = clock(device)
        loss, accuracy = train_one_epoch(state.model, state.optimizer, inputs.train_x, inputs.train_y, inputs.prep,
                                         args.batch_size, state.generators[0], inputs.autocast)
        lr = state.scheduler.get_last_lr()[0]
        state.scheduler.step()
        t1 = clock(device)
        if epoch in tracked:
            # Paper, section 3.1: after the epoch, the predicted class of every pool sample; one row
            # of preds.npy per recorded epoch (Eq. 1-2 are computed from these rows).
            state.preds[tracked.index(epoch)], probs = predict(state.model, inputs.pool_x, inputs.prep,
                                                               inputs.pool_batch, inputs.autocast, augment_pool)
        log_epoch(state.history, epoch, args.epochs, loss, accuracy, lr, t1 - t0, clock(device) - t1)
        if checkpoint.stop_or_checkpoint(out / "checkpoint.pt", identity, epoch, state, device, args.epochs,
                                         args.checkpoint_every, args.stop_after_epoch):
            return False, probs
    return True, probs


def finish(out, state, probs, inputs, dataset, labeled, pool, tracked, args, device):
    """Test the final model and write the run's results; the checkpoint goes."""
    if tracked and args.track_augment:  # the final softmax (probs.npy) is on clean images
        probs = predict(state.model, inputs.pool_x, inputs.prep, inputs.pool_batch, inputs.autocast)[1]
    t3 = time.perf_counter()
    test_acc = test_accuracy(state.model, dataset, inputs.prep, inputs.pool_batch, inputs.autocast, device)
    state.history["seconds_test"] = time.perf_counter() - t3
    write_outputs(out, state.model, state.preds, probs, dataset.num_classes, {
        "test_acc": test_acc, "n_labeled": len(labeled), "n_pool": len(pool), "epochs": args.epochs,
        "pred_epochs": tracked, **state.history})
    (out / "checkpoint.pt").unlink(missing_ok=True)
    print(f"{out}: test accuracy {test_acc:.4f} with {len(labeled)} labeled samples", flush=True)


def main(argv=None):
    args = parse_args(argv)
    out, identity = Path(args.out), training_identity(args)
    if args.resume and reuse_finished(out, identity):
        return
    device = setup_device(args.device, args.deterministic)
    print(f"{out}: training on {describe_device(device)}", flush=True)
    warn_if_paper_scale_on_cpu(device, args.width, args.epochs)
    dataset = data.load_dataset(args.dataset, args.data_root)
    labeled, pool = split_pool(args.labeled, args.universe, len(dataset.train_y))
    tracked = tracked_epochs(args.epochs, args.track_every, args.track_last, args.no_track) if len(pool) else []
    channel_mean, channel_std = dataset.channel_stats()
    start_run_folder(out, args, identity, dataset, labeled, pool, device, channel_mean, channel_std)
    inputs = to_device(dataset, labeled, pool, channel_mean, channel_std, device, args.width,
                       args.pool_batch_size, args.bf16)
    state = new_training_state(args, dataset.num_classes, len(tracked), len(pool), device)
    first_epoch = checkpoint.resume(out / "checkpoint.pt", identity, state, device) + 1 if args.resume else 1
    finished, probs = train(args, out, identity, state, first_epoch, tracked, inputs, device)
    if finished:
        finish(out, state, probs, inputs, dataset, labeled, pool, tracked, args, device)


if __name__ == "__main__":
    try:
        main()
    except FileError as e:
        exit_with_error(e)
