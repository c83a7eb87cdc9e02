"""Score the pool of a finished training run and write the next labeled set (paper, section 3).

    python acquire.py --run RUN --method dispersion --budget N --out NEXT.npy [--seed S]

Reads RUN (written by train.py; through rundata.RunData): labeled.npy, pool.npy, and what the method
needs: preds.npy (dispersion), probs.npy (uncertainty scores), model.pt + config.json (model-based
methods), or the images through data.py. A method that reads the pool's predictions across epochs
(TRACKS_EVERY_EPOCH, e.g. dispersion) is refused on a run with fewer than 2 recorded epochs.
Writes, each atomically, NEXT.npy last (its presence means the step is done):
  NEXT_config.json   what the acquisition was made from: method, budget, seed, the method's options,
                     hashes of RUN's labeled set and pool and RUN's training identity; with --resume
                     an existing NEXT.npy is kept only if this matches (provenance.py)
  NEXT_selected.npy  [N] the training indices queried, best first
  NEXT_scores.npy    [P] float32 score of every pool sample, aligned with RUN/pool.npy
                     (higher = queried first; absent for methods without a score, e.g. random)
  NEXT.npy           sorted labeled set for the next cycle: RUN/labeled.npy plus the N queried
"""
import argparse
from pathlib import Path

import numpy as np

from baselines import METHODS
from baselines.common import AcquisitionError
from files import (
    FileError,
    exit_with_error,
    index_dtype,
    load_json,
    remove_stale_temporaries,
    save_json,
    save_npy,
)
from provenance import check_identity, git_state, indices_sha256
from rundata import RunData


def next_labeled(labeled, pool, positions, budget):
    """Check a method's output and return (queried training indices, sorted next labeled set).

    A method answers in positions: rows of pool.npy (and of preds.npy's columns, probs.npy's rows).
    pool[positions] turns them into indices into the training set, the numbering labeled.npy uses.
    """
    positions = np.asarray(positions)
    if positions.shape != (budget,) or positions.dtype.kind not in "iu":
        raise AcquisitionError(f"method returned {positions.shape} {positions.dtype} positions, "
                               f"expected [{budget}] ints")
    if positions.min() < 0 or positions.max() >= len(pool) or np.unique(positions).size != budget:
        raise AcquisitionError("method returned positions outside the pool or repeated ones")
    queried = pool[positions]  # positions in the pool -> training-set indices
    return queried, np.sort(np.concatenate([labeled, queried]))


def sidecar(out, name, suffix=".npy"):
    """NEXT.npy -> NEXT_<name>.npy (or another suffix), beside it."""
    return out.with_name(f"{out.stem}_{name}{suffix}")


def method_options(args):
    """{flag: value} of the chosen method's own options (those its add_arguments defines)."""
    module = METHODS[args.method]
    if not hasattr(module, "add_arguments"):
        return {}
    own = argparse.ArgumentParser(add_help=False)
    module.add_arguments(own)
    return {dest: getattr(args, dest) for dest in vars(own.parse_args([]))}


def acquisition_identity(args, run):
    """What this acquisition is made from; NEXT_config.json records it."""
    return {"method": args.method, "budget": args.budget, "seed": args.seed, "options": method_options(args),
            "run_labeled_sha256": indices_sha256(run.labeled), "run_pool_sha256": indices_sha256(run.pool),
            "run_identity": run.config.get("identity")}


def keep_finished(out, identity):
    """--resume with NEXT.npy present: True when it was made from exactly this; else one error line."""
    if not out.is_file():
        return False
    config = sidecar(out, "config", ".json")
    recorded = load_json(config) if config.is_file() else None
    check_identity(config, recorded.get("identity") if isinstance(recorded, dict) else None, identity,
                   "made", f"delete {out} to acquire again, or use another run folder")
    print(f"{out}: made already from the same run and settings; kept")
    return True


def check_recorded_epochs(run, method):
    """Per-epoch scores need 2 or more recorded epochs: from one, every sample's dispersion is 0 and
    the pick would be a random one in disguise."""
    if len(run.preds) < 2:
        raise FileError(f"{run.dir}/preds.npy: the pool's predictions after {len(run.preds)} epoch only; "
                        f"{method} needs 2 or more: train that run again recording more epochs "
                        f"(train.py --epochs, --track-every, --track-last)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="finished train.py run folder")
    p.add_argument("--method", required=True, choices=sorted(METHODS), help="acquisition function")
    p.add_argument("--budget", type=int, required=True, help="number of pool samples to query")
    p.add_argument("--out", required=True, help="next labeled-index file to write (.npy)")
    p.add_argument("--seed", type=int, default=0, help="seeds tie-breaking and random choices")
    p.add_argument("--data-root", default=None, help="dataset cache folder (default: the run's)")
    p.add_argument("--device", default="auto", help="for model-based methods: auto, cpu, cuda, ...")
    p.add_argument("--resume", action="store_true",
                   help="keep an existing --out if NEXT_config.json shows the same run and settings; "
                        "refuse if not")
    for module in METHODS.values():
        if hasattr(module, "add_arguments"):
            module.add_arguments(p)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    if out.suffix != ".npy":
        raise FileError(f"--out: expected a file name ending in .npy, got {out}")
    run = RunData(args.run, args.data_root, args.device)
    identity = acquisition_identity(args, run)
    if args.resume and keep_finished(out, identity):
        return
    if getattr(METHODS[args.method], "TRACKS_EVERY_EPOCH", False):
        check_recorded_epochs(run, args.method)
    rng = np.random.default_rng(args.seed)
    positions, scores = METHODS[args.method].acquire(run, args.budget, rng, args)  # score the pool
    queried, labeled = next_labeled(run.labeled, run.pool, positions, args.budget)  # add the top `budget`

    remove_stale_temporaries(out.parent)
    out.unlink(missing_ok=True)  # NEXT.npy marks completion, so it goes last
    save_json(sidecar(out, "config", ".json"), {"identity": identity, "git": git_state()})
    save_npy(sidecar(out, "selected"), queried.astype(index_dtype(run.n_train)))
    if scores is not None:
        save_npy(sidecar(out, "scores"), np.asarray(scores, np.float32))
    save_npy(out, labeled.astype(index_dtype(run.n_train)))
    print(f"{out}: {args.method} queried {len(queried)} of {len(run.pool)} pool samples; "
          f"{len(labeled)} labeled")


if __name__ == "__main__":
    try:
        main()
    except (FileError, AcquisitionError) as e:
        exit_with_error(e)
