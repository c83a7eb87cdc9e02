"""Speed of one active-learning epoch: bare compute vs. train.py vs. a conventional pipeline.

    python benchmarks/speed.py                       # CPU, quick-preset scale (width 16)
    python benchmarks/speed.py --device cuda --width 64 --labeled 5000 --pool 45000   # paper scale

One epoch of label-dispersion = training on the labeled set + predicting the whole pool. On the
same random uint8 images (speed does not depend on content) and the same model, it measures:
  (1) bare compute: forward+backward steps and forward passes on normalised tensors already in
      memory, at the throughput-best batch size of --batch-sizes; (1b) the same with the forward
      passes on the BatchNorm-folded copy that train.py predicts with;
  (2) train.py's own epoch: its train_one_epoch (device-side augmentation) + predict, and the
      ratio to the bare compute for the same number of images;
  (3) a conventional pipeline: a torchvision-style Dataset handing out PIL images, transforms per
      image (RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize), a DataLoader
      with batch 128 for training and 1000 for the pool (num_workers 0 and 2, the faster counts),
      and train.py's speedup over it; (2) and (3) take turns in each repetition.
With --bf16, (1) and (2) are timed a second time under bfloat16 autocast (CUDA), in the same rounds.
Each time is the median of --repeats runs; peak memory is the process's (CPU) or the GPU's.
"""
import argparse
import contextlib
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import data  # noqa: E402
import device as device_settings  # noqa: E402
import train  # noqa: E402
from models import build_model, fuse_batchnorm  # noqa: E402


def timed_together(fns, device, repeats):
    """{name: median wall seconds} of each fn() over `repeats` rounds, after one warm-up round.

    The functions take turns within each round, so a slow spell of the machine (other tenants,
    clock changes) hits all of them alike and their ratios stay fair.
    """
    times = {name: [] for name in fns}
    for round_ in range(repeats + 1):
        for name, fn in fns.items():
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if round_ > 0:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def timed(fn, device, repeats):
    """Median wall seconds of fn() over `repeats` runs, after one warm-up run."""
    return timed_together({"fn": fn}, device, repeats)["fn"]


def bare_train(model, optimizer, x, y, batch_size, autocast=contextlib.nullcontext()):
    model.train()
    for start in range(0, len(x), batch_size):
        with autocast:
            loss = F.cross_entropy(model(x[start:start + batch_size]), y[start:start + batch_size])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


@torch.inference_mode()
def bare_forward(model, x, batch_size, autocast=contextlib.nullcontext()):
    model.eval()
    for start in range(0, len(x), batch_size):
        with autocast:
            model(x[start:start + batch_size]).argmax(1)


class PilDataset(torch.utils.data.Dataset):
    """What torchvision's CIFAR10 does: uint8 arrays, one PIL image per __getitem__."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def conventional_epoch(model, optimizer, labeled, pool, mean, std, device, workers):
    import torchvision.transforms as T

    normalize = T.Normalize(mean.tolist(), std.tolist())
    train_tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), normalize])
    test_tf = T.Compose([T.ToTensor(), normalize])
    train_loader = torch.utils.data.DataLoader(PilDataset(*labeled, train_tf), batch_size=128, shuffle=True,
                                               num_workers=workers)
    pool_loader = torch.utils.data.DataLoader(PilDataset(*pool, test_tf), batch_size=1000, num_workers=workers)
    model.train()
    for x, y in train_loader:
        loss = F.cross_entropy(model(x.to(device)), y.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        [model(x.to(device)).argmax(1).cpu() for x, _ in pool_loader]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default cpu)")
    p.add_argument("--width", type=int, default=16, help="ResNet-18 base channels (default 16; the paper's: 64)")
    p.add_argument("--labeled", type=int, default=500, help="training images per epoch")
    p.add_argument("--pool", type=int, default=4500, help="pool images predicted per epoch")
    p.add_argument("--train-batch-size", type=int, default=64, help="train.py's batch size")
    p.add_argument("--pool-batch-size", type=int, default=None, help="train.py's (default: its own)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128, 256, 512],
                   help="pool batch sizes to time")
    p.add_argument("--repeats", type=int, default=3, help="timings per case; the median is reported")
    p.add_argument("--skip-conventional", action="store_true",
                   help="skip (3), the conventional DataLoader pipeline (the slowest)")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2],
                   help="DataLoader worker counts for (3); the faster one is compared")
    p.add_argument("--bf16", action="store_true", help="also time (1) and (2) under bfloat16 autocast")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.labeled + args.pool, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, len(images))
    mean, std = np.full(3, 0.47, np.float32), np.full(3, 0.25, np.float32)
    layout = device_settings.memory_format(device, args.width)
    model = build_model(10, args.width).to(device, memory_format=layout)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    x_u8 = data.to_device_images(images, device)
    mean_t, std_t = torch.from_numpy(mean).to(device), torch.from_numpy(std).to(device)
    x = data.normalize(x_u8, mean_t, std_t, layout)
    y = torch.from_numpy(labels).to(device)
    lab, pool = slice(0, args.labeled), slice(args.labeled, None)

    train_rates = {b: args.labeled / timed(lambda: bare_train(model, optimizer, x[lab], y[lab], b), device,
                                           args.repeats) for b in args.batch_sizes}
    fwd_rates = {b: args.pool / timed(lambda: bare_forward(model, x[pool], b), device, args.repeats)
                 for b in args.batch_sizes}
    folded = fuse_batchnorm(model)
    folded_rates = {b: args.pool / timed(lambda: bare_forward(folded, x[pool], b), device, args.repeats)
                    for b in args.batch_sizes}
    best_train, best_fwd = max(train_rates, key=train_rates.get), max(fwd_rates, key=fwd_rates.get)
    best_folded = max(folded_rates, key=folded_rates.get)
    print("batch size  train img/s  forward img/s  forward, BN folded, img/s")
    for b in args.batch_sizes:
        print(f"{b:10d}  {train_rates[b]:11.0f}  {fwd_rates[b]:13.0f}  {folded_rates[b]:25.0f}")
    def bare():
        bare_train(model, optimizer, x[lab], y[lab], best_train)
        bare_forward(model, x[pool], best_fwd)
    def bare_folded():
        bare_train(model, optimizer, x[lab], y[lab], best_train)
        bare_forward(folded, x[pool], best_folded)

    pool_batch = args.pool_batch_size or (1024 if device.type == "cuda" else 64)
    generator = torch.Generator(device).manual_seed(0)
    autocast = torch.autocast(device.type, enabled=False)
    def prep(batch):
        return data.normalize(batch, mean_t, std_t, layout)
    def ours(autocast=autocast):
        train.train_one_epoch(model, optimizer, x_u8[lab], y[lab], prep, args.train_batch_size, generator, autocast)
        train.predict(model, x_u8[pool], prep, pool_batch, autocast)
    epochs = {f"(1) bare compute (best batch: train {best_train}, forward {best_fwd})": bare,
              f"(1b) the same, forward with BatchNorm folded (best batch {best_folded})": bare_folded,
              f"(2) train.py epoch (train batch {args.train_batch_size}, pool batch {pool_batch})": ours}
    if args.bf16:
        bf16 = torch.autocast(device.type, torch.bfloat16)
        epochs["(1) bf16: bare compute, same batches"] = lambda: (
            bare_train(model, optimizer, x[lab], y[lab], best_train, bf16), bare_forward(model, x[pool], best_fwd, bf16))
        epochs["(2) bf16: train.py epoch (--bf16)"] = lambda: ours(bf16)
    if not args.skip_conventional:
        split = ((images[lab], labels[lab]), (images[pool], labels[pool]))
        for workers in args.workers:
            epochs[f"(3) conventional DataLoader + PIL epoch (batch 128 / 1000, {workers} workers)"] = (
                lambda w=workers: conventional_epoch(model, optimizer, *split, mean, std, device, w))
    seconds = timed_together(epochs, device, args.repeats)  # all take turns: fair ratios
    bare_s, bare_folded_s, ours_s = list(seconds.values())[:3]
    conv = min((v for k, v in seconds.items() if k.startswith("(3)")), default=None)  # faster worker count

    peak = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(f"\n{args.labeled} labeled + {args.pool} pool images, ResNet-18 width {args.width}, {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats}")
    for name, median in seconds.items():
        print(f"{name:75s} {median:7.2f} s")
    print(f"train.py / bare compute: {ours_s / bare_s:.2f}x ({ours_s / bare_folded_s:.2f}x of (1b))")
    if args.bf16:
        bare_bf16, ours_bf16 = seconds["(1) bf16: bare compute, same batches"], seconds["(2) bf16: train.py epoch (--bf16)"]
        print(f"bf16: train.py / bare compute: {ours_bf16 / bare_bf16:.2f}x; "
              f"train.py epoch float32 time / bf16 time: {ours_s / ours_bf16:.2f}x")
    if conv is not None:
        print(f"speedup of train.py over the conventional pipeline (faster worker count): {conv / ours_s:.2f}x")
    print(f"peak memory: {peak:.0f} MiB ({'GPU' if device.type == 'cuda' else 'process RSS'})")


if __name__ == "__main__":
    main()
