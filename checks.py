"""Leakage checks for one chain of the protocol; run_all.sh runs them before every step.

    python checks.py --initial RUNS/<ds>/initial/seed<S> --chain RUNS/<ds>/<method>/seed<S> --budget N

Reads the seed's universe.npy and labeled.npy, every cycle<C>/labeled.npy and, for C >= 1, its
labeled_selected.npy (and pool.npy where
the cycle's training has written it). Stops with one clear error line when
  - cycle0's labeled set is not the seed's initial set (every method must start from it),
  - a labeled set leaves the seed's universe of training indices,
  - a cycle's labeled set does not contain the previous one plus exactly N new indices,
  - a cycle's labeled set is not exactly the previous one plus the N indices its acquisition
    queried (labeled_selected.npy beside it),
  - a trained cycle's labeled and pool sets overlap or do not cover the universe.
The test set cannot leak by construction: train.py and acquire.py only index the training
arrays with these indices, and test images are read only for the final evaluation.
Writes nothing.
"""
import argparse
from pathlib import Path

import numpy as np

from files import FileError, exit_with_error, load_indices


def check_chain(initial_dir, chain_dir, budget):
    """Raise FileError at the first violation; return the number of cycles checked."""
    universe = load_indices(Path(initial_dir) / "universe.npy", np.iinfo(np.int64).max)
    initial = load_indices(Path(initial_dir) / "labeled.npy", np.iinfo(np.int64).max)
    previous, cycle = None, 0
    while (Path(chain_dir) / f"cycle{cycle}" / "labeled.npy").is_file():
        run = Path(chain_dir) / f"cycle{cycle}"
        labeled = load_indices(run / "labeled.npy", np.iinfo(np.int64).max)
        if not np.isin(labeled, universe).all():
            raise FileError(f"{run}/labeled.npy: holds indices outside the seed's universe")
        if previous is None and not np.array_equal(np.sort(labeled), initial):
            raise FileError(f"{run}/labeled.npy: differs from the seed's initial set {initial_dir}/labeled.npy")
        if previous is not None:
            if not np.isin(previous, labeled).all():
                raise FileError(f"{run}/labeled.npy: drops indices labeled in cycle{cycle - 1}")
            if len(labeled) - len(previous) != budget:
                raise FileError(f"{run}/labeled.npy: adds {len(labeled) - len(previous)} indices to "
                                f"cycle{cycle - 1}'s, expected {budget}")
            check_selected(run, previous, labeled)
        if (run / "pool.npy").is_file():
            pool = load_indices(run / "pool.npy", np.iinfo(np.int64).max)
            if np.intersect1d(pool, labeled).size or len(pool) + len(labeled) != len(universe) \
                    or not np.isin(pool, universe).all():
                raise FileError(f"{run}: labeled.npy and pool.npy must split the seed's universe exactly")
        previous, cycle = labeled, cycle + 1
    return cycle


def check_selected(run, previous, labeled):
    """labeled.npy must be exactly the previous cycle's set plus labeled_selected.npy, the indices the
    acquisition queried: a labeled set edited or rewritten by anything else is caught here."""
    selected = load_indices(run / "labeled_selected.npy", np.iinfo(np.int64).max)
    if np.intersect1d(selected, previous).size:
        raise FileError(f"{run}/labeled_selected.npy: queries indices already labeled in the previous cycle")
    if not np.array_equal(np.sort(np.concatenate([previous, selected])), np.sort(labeled)):
        raise FileError(f"{run}/labeled.npy: is not the previous cycle's labeled set plus "
                        f"labeled_selected.npy (the indices its acquisition queried)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--initial", required=True, help="the seed's folder with universe.npy and labeled.npy")
    p.add_argument("--chain", required=True, help="the method's seed folder with cycle<C>/ inside")
    p.add_argument("--budget", type=int, required=True, help="indices added per cycle")
    args = p.parse_args(argv)
    try:
        check_chain(args.initial, args.chain, args.budget)
    except FileError as e:
        exit_with_error(e)


if __name__ == "__main__":
    main()
