"""A finished train.py run folder, read by acquire.py, the baselines and report.py.

    run = RunData(RUN)      # checks config.json, labeled.npy and pool.npy at once
    run.preds, run.probs    # [T, P] and [P, C], loaded and checked the first time they are used
    run.dataset, run.model, run.features(indices)   # images, the trained network, its features

The files and their shapes are README's "Files a run writes" table.
"""
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

import data
from device import resolve_device
from files import FileError, load_indices, load_npy, load_run_config
from models import load_model


class RunData:
    """A finished train.py run folder; each file is loaded and checked the first time it is used."""

    def __init__(self, run_dir, data_root=None, device="auto"):
        self.dir = Path(run_dir)
        if not (self.dir / "metrics.json").is_file():
            raise FileError(f"{self.dir}: no metrics.json; the run is missing or did not finish")
        self.config = load_run_config(self.dir / "config.json", "num_classes", "n_train", "dataset")
        self.num_classes = self.config["num_classes"]
        self.n_train = self.config["n_train"]
        self.data_root = data_root or self.config.get("data_root", "./data")
        self.device_name = device
        self.labeled = load_indices(self.dir / "labeled.npy", self.n_train)
        self.pool = load_indices(self.dir / "pool.npy", self.n_train)
        if np.intersect1d(self.labeled, self.pool).size:
            raise FileError(f"{self.dir}: labeled.npy and pool.npy overlap")

    @cached_property
    def preds(self):
        """[T, P] predicted class of every pool sample after each recorded epoch."""
        preds = load_npy(self.dir / "preds.npy", ndim=2, kind="int")
        if preds.shape[1] != len(self.pool) or preds.shape[0] == 0:
            raise FileError(f"{self.dir}/preds.npy: shape {preds.shape}, expected [epochs, {len(self.pool)}]")
        if preds.max(initial=0) >= self.num_classes:
            raise FileError(f"{self.dir}/preds.npy: class id {preds.max()} beyond {self.num_classes} classes")
        return preds

    @cached_property
    def probs(self):
        """[P, C] softmax of the final model over the pool."""
        probs = load_npy(self.dir / "probs.npy", ndim=2, kind="float")
        if probs.shape != (len(self.pool), self.num_classes):
            raise FileError(f"{self.dir}/probs.npy: shape {probs.shape}, "
                            f"expected [{len(self.pool)}, {self.num_classes}]")
        if probs.min() < 0 or not np.allclose(probs.sum(1), 1, atol=1e-3):
            raise FileError(f"{self.dir}/probs.npy: rows are not probability distributions")
        return probs

    @cached_property
    def dataset(self):
        """data.ImageData of the run's dataset (images and true labels); never downloads: the
        training of this run already fetched and cached it under data_root."""
        dataset = data.load_dataset(self.config["dataset"], self.data_root, download=False)
        if len(dataset.train_y) != self.n_train or dataset.num_classes != self.num_classes:
            raise FileError(f"{self.dir}: trained on {self.n_train} images of {self.num_classes} classes, "
                            f"but {self.config['dataset']} has {len(dataset.train_y)} of {dataset.num_classes}")
        return dataset

    @cached_property
    def device(self):
        return resolve_device(self.device_name)

    @cached_property
    def model(self):
        """The trained network in eval mode, on self.device."""
        return load_model(self.dir, self.device)

    @cached_property
    def channel_stats(self):
        """(mean, std) tensors on self.device, as train.py normalised with (from config.json)."""
        config = load_run_config(self.dir / "config.json", "channel_mean", "channel_std")
        stats = (np.array(config[key], np.float32) for key in ("channel_mean", "channel_std"))
        return tuple(torch.from_numpy(s).to(self.device) for s in stats)

    def features(self, indices, batch_size=512):
        """[len(indices), D] float32 penultimate features of training images, model in eval mode."""
        mean, std = self.channel_stats
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(indices), batch_size):
                images = data.to_device_images(self.dataset.train_x[indices[start:start + batch_size]], self.device)
                chunks.append(self.model.features(data.normalize(images, mean, std)).float().cpu())
        return torch.cat(chunks).numpy() if chunks else np.zeros((0, self.model.feature_dim), np.float32)
