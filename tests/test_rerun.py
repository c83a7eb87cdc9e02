"""A rerun never mixes: the tree's protocol, each step's inputs and settings, and every input of
run_all.sh are checked before any work (issue 27)."""
import json
import shutil

import numpy as np
import pytest
from conftest import ROOT, make_image_folder, run_all, run_script, start_run_all, trained

import checks
from files import FileError


def snapshot(folder):
    """{path: (size, mtime)} of every file under folder but the locks: unchanged means nothing was written."""
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file() and p.suffix != ".lock"}


@pytest.fixture
def tree_copy(protocol_tree, tmp_path):
    """A private copy of the tiny protocol's runs folder: (tree, dataset, runs)."""
    root, dataset, runs = protocol_tree
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy, symlinks=True)
    return copy / root.name, dataset, copy


@pytest.mark.parametrize("setting, value", [
    ("WIDTH", "8"), ("EPOCHS", "5"), ("BATCH_SIZE", "4"), ("TRAIN_ARGS", "--checkpoint-every 2"),
    ("ACQUIRE_ARGS", "--dispersion-plus-one"), ("INITIAL", "0.3"), ("UNIVERSE_SIZE", "30"), ("STEP", "0.2"),
    ("CYCLES", "3"), ("INITIAL_SEED", "4"), ("PRESET", "quick"),
])
def test_a_changed_setting_stops_before_any_work_with_one_line(tree_copy, setting, value):
    tree, dataset, runs = tree_copy
    before = snapshot(runs)
    code, stdout, stderr = run_all(dataset, runs, "dispersion", UNTIL="2", **{setting: value})
    assert code == 2 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {tree / 'protocol.json'}: {setting} is ")
    assert f"'{value}' now" in lines[0] and "another RUNS" in lines[0] and f"CHANGE={setting}" in lines[0]
    assert snapshot(runs) == before


def test_quick_then_medium_preset_in_one_runs_folder_is_refused(image_folder, tmp_path):
    """The presets set their own epochs and widths: a medium chain must not grow from quick's cycle 0."""
    tiny = dict(EPOCHS="", WIDTH="", BATCH_SIZE="", UNIVERSE_SIZE="20", CYCLES="0", ALLDATA="0", SEEDS="0")
    code, stdout, stderr = run_all(f"folder:{image_folder}", tmp_path / "runs", "random", PRESET="quick",
                                   **{**tiny, "EPOCHS": "1"})
    assert code == 0, stdout + stderr
    code, _, stderr = run_all(f"folder:{image_folder}", tmp_path / "runs", "random", PRESET="medium", **tiny)
    assert code == 2 and "PRESET is 'quick' in this tree, 'medium' now" in stderr


def test_a_deliberate_change_is_recorded_and_steps_made_before_it_are_refused(tree_copy):
    tree, dataset, runs = tree_copy
    new = "--dispersion-plus-one"
    code, stdout, stderr = run_all(dataset, runs, "dispersion", UNTIL="0", ACQUIRE_ARGS=new, CHANGE="ACQUIRE_ARGS")
    assert code == 0, stdout + stderr
    protocol = json.loads((tree / "protocol.json").read_text())
    assert protocol["settings"]["ACQUIRE_ARGS"] == new
    assert [(c["setting"], c["old"], c["new"]) for c in protocol["changes"]] == [("ACQUIRE_ARGS", "", new)]
    # cycle 1 was acquired without the option: its acquisition is refused, not silently kept
    before = snapshot(tree / "dispersion")
    code, _, stderr = run_all(dataset, runs, "dispersion", UNTIL="1", ACQUIRE_ARGS=new)
    assert code == 2 and "cycle1/labeled_config.json: made with options" in stderr
    assert snapshot(tree / "dispersion") == before
    code, _, stderr = run_all(dataset, runs, "dispersion", UNTIL="0")  # the tree now holds the new value
    assert code == 2 and "ACQUIRE_ARGS is '--dispersion-plus-one' in this tree, '' now" in stderr


def test_another_dataset_of_the_same_name_or_an_added_image_is_refused(image_folder, tree_copy, tmp_path):
    tree, dataset, runs = tree_copy
    other = make_image_folder(tmp_path / "other" / image_folder.name, seed=1)  # same names, other pixels
    code, _, stderr = run_all(f"folder:{other}", runs, "dispersion")
    assert code == 2 and "fingerprint" in stderr and "use another RUNS" in stderr
    grown = tmp_path / "grown" / image_folder.name
    shutil.copytree(image_folder, grown)
    shutil.copy(grown / "train/cat/000.png", grown / "train/cat/999.png")
    before = snapshot(runs)
    code, _, stderr = run_all(f"folder:{grown}", runs, "dispersion")
    assert code == 2 and "files were added, removed or resized" in stderr
    assert snapshot(runs) == before


def test_resume_refuses_a_replaced_labeled_set_in_a_checkpoint_and_in_a_finished_run(split, tmp_path):
    common = ["--dataset", split["dataset"], "--data-root", split["root"] / "cache", "--universe",
              split["root"] / "universe.npy", "--epochs", "2", "--width", "4", "--batch-size", "4"]
    labeled = tmp_path / "labeled.npy"
    np.save(labeled, split["labeled"])
    out = tmp_path / "run"
    run_script("train.py", *common, "--labeled", labeled, "--out", out, "--stop-after-epoch", "1")
    other = np.setdiff1d(split["universe"], split["labeled"])[:len(split["labeled"])]  # same size, other samples
    np.save(labeled, other)
    result = run_script("train.py", *common, "--labeled", labeled, "--out", out, "--resume", check=False)
    assert result.returncode == 2 and "checkpoint.pt: written with labeled_sha256" in result.stderr
    np.save(labeled, split["labeled"])
    run_script("train.py", *common, "--labeled", labeled, "--out", out, "--resume")  # finishes
    result = run_script("train.py", *common, "--labeled", labeled, "--out", out, "--resume")
    assert "finished already with these inputs and settings; kept" in result.stdout
    np.save(labeled, other)
    finished = snapshot(out)
    result = run_script("train.py", *common, "--labeled", labeled, "--out", out, "--resume", check=False)
    assert result.returncode == 2 and "config.json: finished with labeled_sha256" in result.stderr
    assert snapshot(out) == finished


@pytest.mark.parametrize("variable, value, message", [
    ("STEP", '0.1+0*__import__("os").system("touch PWNED")', "STEP: expected a fraction"),
    ("STEP", "abc", "STEP: expected a fraction"),
    ("INITIAL", "1.5", "INITIAL: expected a fraction"),
    ("SEEDS", "-1", "SEEDS: expected one or more seeds"),
    ("EPOCHS", "0", "EPOCHS: expected a positive whole number"),
    ("UNIVERSE_SIZE", "all", "UNIVERSE_SIZE: expected a positive whole number"),
    ("ALLDATA", "yes", "ALLDATA: expected 1"),
    ("DEVICE", "foo", "DEVICE: expected auto, cpu, cuda"),
    ("GPUS", "first", "GPUS: expected GPU numbers"),
    ("CYCLES", "two", "CYCLES: expected a whole number of cycles, got 'two'"),
    ("UNTIL", "two", "UNTIL: expected a cycle number"),
])
def test_every_input_is_checked_before_any_work_and_never_executed(image_folder, tmp_path, variable, value, message):
    code, stdout, stderr = run_all(f"folder:{image_folder}", tmp_path / "runs", "dispersion", **{variable: value})
    assert code == 2 and stdout == "" and stderr.startswith(f"error: {message}") and len(stderr.splitlines()) == 1
    assert not any(tmp_path.iterdir()) and not (ROOT / "PWNED").exists()


def test_a_dataset_path_is_resolved_and_never_leaves_runs(image_folder, tmp_path):
    code, stdout, stderr = run_all(f"folder:{image_folder}/train/..", tmp_path / "runs", "random",
                                   CYCLES="0", ALLDATA="0", EPOCHS="1")
    assert code == 0, stdout + stderr
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [image_folder.name]
    odd = tmp_path / "my data"
    shutil.copytree(image_folder, odd)
    code, _, stderr = run_all(f"folder:{odd}", tmp_path / "runs2", "random")
    assert code == 2 and "not a plain name" in stderr and not (tmp_path / "runs2").exists()


def test_two_runs_of_one_chain_and_of_alldata_at_once_train_each_step_once(image_folder, tmp_path):
    """Started together, one run trains a step and the other waits for its lock, then keeps it."""
    settings = dict(CYCLES="1", EPOCHS="2")
    processes = [start_run_all(f"folder:{image_folder}", tmp_path / "runs", *methods, **settings)
                 for methods in (["dispersion"], ["dispersion", "random"])]
    results = [p.communicate(timeout=600) + (p.returncode,) for p in processes]
    assert all(code == 0 for _, _, code in results), results
    runs = [run for stdout, _, _ in results for run in trained(stdout)]
    assert sorted(runs) == sorted(set(runs)) and len(runs) == 4  # cycle0, dispersion and random cycle1, alldata
    code, stdout, stderr = run_all(f"folder:{image_folder}", tmp_path / "runs", "dispersion", "random", **settings)
    assert code == 0 and trained(stdout) == [], stdout + stderr


def test_a_changed_initial_set_is_refused(tree_copy):
    tree, dataset, runs = tree_copy
    labeled = tree / "initial/seed0/labeled.npy"
    np.save(labeled, np.load(labeled)[1:])
    code, _, stderr = run_all(dataset, runs, "dispersion")
    assert code == 2 and "initial/seed0/labeled.npy: differs from what --seed" in stderr


def test_leakage_check_requires_exactly_the_queried_indices(tree_copy):
    """A labeled set that adds the right number of pool samples, but not the ones the acquisition
    queried (labeled_selected.npy), passes the old checks and is caught now."""
    tree, _, _ = tree_copy
    chain = tree / "random/seed0"
    cycle1 = chain / "cycle1"
    assert checks.check_chain(tree / "initial/seed0", chain, 4) == 3
    labeled, selected = np.load(cycle1 / "labeled.npy"), np.load(cycle1 / "labeled_selected.npy")
    pool0 = np.load(chain / "cycle0/pool.npy")
    unqueried = np.setdiff1d(pool0, selected)[0]
    swapped = np.sort(np.append(np.setdiff1d(labeled, selected[:1]), unqueried))
    np.save(cycle1 / "labeled.npy", swapped)
    (cycle1 / "pool.npy").unlink()  # as if cycle 1 had not trained yet
    shutil.rmtree(chain / "cycle2")
    with pytest.raises(FileError, match="is not the previous cycle's labeled set plus labeled_selected.npy"):
        checks.check_chain(tree / "initial/seed0", chain, 4)


def test_config_records_the_commit_and_a_dirty_tree(protocol_tree):
    root, _, _ = protocol_tree
    config = json.loads((root / "cycle0/seed0/config.json").read_text())
    git = config["environment"]["git"]
    if git["commit"] != "unknown":  # a checkout without git records that it does not know
        assert len(git["commit"]) == 40 and isinstance(git["dirty"], bool)
        assert (git["diff_sha256"] is None) == (not git["dirty"])
    assert config["identity"]["labeled_sha256"] and config["identity"]["dataset_fingerprint"].startswith("files-")


def test_protocol_is_written_once_then_checked_and_a_named_change_is_recorded(tmp_path):
    from provenance import check_protocol

    settings = {"EPOCHS": "100", "STEP": "0.05", "TRAIN_ARGS": "--gamma 0.5"}
    check_protocol(tmp_path, settings, "cifar10", "fp")
    check_protocol(tmp_path, {**settings, "STEP": ".050", "TRAIN_ARGS": " --gamma  0.5 "}, "cifar10", "fp")  # same
    with pytest.raises(FileError, match="EPOCHS is '100' in this tree, '50' now"):
        check_protocol(tmp_path, {**settings, "EPOCHS": "50"}, "cifar10", "fp")
    with pytest.raises(FileError, match="fingerprint fp\\), now cifar10 \\(fingerprint other\\)"):
        check_protocol(tmp_path, settings, "cifar10", "other")
    check_protocol(tmp_path, {**settings, "EPOCHS": "50"}, "cifar10", "fp", change={"EPOCHS"})
    recorded = json.loads((tmp_path / "protocol.json").read_text())
    assert recorded["settings"]["EPOCHS"] == "50" and recorded["changes"][0]["old"] == "100"
    with pytest.raises(FileError, match="EPOCHS is '50'"):
        check_protocol(tmp_path, settings, "cifar10", "fp")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a CUDA GPU")
def test_device_cuda_without_a_gpu_is_one_line_on_the_console_before_any_work(image_folder, tmp_path):
    code, stdout, stderr = run_all(f"folder:{image_folder}", tmp_path / "runs", "dispersion", DEVICE="cuda")
    assert code == 2 and stdout == "" and stderr.startswith("error: DEVICE=cuda: no CUDA GPU")
    assert len(stderr.splitlines()) == 1 and not any(tmp_path.iterdir())
