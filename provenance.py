"""What made a file, and whether it is what would be made now: a rerun never mixes settings.

Three records, each checked before anything is skipped, reused or resumed:
  <tree>/protocol.json   the protocol of a run tree (dataset, its fingerprint, universe, initial
                         set, step, cycles, epochs, width, batch size, TRAIN_ARGS, ACQUIRE_ARGS,
                         preset); written by the first run_all.sh, checked by every later one
  RUN/config.json        a training's "identity" (train.py): the hashes of its labeled set and
                         universe, the dataset fingerprint and every training setting
  NEXT_config.json       an acquisition's identity (acquire.py): method, budget, seed, options and
                         the hashes of the run it scored

    python provenance.py protocol TREE KEY=VALUE ... --dataset D [--change KEY,...]

checks TREE/protocol.json against the settings given (writing it the first time) and exits with one
`error:` line naming the first setting that differs. Adding methods or seeds is always allowed.
"""
import argparse
import hashlib
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import data
from files import FileError, exit_with_error, load_json, save_json

PROTOCOL_FILE = "protocol.json"
# run_all.sh's settings that fix a tree's protocol, in the order they are checked.
PROTOCOL_SETTINGS = ("PRESET", "UNIVERSE_SIZE", "INITIAL", "INITIAL_SEED", "STEP", "CYCLES", "EPOCHS",
                     "WIDTH", "BATCH_SIZE", "TRAIN_ARGS", "ACQUIRE_ARGS")


def indices_sha256(indices):
    """A short hash of a set of training indices (order and dtype do not matter)."""
    canonical = np.sort(np.asarray(indices, dtype=np.int64))
    return hashlib.sha256(canonical.tobytes()).hexdigest()[:16]


def git_state():
    """{commit, dirty, diff_sha256} of the code that runs; 'unknown' outside a git checkout.

    dirty: the working tree differs from the commit (tracked changes or untracked files that git does
    not ignore); diff_sha256 hashes `git diff HEAD`, so two dirty runs can still be told apart.
    """
    here = Path(__file__).resolve().parent

    def git(*args):
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=30,
                              check=True).stdout
    try:
        commit = git("rev-parse", "HEAD").strip()
        status = git("status", "--porcelain")
        diff = git("diff", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None, "diff_sha256": None}
    return {"commit": commit, "dirty": bool(status.strip()),
            "diff_sha256": hashlib.sha256(diff.encode()).hexdigest()[:16] if status.strip() else None}


def first_difference(recorded, now):
    """The first key (sorted) whose value differs between two dicts, or None when they are equal."""
    for key in sorted(set(recorded) | set(now)):
        if recorded.get(key) != now.get(key):
            return key
    return None


def check_identity(path, recorded, now, what, remedy):
    """Raise one FileError line when `recorded` (read from `path`) is not `now`."""
    if not isinstance(recorded, dict):
        raise FileError(f"{path}: has no identity record (not written by this version?); {remedy}")
    key = first_difference(recorded, now)
    if key is not None:
        raise FileError(f"{path}: {what} with {key} = {recorded.get(key)!r}, now {now.get(key)!r}; {remedy}")


# ---- the protocol of a run tree --------------------------------------------------------------------

def same_value(old, new):
    """Settings compare as numbers where both are numbers ('0.10' = '0.1'), else as words."""
    try:
        return float(old) == float(new)
    except (TypeError, ValueError):
        return " ".join(str(old).split()) == " ".join(str(new).split())


def check_protocol(tree, settings, dataset, fingerprint, change=()):
    """Write tree/protocol.json the first time; later, stop at the first setting that differs,
    unless it is named in `change` (then the new value is recorded, with the old one, in 'changes')."""
    path = Path(tree) / PROTOCOL_FILE
    now = {"settings": settings, "dataset": dataset, "dataset_fingerprint": fingerprint}
    if not path.is_file():
        save_json(path, {**now, "created": stamp(), "changes": []})
        return
    recorded = load_json(path)
    if not isinstance(recorded, dict) or not isinstance(recorded.get("settings"), dict):
        raise FileError(f"{path}: not a protocol record of run_all.sh; move it away or use another RUNS")
    if recorded.get("dataset_fingerprint") != fingerprint:
        raise FileError(f"{path}: this tree was made from dataset {recorded.get('dataset')} "
                        f"(fingerprint {recorded.get('dataset_fingerprint')}), now {dataset} "
                        f"(fingerprint {fingerprint}); files were added, removed or resized, or it is "
                        f"another dataset: use another RUNS")
    changes = []
    for key in PROTOCOL_SETTINGS:
        old, new = recorded["settings"].get(key, ""), settings.get(key, "")
        if same_value(old, new):
            continue
        if key not in change:
            raise FileError(f"{path}: {key} is {old!r} in this tree, {new!r} now; use another RUNS for "
                            f"the new value, or CHANGE={key} to change it deliberately (finished steps "
                            f"made with the old value are then refused, not reused)")
        changes.append({"setting": key, "old": old, "new": new, **stamp()})
    if changes:
        recorded["settings"].update({c["setting"]: c["new"] for c in changes})
        recorded["changes"] = recorded.get("changes", []) + changes
        save_json(path, recorded)


def stamp():
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git": git_state()}


def parse_settings(pairs):
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in PROTOCOL_SETTINGS:
            raise FileError(f"setting {pair!r}: expected KEY=VALUE with KEY one of {', '.join(PROTOCOL_SETTINGS)}")
        settings[key] = value
    return settings


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="command", required=True)
    protocol = commands.add_parser("protocol", help="record or check a run tree's protocol")
    protocol.add_argument("tree", help="the run tree: RUNS/<dataset>")
    protocol.add_argument("--dataset", required=True, help="cifar10, cifar100 or folder:PATH")
    protocol.add_argument("--change", default="", help="settings to change deliberately, comma-separated")
    protocol.add_argument("settings", nargs="*", help="KEY=VALUE, KEY one of " + ", ".join(PROTOCOL_SETTINGS))
    args = p.parse_args(argv)
    try:
        change = {c for c in args.change.replace(",", " ").split()}
        unknown = change - set(PROTOCOL_SETTINGS)
        if unknown:
            raise FileError(f"CHANGE: unknown setting {sorted(unknown)[0]!r}; "
                            f"expected some of {', '.join(PROTOCOL_SETTINGS)}")
        fingerprint = data.dataset_fingerprint(args.dataset)
        check_protocol(args.tree, parse_settings(args.settings), args.dataset, fingerprint, change)
    except FileError as e:
        exit_with_error(e)


if __name__ == "__main__":
    main(sys.argv[1:])
