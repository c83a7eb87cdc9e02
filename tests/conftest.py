"""Tiny datasets made on the fly: no network, no ../shared."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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


def run_script(*args, cwd=None, env=None, check=True):
    """Run a project script in a fresh interpreter; returns the CompletedProcess."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    result = subprocess.run([sys.executable, *map(str, args)], cwd=cwd or ROOT, env=full_env,
                            capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed:\n{result.stdout}\n{result.stderr}")
    return result
