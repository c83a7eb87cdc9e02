"""The data of one active-learning experiment: who takes part, who is labeled first, and the images.

Active learning (paper, section 4.1): the universe is the set of training indices taking part (the
whole training set, or a random subset for quick runs); a random 10% of it is labeled first, drawn
once per seed and shared by every method (draw_initial); the rest is the unlabeled pool.

    python data.py initial --dataset D --seed S --out DIR [--fraction 0.1] [--universe-size N]
writes DIR/universe.npy (the training indices taking part: all of them, or a random N) and
DIR/labeled.npy (a random `fraction` of the universe); run_all.sh calls it once per seed.

Datasets (`--dataset`):
  cifar10, cifar100   torchvision's CIFAR, downloaded into --data-root on first use
  folder:PATH         any ImageFolder tree PATH/train/<class>/*, PATH/test/<class>/*, images of
                      one size (e.g. the CIFAR-10 JPEG copy, or your own data)
Each dataset is decoded once into uint8 arrays and cached as `<data-root>/cache/<key>.npz` (under a
lock, so concurrent first runs take turns; a damaged cache is decoded again), so a later run starts
in seconds. A folder's images are read with Pillow (16-bit grayscale scaled to 8 bits); a file named
like an image that is none stops with one line naming it. Inputs are normalised with the training
set's channel mean and std and augmented with a random crop from 4-pixel zero padding plus a
horizontal flip (section 4.1), on whole batches of tensors on the device.
"""
import argparse
import fcntl
import hashlib
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from files import FileError, brief, exit_with_error, index_dtype, load_indices, save_npy, save_npz

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".tif", ".tiff", ".webp"}


# ---- what active learning needs: the universe and the initial labeled set -------------------------

def draw_initial(n_train, fraction, seed, universe_size=None):
    """The universe of training indices taking part and a random `fraction` of it to label first.

    Drawn once per seed and shared by every method (paper, section 4.1). Returns (universe,
    labeled), both sorted.
    """
    rng = np.random.default_rng(seed)
    universe = np.arange(n_train) if universe_size is None else rng.choice(n_train, universe_size, replace=False)
    n_labeled = int(round(fraction * len(universe)))
    labeled = rng.choice(universe, n_labeled, replace=False)
    dtype = index_dtype(n_train)
    return np.sort(universe).astype(dtype), np.sort(labeled).astype(dtype)


# ---- the images: decoded once, cached as uint8 arrays ---------------------------------------------

@dataclass
class ImageData:
    train_x: np.ndarray  # [N, H, W, 3] uint8
    train_y: np.ndarray  # [N] int64
    test_x: np.ndarray   # [M, H, W, 3] uint8
    test_y: np.ndarray   # [M] int64
    classes: list

    @property
    def num_classes(self):
        return len(self.classes)

    def channel_stats(self):
        """Per-channel mean and std of the training images, on the [0, 1] scale (section 4.1).

        From each channel's histogram of the 256 uint8 values: exact counts, no float copy of the
        images.
        """
        pixels = self.train_x.reshape(-1, 3)
        counts = np.stack([np.bincount(pixels[:, c], minlength=256) for c in range(3)])  # [3, 256]
        values = np.arange(256) / 255
        mean = counts @ values / len(pixels)
        std = np.sqrt(counts @ values ** 2 / len(pixels) - mean ** 2)
        return mean.astype(np.float32), std.astype(np.float32)


def load_dataset(name, data_root="./data", download=True):
    """Return ImageData for `name`, decoding it once and caching the arrays under data_root (a
    damaged cache is decoded again)."""
    data_root = Path(data_root)
    if name in ("cifar10", "cifar100"):
        cache = data_root / "cache" / f"{name}.npz"
        def decode():
            return _decode_torchvision_cifar(name, data_root, download)
    elif name.startswith("folder:"):
        folder = Path(name[len("folder:"):]).expanduser().resolve()
        files = _list_image_folder(folder)
        cache = data_root / "cache" / f"folder-{folder.name}-{_listing_hash(folder, files)}.npz"
        def decode():
            return _decode_image_folder(folder, files)
    else:
        raise FileError(f"--dataset: unknown dataset '{name}'; expected cifar10, cifar100 or folder:PATH")
    dataset = _read_cache(cache)
    if dataset is None:
        with _locked(cache):
            dataset = _read_cache(cache)  # a concurrent run may have built it while this one waited
            if dataset is None:
                print(f"{name}: decoding the images into {cache}, once (later runs read it)", flush=True)
                started = time.perf_counter()
                dataset = decode()
                _save_cache(cache, dataset)
                print(f"{name}: {len(dataset.train_y):,} training and {len(dataset.test_y):,} test images "
                      f"decoded in {time.perf_counter() - started:.0f} s", flush=True)
    return dataset


def dataset_fingerprint(name):
    """The identity of a dataset, recorded in protocol.json and every config.json (provenance.py).

    folder:PATH: a hash of the file list and sizes (relative paths, so a moved folder keeps it; a
    file added, removed or resized changes it). cifar10/cifar100: the md5 of torchvision's archive,
    which torchvision checks on download, so every copy of the official release shares it.
    """
    if name in ("cifar10", "cifar100"):
        import torchvision  # only CIFAR needs it: importing it doubles torch's import time (see below)

        cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
        return f"{name}-md5-{cls.tgz_md5}"
    if not name.startswith("folder:"):
        raise FileError(f"--dataset: unknown dataset '{name}'; expected cifar10, cifar100 or folder:PATH")
    folder = Path(name[len("folder:"):]).expanduser().resolve()
    h = hashlib.sha256()
    count = 0
    for split, per_class in _list_image_folder(folder).items():
        for files in per_class.values():
            for f in files:
                h.update(f"{f.relative_to(folder)}:{f.stat().st_size}\n".encode())
                count += 1
    return f"files-{count}-{h.hexdigest()[:16]}"


@contextmanager
def _locked(cache):
    """Hold an exclusive lock beside `cache` while it is built: torchvision downloads and extracts
    in place, so concurrent runs (a Slurm array, GPUS="0 1") must take turns; the ones that waited
    then find the finished cache."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.with_name(cache.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed, also if we are killed
        yield


def _read_cache(cache):
    """ImageData from a cache file; None if there is none, or if it is damaged (said on stdout)."""
    if not cache.is_file():
        return None
    try:
        with np.load(cache, allow_pickle=False) as z:  # a damaged member fails its zip CRC check
            dataset = ImageData(z["train_x"], z["train_y"].astype(np.int64), z["test_x"],
                                z["test_y"].astype(np.int64), [str(c) for c in z["classes"]])
        for x, y in ((dataset.train_x, dataset.train_y), (dataset.test_x, dataset.test_y)):
            if x.dtype != np.uint8 or x.ndim != 4 or x.shape[3] != 3 or y.shape != x.shape[:1]:
                raise ValueError(f"arrays of shapes {x.shape} {x.dtype} and {y.shape}")
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as e:
        print(f"{cache}: damaged ({brief(e)}); decoding the dataset again", flush=True)
        return None
    return dataset


def _save_cache(path, data):
    """Atomically (a unique temp name, then rename): concurrent runs may build the same cache."""
    save_npz(path, train_x=data.train_x, train_y=data.train_y, test_x=data.test_x,
             test_y=data.test_y, classes=np.array(data.classes))


def _decode_torchvision_cifar(name, data_root, download):
    # torchvision imported here, not at the top: every train.py and acquire.py call imports data.py,
    # and torchvision costs as much again as torch (python -c "import torch": 3.6-5.0 s, with
    # torchvision 6.7-10.0 s, 2 loaded cores); only CIFAR needs it
    import torchvision

    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    try:
        train = cls(str(data_root), train=True, download=download)
        test = cls(str(data_root), train=False, download=False)
    except Exception as e:  # torchvision raises RuntimeError or URLError; say which folder and why
        raise FileError(f"--dataset {name}: could not load or download it into {data_root} ({e}); "
                        f"without network, put {cls.filename} (from {cls.url}) into {data_root}, "
                        f"or use --dataset folder:PATH with the images") from None
    return ImageData(np.asarray(train.data, np.uint8), np.asarray(train.targets, np.int64),
                     np.asarray(test.data, np.uint8), np.asarray(test.targets, np.int64),
                     list(train.classes))


def _list_image_folder(folder):
    """{split: {class: [files]}} for folder/train and folder/test, with the layout checked."""
    listing = {}
    for split in ("train", "test"):
        split_dir = folder / split
        if not split_dir.is_dir():
            raise FileError(f"--dataset folder:{folder}: no '{split}/' folder inside")
        classes = sorted(d.name for d in split_dir.iterdir() if d.is_dir())
        listing[split] = {c: _image_files(split_dir / c) for c in classes}
    train_classes, test_classes = list(listing["train"]), list(listing["test"])
    if not train_classes or any(not files for files in listing["train"].values()):
        raise FileError(f"{folder}/train: every class folder must hold at least one image")
    if train_classes != test_classes:
        missing = sorted(set(train_classes) ^ set(test_classes))
        raise FileError(f"{folder}: train/ and test/ must have the same class folders; differ in {missing}")
    return listing


def _image_files(class_dir):
    """The files of a class folder named like images, sorted; a folder or a broken link so named is refused."""
    files = sorted(f for f in class_dir.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    for f in files:
        if not f.is_file():  # is_file follows links: a link to an image is fine
            what = "a folder" if f.is_dir() else "a broken link" if f.is_symlink() else "not a regular file"
            raise FileError(f"{f}: {what} named like an image; expected an image file (move or remove it)")
    return files


def _listing_hash(folder, listing):
    """Changes when a file is added, removed, resized or touched, so a stale cache is never used."""
    h = hashlib.sha1(str(folder).encode())
    for split, per_class in listing.items():
        for files in per_class.values():
            for f in files:
                stat = f.stat()
                h.update(f"{f.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return h.hexdigest()[:12]


def _decode_image_folder(folder, listing):
    arrays, shape = {}, None
    classes = list(listing["train"])
    for split, per_class in listing.items():
        images, labels = [], []
        for label, c in enumerate(classes):
            for f in per_class[c]:
                image = _decode_image(f)
                shape = shape or image.shape
                if image.shape != shape:
                    raise FileError(f"{f}: image of size {image.shape[1]}x{image.shape[0]}, expected "
                                    f"{shape[1]}x{shape[0]} like the first image (all must share one size)")
                images.append(image)
                labels.append(label)
        arrays[split] = (np.stack(images), np.array(labels, np.int64))
    return ImageData(*arrays["train"], *arrays["test"], classes)


def _decode_image(path):
    """[H, W, 3] uint8 pixels of one image file; an empty, damaged or unknown file is a FileError.

    16-bit grayscale (Pillow's mode I;16, or I from a PNG, whose integers are at most 16-bit) keeps
    its high byte, as Pillow does for 16-bit colour PNGs: convert("RGB") would clip it at 255 instead.
    Wider integer or float pixels (32-bit TIFFs) have no one 8-bit reading and are refused.
    """
    if path.stat().st_size == 0:
        raise FileError(f"{path}: empty file (0 bytes); expected an image")
    try:
        with Image.open(path) as img:
            if img.mode.startswith("I;16") or (img.mode == "I" and img.format == "PNG"):
                gray = (np.asarray(img).astype(np.uint32) >> 8).astype(np.uint8)  # 0..65535 -> 0..255
                return np.repeat(gray[:, :, None], 3, axis=2)
            if img.mode in ("I", "F") or img.mode.startswith(("I;", "F;")):
                raise FileError(f"{path}: {img.mode} pixels (32-bit); expected 8- or 16-bit images, "
                                f"convert it to 8-bit")
            return np.asarray(img.convert("RGB"), np.uint8)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        # Pillow: UnidentifiedImageError (an OSError) for a non-image, OSError or SyntaxError if truncated
        raise FileError(f"{path}: not a readable image ({brief(e)})") from None


# ---- on the device: layout, normalisation, augmentation -----------------------------------------

def to_device_images(images, device):
    """[N, H, W, 3] uint8 numpy -> [N, 3, H, W] uint8 tensor on device, channels-last in memory."""
    return torch.from_numpy(images).to(device).permute(0, 3, 1, 2)


def normalize(images, mean, std, memory_format=torch.channels_last):
    """[B, 3, H, W] uint8 -> float32 (x / 255 - mean) / std, channels-last by default (faster)."""
    x = images.float().div_(255).sub_(mean.view(1, 3, 1, 1)).div_(std.view(1, 3, 1, 1))
    return x.contiguous(memory_format=memory_format)


def crop_flip(images, tops, lefts, flips, padding=4):
    """Crop each zero-padded image at (top, left) to its original size, mirrored where flips is True.

    images: [B, 3, H, W] uint8; tops, lefts: [B] ints in 0..2*padding; flips: [B] bool.
    Same pixels as torchvision's RandomCrop(padding=padding) then RandomHorizontalFlip.
    """
    b, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))  # zeros, like the paper's crop
    rows = tops[:, None] + torch.arange(h, device=images.device)   # [B, H]
    cols = lefts[:, None] + torch.arange(w, device=images.device)  # [B, W]
    cols = torch.where(flips[:, None], cols.flip(1), cols)          # a flip reads columns backwards
    batch = torch.arange(b, device=images.device)[:, None, None, None]
    channel = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


def random_crop_flip(images, generator, padding=4):
    """Paper's augmentation (section 4.1) for a batch on the device: uniform offsets, p=0.5 flips."""
    b, device = images.shape[0], images.device
    tops = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=device)
    lefts = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=device)
    flips = torch.rand(b, generator=generator, device=device) < 0.5
    return crop_flip(images, tops, lefts, flips, padding)


def _initial_command(args):
    n_train = len(load_dataset(args.dataset, args.data_root).train_y)
    if args.universe_size is not None and args.universe_size < 1:
        raise FileError(f"--universe-size: expected a positive number of training images, got {args.universe_size}")
    if args.universe_size is not None and args.universe_size > n_train:  # e.g. the quick preset's 5,000
        print(f"--universe-size {args.universe_size}: the training set has {n_train} images; all take part")
        args.universe_size = None
    if not 0 < args.fraction < 1:
        raise FileError(f"--fraction: expected a number in (0, 1), got {args.fraction}")
    universe, labeled = draw_initial(n_train, args.fraction, args.seed, args.universe_size)
    out = Path(args.out)
    kept = [keep_drawn(out / name, drawn, n_train) for name, drawn in (("universe.npy", universe), ("labeled.npy", labeled))]
    if all(kept):
        print(f"{out}: kept ({len(labeled)} labeled of {len(universe)}, as these settings draw them)")
        return
    save_npy(out / "universe.npy", universe)
    save_npy(out / "labeled.npy", labeled)
    print(f"{out}: {len(labeled)} labeled of {len(universe)} training samples")


def keep_drawn(path, drawn, n_train):
    """True when `path` holds exactly `drawn`; False when absent; one error line when it differs."""
    if not path.exists():
        return False
    if not np.array_equal(load_indices(path, n_train), drawn):
        raise FileError(f"{path}: differs from what --seed, --fraction and --universe-size draw now; "
                        f"delete the folder to draw it again, or use another --out")
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    initial = commands.add_parser("initial", help="draw the initial labeled set of one seed")
    initial.add_argument("--dataset", required=True, help="cifar10, cifar100 or folder:PATH")
    initial.add_argument("--data-root", default="./data", help="download and cache folder (default ./data)")
    initial.add_argument("--seed", type=int, required=True,
                         help="seeds the draw: run_all.sh passes the experiment's seed (or INITIAL_SEED)")
    initial.add_argument("--fraction", type=float, default=0.1,
                         help="initial labeled fraction (10%%, paper section 4.1)")
    initial.add_argument("--universe-size", type=int, default=None,
                         help="use a random subset of this many training images (quick runs); all of "
                              "them when the training set has fewer")
    initial.add_argument("--out", required=True, help="folder to write universe.npy and labeled.npy into")
    args = parser.parse_args(argv)
    try:
        _initial_command(args)
    except FileError as e:
        exit_with_error(e)


if __name__ == "__main__":
    main()
