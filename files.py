"""Reading and writing the files that scripts hand to each other.

Every writer goes through a temporary file in the same folder followed by an atomic
rename, so a crash never leaves a half-written `.npy`, `.json` or `.pt` behind. Every
reader validates what it loads and raises `FileError` with one line naming the file and
what was expected; the scripts turn that into `error: ...` and exit code 2.
"""
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)


class FileError(Exception):
    """Bad input from the user (a file or a flag): printed as one line, never a traceback."""


def brief(error, limit=120):
    """An exception's message as one short line, for a FileError that names the file already."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def exit_with_error(error):
    """Print `error: <message>` as one line on stderr and exit with status 2, like argparse."""
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)


def _atomic_write(path, write_fn, suffix):
    """Call write_fn(open_binary_file) on a temp file beside `path`, then rename it over `path`."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as e:  # unwritable folder, disk full, ...: one line, the old file untouched
        raise FileError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def remove_stale_temporaries(folder):
    """Delete temp files a killed writer left in `folder` (ours start with '.' and end in '.tmp')."""
    for stale in Path(folder).glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def save_npy(path, array):
    _atomic_write(path, lambda f: np.save(f, np.asarray(array), allow_pickle=False), ".npy")


def save_npz(path, **arrays):
    _atomic_write(path, lambda f: np.savez(f, **arrays), ".npz")


def save_json(path, obj):
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    _atomic_write(path, lambda f: f.write(text.encode()), ".json")


def save_torch(path, obj):
    # torch imported here, not at the top: checks.py, run before every training, and the benchmarks
    # need only numpy (python -c "import files": 0.2-0.4 s; with torch: 3.2-5.5 s, 2 loaded cores)
    import torch

    def write(f):
        try:
            torch.save(obj, f)
        except RuntimeError as e:  # torch's zip writer reports a failed write (a full disk) this way
            raise OSError(f"torch.save failed; is the disk full? {brief(e)}") from None
    _atomic_write(path, write, ".pt")


def load_torch(path, remedy):
    """torch.load of `path` to the CPU, tensors and plain containers only (weights_only).

    A missing, empty or damaged file is one FileError line naming it, ending with `remedy`
    (what the user should do about it).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileError(f"{path}: file not found; {remedy}")
    if path.stat().st_size == 0:
        raise FileError(f"{path}: empty file; {remedy}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises RuntimeError, OSError, EOFError, UnpicklingError, ... here
        raise FileError(f"{path}: damaged or not a PyTorch file ({type(e).__name__}); {remedy}") from None


def load_json(path):
    path = Path(path)
    if not path.is_file():
        raise FileError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FileError(f"{path}: not valid JSON ({e})") from None


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _are_channel_numbers(value):
    return isinstance(value, list) and len(value) == 3 and all(_is_number(v) for v in value)


# The keys of a train.py config.json that other scripts read: (check, what is expected).
RUN_CONFIG = {
    "num_classes": (_is_count, "a whole number >= 1"),
    "n_train": (_is_count, "a whole number >= 1"),
    "width": (_is_count, "a whole number >= 1"),
    "dropout": (lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "dataset": (lambda v: isinstance(v, str) and v != "", "a dataset name"),
    "data_root": (lambda v: isinstance(v, str) and v != "", "a folder name"),
    "channel_mean": (_are_channel_numbers, "a list of 3 numbers"),
    "channel_std": (lambda v: _are_channel_numbers(v) and min(v) > 0, "a list of 3 positive numbers"),
}


def load_run_config(path, *required):
    """The config.json of a train.py run, a dict holding every key in `required`; each RUN_CONFIG
    key it holds is checked. Otherwise one FileError line naming the file and the key."""
    config = load_json(path)
    if not isinstance(config, dict):
        raise FileError(f"{path}: expected a JSON object of settings, found {type(config).__name__} "
                        f"(not written by train.py?)")
    for key in required:
        if key not in config:
            raise FileError(f"{path}: lacks '{key}' (not written by train.py?)")
    for key, (is_valid, expected) in RUN_CONFIG.items():
        if key in config and not is_valid(config[key]):
            raise FileError(f"{path}: '{key}' must be {expected}, found {brief(json.dumps(config[key]), 40)}")
    return config


def load_npy(path, ndim=None, kind=None):
    """Load an array without pickle; check its number of dimensions and dtype kind.

    kind: "int" (signed or unsigned integers) or "float", or None for any.
    """
    path = Path(path)
    if not path.is_file():
        raise FileError(f"{path}: file not found")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise FileError(f"{path}: not a readable .npy array ({e})") from None
    if not isinstance(array, np.ndarray):
        raise FileError(f"{path}: expected one .npy array, found an archive")
    if ndim is not None and array.ndim != ndim:
        raise FileError(f"{path}: expected a {ndim}-D array, found shape {array.shape}")
    if kind == "int" and array.dtype.kind not in "iu":
        raise FileError(f"{path}: expected integer values, found dtype {array.dtype}")
    if kind == "float":
        if array.dtype.kind != "f":
            raise FileError(f"{path}: expected floating-point values, found dtype {array.dtype}")
        if not np.all(np.isfinite(array)):
            raise FileError(f"{path}: contains NaN or infinite values")
    return array


def load_indices(path, n_train):
    """A 1-D array of distinct integer indices into a training set of n_train samples."""
    indices = load_npy(path, ndim=1, kind="int").astype(np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= n_train):
        raise FileError(f"{path}: indices must lie in [0, {n_train}), "
                        f"found range [{indices.min()}, {indices.max()}]")
    if np.unique(indices).size != indices.size:
        raise FileError(f"{path}: contains duplicate indices")
    return indices


def index_dtype(n):
    """Smallest integer dtype that holds indices into a set of n samples."""
    return np.int32 if n < 2**31 else np.int64


def label_dtype(num_classes):
    """Smallest integer dtype that holds class ids 0..num_classes-1."""
    return np.uint8 if num_classes <= 256 else np.uint16
