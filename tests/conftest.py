"""Tiny datasets made on the fly: no network, no ../shared."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

# Tiny models run fastest on one thread, and a test run sharing the CPU with other work does not
# thrash (torch's OpenMP threads spin-wait); subprocesses inherit the setting.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ["cat", "dog", "frog"]


def make_image_folder(root, n_train=12, n_test=4, size=16, seed=0):
    """root/{train,test}/<class>/*.png: noisy images whose mean colour depends on the class."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                colour = np.zeros(3)
                colour[label] = 200
                pixels = np.clip(colour + rng.normal(0, 40, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def split(image_folder, tmp_path_factory):
    """The 36 training images of image_folder: a universe of 30, 6 of them labeled (24 in the pool)."""
    folder = tmp_path_factory.mktemp("split")
    rng = np.random.default_rng(0)
    universe = np.sort(rng.choice(36, 30, replace=False))
    labeled = np.sort(rng.choice(universe, 6, replace=False))
    np.save(folder / "universe.npy", universe)
    np.save(folder / "labeled.npy", labeled)
    return {"dataset": f"folder:{image_folder}", "root": folder, "universe": universe, "labeled": labeled}


def run_script(*args, cwd=None, env=None, check=True):
    """Run a project script in a fresh interpreter; returns the CompletedProcess."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    result = subprocess.run([sys.executable, *map(str, args)], cwd=cwd or ROOT, env=full_env,
                            capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed:\n{result.stdout}\n{result.stderr}")
    return result


# A tiny version of the protocol: 36 training images, 20% initial, +10% per cycle, 2 cycles,
# 3 epochs with a checkpoint after each (so resuming from checkpoints is exercised too).
PROTOCOL = dict(DEVICE="cpu", SEEDS="0", EPOCHS="3", WIDTH="4", BATCH_SIZE="8", CYCLES="2", INITIAL="0.2", STEP="0.1",
                TRAIN_ARGS="--checkpoint-every 1")


def start_run_all(dataset, runs, *methods, **env):
    """Start run_all.sh in its own process group (so a test can SIGKILL the shell and its step)."""
    settings = dict(os.environ, PYTHON=sys.executable, RUNS=str(runs), DATA_ROOT=str(runs.parent / "cache"),
                    **{**PROTOCOL, **env})
    return subprocess.Popen(["bash", str(ROOT / "run_all.sh"), dataset, *methods], env=settings,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def run_all(dataset, runs, *methods, **env):
    """Run run_all.sh to the end; returns (returncode, stdout, stderr)."""
    process = start_run_all(dataset, runs, *methods, **env)
    stdout, stderr = process.communicate(timeout=600)
    return process.returncode, stdout, stderr


@pytest.fixture(scope="session")
def protocol_tree(image_folder, tmp_path_factory):
    """One uninterrupted run of the tiny protocol for dispersion and random: (tree, dataset, runs)."""
    runs = tmp_path_factory.mktemp("protocol") / "runs"
    code, stdout, stderr = run_all(f"folder:{image_folder}", runs, "dispersion", "random")
    assert code == 0, stdout + stderr
    return runs / image_folder.name, f"folder:{image_folder}", runs


def trained(stdout):
    """The run folders run_all.sh trained (not those it found finished and kept)."""
    return [line.split()[1] for line in stdout.splitlines() if line.startswith("  training ")]
