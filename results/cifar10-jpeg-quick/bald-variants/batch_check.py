"""Why the authors' BALD variant batches the pool at random: BatchNorm in training mode on one-class batches.

    PYTHONPATH=. python results/cifar10-jpeg-quick/bald-variants/batch_check.py RUN [RUN ...]

For each cycle-0 run (train.py's folder), prints the share of the pool predicted right by the model in eval
mode (probs.npy), and by one training-mode pass through the training augmentation (the authors' BALD pass)
with the pool cut into batches of 256 in two ways: consecutive in pool order (an image folder's pool is
sorted by class, so nearly every batch holds one class) and one seeded random partition (what
baselines/bald.py does). Reads nothing else and writes nothing.
"""
import copy
import sys

import numpy as np
import torch

import data
from rundata import RunData


def train_mode_accuracy(run, batches):
    """Share of the pool a training-mode copy of the model predicts right, one augmented pass over `batches`."""
    net = copy.deepcopy(run.model).train()
    mean, std = run.channel_stats
    images = data.to_device_images(run.dataset.train_x[run.pool], run.device)
    labels = torch.from_numpy(run.dataset.train_y[run.pool])
    generator = torch.Generator().manual_seed(0)
    right = 0
    with torch.inference_mode():
        for rows in batches:
            logits = net(data.normalize(data.random_crop_flip(images[rows], generator), mean, std))
            right += int((logits.argmax(1).cpu() == labels[rows]).sum())
    return right / len(run.pool)


def main():
    for path in sys.argv[1:]:
        run = RunData(path)
        n = len(run.pool)
        consecutive = [torch.arange(s, min(s + 256, n)) for s in range(0, n, 256)]
        shuffled = torch.randperm(n, generator=torch.Generator().manual_seed(0)).split(256)
        labels = run.dataset.train_y[run.pool]
        classes_per_batch = np.mean([len(np.unique(labels[rows.numpy()])) for rows in consecutive])
        print(f"{path}: eval mode {100 * np.mean(run.probs.argmax(1) == labels):.1f}% right; "
              f"training mode, consecutive batches ({classes_per_batch:.1f} classes per batch on average) "
              f"{100 * train_mode_accuracy(run, consecutive):.1f}%, "
              f"random batches {100 * train_mode_accuracy(run, shuffled):.1f}%")


if __name__ == "__main__":
    main()
