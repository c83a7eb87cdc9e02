"""How much does recording fewer epochs change label-dispersion's selection?

    python benchmarks/tracking_overlap.py RUN [--budget 250] [--every 2 5] [--last 5 10]

Reads RUN/preds.npy (recorded after every epoch) and RUN/metrics.json. Pool tracking does not
change training (tests/test_train.py::test_tracking_only_observes), so a run made with
`train.py --track-every k` or `--track-last K` records exactly a subset of these rows; this
script takes those subsets, selects the top `budget` by dispersion from each (ties broken with
the same seed), and prints the overlap with the every-epoch selection and the pool-prediction
time each setting would spend (seconds_pool scaled by the share of epochs recorded). The row
"every, other seed" is the every-epoch selection with another tie-breaking seed: with few
epochs, many samples tie at the cut-off, and that overlap is the floor tie-breaking alone sets.
"""
import argparse
import json
from pathlib import Path

import sys

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from baselines.common import top_k  # noqa: E402
from baselines.dispersion import label_dispersion  # noqa: E402


def recorded_rows(num_epochs, every=1, last=0):
    """0-based rows of preds.npy that train.py --track-every/--track-last would record."""
    first = num_epochs - last + 1 if last > 0 else 1
    return [e - 1 for e in range(1, num_epochs + 1) if e >= first and (num_epochs - e) % every == 0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a train.py run folder recorded after every epoch")
    p.add_argument("--budget", type=int, default=250, help="pool samples to select (default 250)")
    p.add_argument("--every", type=int, nargs="*", default=[2, 5], help="track-every values k to compare")
    p.add_argument("--last", type=int, nargs="*", default=[5, 10], help="track-last values K to compare")
    p.add_argument("--seed", type=int, default=0, help="tie-breaking seed (default 0)")
    args = p.parse_args()
    preds = np.load(Path(args.run) / "preds.npy")
    seconds_pool = json.loads((Path(args.run) / "metrics.json").read_text())["seconds_pool"]
    num_epochs = len(preds)
    full = set(top_k(label_dispersion(preds), args.budget, np.random.default_rng(args.seed)))
    settings = [("every epoch", recorded_rows(num_epochs)), ("every, other seed", recorded_rows(num_epochs))]
    settings += [(f"--track-every {k}", recorded_rows(num_epochs, every=k)) for k in args.every]
    settings += [(f"--track-last {k}", recorded_rows(num_epochs, last=k)) for k in args.last]
    print(f"{args.run}: {num_epochs} epochs, pool {preds.shape[1]}, budget {args.budget}")
    print(f"{'setting':18s} {'epochs':>6s} {'overlap':>8s} {'pool seconds':>13s}")
    for name, rows in settings:
        seed = args.seed + 1 if "other seed" in name else args.seed  # the floor set by random tie-breaking
        chosen = set(top_k(label_dispersion(preds[rows]), args.budget, np.random.default_rng(seed)))
        overlap = len(chosen & full) / args.budget
        print(f"{name:18s} {len(rows):6d} {overlap:8.2f} {seconds_pool * len(rows) / num_epochs:13.1f}")


if __name__ == "__main__":
    main()
