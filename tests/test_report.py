"""report.py on hand-made numbers and crafted run trees (no training): means, stds, relative
accuracy, sorting, missing runs, the informativeness curve, AUROC, and every output file."""
import json
from itertools import product

import numpy as np
import pytest
from conftest import run_script

import report
from baselines.dispersion import label_dispersion
from files import FileError
from report_stats import (
    auroc,
    average_ranks,
    mean_std,
    missing_cycles,
    pick_examples,
    pool_scores,
    relative_accuracy,
    sort_by_final,
    top_accuracy,
)

nan = np.nan


# ---- pure functions ----------------------------------------------------------------------------

def test_mean_std_uses_present_seeds_and_sample_std():
    mean, std, n = mean_std([[80, 90, nan], [82, nan, nan], [84, nan, nan]])
    np.testing.assert_allclose(mean[:2], [82, 90])
    assert std[0] == pytest.approx(2.0)            # ddof=1; ddof=0 would give 1.63
    assert np.isnan(std[1]) and np.isnan(mean[2])  # one seed: no std; no seed: no mean
    np.testing.assert_array_equal(n, [3, 1, 0])


def test_relative_accuracy_is_the_mean_of_paired_ratios():
    mean, std, n = relative_accuracy([90, 60, 70, nan], [100, 50, nan, 80])
    assert n == 2                                   # seeds 2 and 3 lack one of the two runs
    assert mean == pytest.approx((0.9 + 1.2) / 2)   # not the ratio of means (75 / 75 = 1)
    assert std == pytest.approx(np.std([0.9, 1.2], ddof=1))


def test_sort_by_final_best_first_and_missing_last():
    assert sort_by_final({"a": 80.0, "b": nan, "c": 90.0, "d": 80.0}) == ["c", "a", "d", "b"]


def test_missing_cycles_names_missing_and_unfinished():
    done = {"test_acc": 0.5}
    chain = {0: {0: done, 1: done, 2: done}, 1: {0: done, 1: None}}
    assert missing_cycles(chain, [0, 1, 2], [0, 1, 2]) == {1: ([1, 2], [1]), 2: ([0, 1, 2], [])}


def test_average_ranks_share_ties():
    np.testing.assert_array_equal(average_ranks(np.array([30, 10, 20, 20])), [4, 1, 2.5, 2.5])


@pytest.mark.parametrize("scores, expected", [
    ([4, 3, 2, 1], 1.0),          # every misclassified sample above every correct one
    ([1, 2, 3, 4], 0.0),          # reversed
    ([7, 7, 7, 7], 0.5),          # constant: chance
    ([0.9, 0.5, 0.5, 0.1], 0.875),  # pairs (pos, neg): 0.9>0.5, 0.9>0.1, 0.5=0.5 (1/2), 0.5>0.1 -> 3.5/4
])
def test_auroc_known_cases(scores, expected):
    assert auroc(scores, [True, True, False, False]) == pytest.approx(expected)


def test_auroc_matches_pairwise_count_with_many_ties():
    rng = np.random.default_rng(0)
    scores, positive = rng.integers(0, 4, 60), rng.random(60) < 0.3
    pos, neg = scores[positive], scores[~positive]
    pairs = [(p > q) + 0.5 * (p == q) for p, q in product(pos, neg)]
    assert auroc(scores, positive) == pytest.approx(np.mean(pairs))
    assert np.isnan(auroc(scores, np.zeros(60, bool)))


def test_top_accuracy_counts_ties_at_their_mean_correctness():
    correct = np.array([1, 0, 1, 1], bool)
    scores = np.array([5, 5, 0, 0])
    # k=1, 2: inside the tied top pair (1 of 2 correct) -> 1/2; k=3: 1 + 1 of the tied rest -> 2/3
    np.testing.assert_allclose(top_accuracy(correct, scores, [0.25, 0.5, 0.75, 1.0]), [0.5, 0.5, 2 / 3, 0.75])


def test_top_accuracy_random_oracle_and_a_perfect_score():
    correct = np.arange(40) >= 10                   # 10 misclassified of 40: pool accuracy 0.75
    fractions = np.array([0.01, 0.1, 0.25, 0.5])    # k = 1 (0.4 rounds to 0, at least 1), 4, 10, 20
    np.testing.assert_allclose(top_accuracy(correct, np.zeros(40), fractions), 0.75)
    np.testing.assert_allclose(top_accuracy(correct, (~correct).astype(float), fractions), [0, 0, 0, 0.5])
    np.testing.assert_allclose(top_accuracy(correct, -np.arange(40.0), fractions), [0, 0, 0, 0.5])
    np.testing.assert_allclose(top_accuracy(correct, np.arange(40.0), fractions), 1.0)  # worst order


def test_pool_scores_rank_the_uncertain_first():
    probs = np.array([[0.5, 0.4, 0.1], [0.9, 0.05, 0.05], [0.34, 0.33, 0.33]])
    preds = np.array([[0, 0, 1], [1, 0, 2], [0, 0, 0]], np.uint8)  # [T=3, P=3]
    scores = pool_scores(preds, probs, np.array([True, False, True]))
    np.testing.assert_allclose(scores["margin"], [-0.1, -0.85, -0.01])
    np.testing.assert_allclose(scores["least_confidence"], [0.5, 0.1, 0.66])
    assert np.argmax(scores["entropy"]) == 2 and np.argmin(scores["entropy"]) == 1
    np.testing.assert_allclose(scores["dispersion"], label_dispersion(preds))
    np.testing.assert_array_equal(scores["oracle"], [0, 1, 0])


def test_pick_examples_consistent_correct_then_confident_wrong_by_dispersion():
    correct = np.array([True, True, False, False, False, False])
    confidence = np.array([0.9, 0.99, 0.95, 0.4, 0.8, 0.7])
    dispersion = np.array([0.0, 0.2, 0.6, 0.8, 0.2, 0.4])
    assert pick_examples(correct, confidence, dispersion) == [0, 2, 5, 4]
    assert pick_examples(correct, confidence, dispersion, n_wrong=5) == [0, 2, 5, 4, 3]
    assert pick_examples(np.ones(3, bool), confidence[:3], dispersion[:3]) == [0]


# ---- crafted run trees -------------------------------------------------------------------------

def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def make_tree(root, accs, alldata, universe=100, initial=10, step=5):
    """accs {method: {seed: [test_acc per cycle; None = folder without metrics.json]}}."""
    for seed in set(alldata).union(*accs.values()):
        (root / "initial" / f"seed{seed}").mkdir(parents=True)
        np.save(root / "initial" / f"seed{seed}" / "universe.npy", np.arange(universe, dtype=np.int32))
    for method, per_seed in accs.items():
        for seed, values in per_seed.items():
            for c, acc in enumerate(values):
                run = root / method / f"seed{seed}" / f"cycle{c}"
                run.mkdir(parents=True)
                if acc is not None:
                    n = initial + c * step
                    write_json(run / "metrics.json", {"test_acc": acc, "n_labeled": n, "n_pool": universe - n})
    for seed, acc in alldata.items():
        write_json(root / "alldata" / f"seed{seed}" / "metrics.json", {"test_acc": acc, "n_labeled": universe})
    return root


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "toy", {
        "dispersion": {0: [0.50, 0.60, 0.70], 1: [0.52, 0.62, 0.74]},
        "random": {0: [0.50, 0.55, 0.60], 1: [0.52, None]},          # seed 1: cycle 1 unfinished, 2 missing
        "margin": {0: [0.50, 0.58, 0.66], 1: [0.52, 0.60, 0.68]}},
        alldata={0: 0.80, 1: 0.90})


def test_results_table_numbers_order_and_missing_seeds(tree, tmp_path, capsys):
    report.main([str(tree), "--out", str(tmp_path / "out")])
    lines = (tmp_path / "out" / "results.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| method"))
    assert "cycle 0 (10%)" in header and "cycle 2 (20%)" in header
    rows = [line for line in lines if line.startswith("| ") and not line.startswith(("| method", "| ---"))]
    assert [row.split(" | ")[0] for row in rows] == ["| dispersion", "| margin", "| random"]  # by final accuracy
    # 70 and 74: mean 72, sample std 2.83; relative: mean of 70/80 and 74/90 (ratio of means: 84.71%)
    assert rows[0] == "| dispersion | 2 | 51.00 ± 1.41 | 61.00 ± 1.41 | 72.00 ± 2.83 | 84.86% ± 3.73 |"
    assert rows[2] == ("| random | 1 of 2 complete | 51.00 ± 1.41 | 55.00 (1 of 2 seeds) | 60.00 (1 of 2 seeds) "
                       "| 75.00% (1 of 2 seeds) |")
    assert "All data: 85.00 ± 7.07." in lines[0]

    out = capsys.readouterr().out
    assert "random seed1: cycle 1, 2 missing (cycle 1 started, not finished)" in out
    assert "dispersion seed" not in out and "margin seed" not in out
    assert "informativeness, examples: skipped" in out   # the crafted tree has no pool predictions

    csv = (tmp_path / "out" / "learning_curves.csv").read_text().splitlines()
    assert csv[0] == "method,cycle,labeled_pct,acc_mean,acc_std,n_seeds"
    assert "random,2,20.0000,60.0000,,1" in csv          # one seed: no std, never averaged as two
    assert "dispersion,2,20.0000,72.0000,2.8284,2" in csv
    assert csv[-1] == "alldata,,100.0000,85.0000,7.0711,2"
    assert (tmp_path / "out" / "learning_curves.png").stat().st_size > 1000


def test_a_seed_with_nothing_but_its_initial_set_counts_as_missing(tree, tmp_path):
    (tree / "initial" / "seed2").mkdir()
    np.save(tree / "initial" / "seed2" / "universe.npy", np.arange(100))
    scanned = report.scan_tree(tree)
    assert scanned.seeds == [0, 1, 2] and scanned.cycles == [0, 1, 2]
    lines = report.incomplete_lines(scanned)
    assert "dispersion seed2: cycle 0, 1, 2 missing" in lines and "alldata: seed 2 missing" in lines


def test_not_a_run_tree(tmp_path):
    with pytest.raises(FileError, match="no such run tree"):
        report.scan_tree(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileError, match="expected a run tree"):
        report.scan_tree(tmp_path / "empty")


def add_pool(run, probs, preds, n_train, dataset="folder:/nowhere", data_root="./data"):
    """cycle0 pool files as train.py writes them: pool = the training indices not labeled."""
    pool = np.arange(n_train - len(probs), n_train)
    np.save(run / "labeled.npy", np.arange(n_train - len(probs), dtype=np.int32))
    np.save(run / "pool.npy", pool.astype(np.int32))
    np.save(run / "preds.npy", np.asarray(preds, np.uint8))
    np.save(run / "probs.npy", np.asarray(probs, np.float32))
    write_json(run / "config.json", {"n_train": n_train, "num_classes": probs.shape[1],
                                     "dataset": dataset, "data_root": data_root})
    metrics = json.loads((run / "metrics.json").read_text())
    write_json(run / "metrics.json", {**metrics, "pred_epochs": list(range(1, len(preds) + 1))})
    return pool


def one_hot(classes, num_classes=3, confidence=0.8):
    probs = np.full((len(classes), num_classes), (1 - confidence) / (num_classes - 1))
    probs[np.arange(len(classes)), classes] = confidence
    return probs


def test_informativeness_uses_the_dispersion_chains_initial_model(tree):
    labels = np.arange(100) % 3
    preds = np.tile(labels[10:], (4, 1))
    add_pool(tree / "random/seed0/cycle0", one_hot((labels[10:] + 1) % 3), preds, 100)  # all wrong
    add_pool(tree / "dispersion/seed0/cycle0", one_hot(labels[10:]), preds, 100)         # all right
    info, notes = report.informativeness(report.scan_tree(tree), labels)
    np.testing.assert_allclose(info["random"]["curve"][0], 100)
    assert list(info["random"]["curve"][2]) == [1] * 20 and "dispersion/seed0" in notes[0]
    (tree / "dispersion/seed0/cycle0/preds.npy").unlink()                               # falls back
    info, notes = report.informativeness(report.scan_tree(tree), labels)
    np.testing.assert_allclose(info["random"]["curve"][0], 0)
    assert "random/seed0" in notes[0] and "Not scored" not in " ".join(notes)


def test_saved_scores_of_a_model_based_method(tree):
    labels = np.arange(100) % 3
    predicted = np.where(np.arange(90) % 2 == 0, labels[10:], (labels[10:] + 1) % 3)  # every other wrong
    (tree / "bald/seed0/cycle0").mkdir(parents=True)
    write_json(tree / "bald/seed0/cycle0/metrics.json", {"test_acc": 0.5, "n_labeled": 10})
    add_pool(tree / "bald/seed0/cycle0", one_hot(predicted), np.tile(predicted, (3, 1)), 100)
    (tree / "kcenter/seed0/cycle0").mkdir(parents=True)
    info, notes = report.informativeness(report.scan_tree(tree), labels)
    assert set(info) == {"random", "oracle", "dispersion", "margin", "entropy", "least_confidence"}
    np.save(tree / "bald/seed0/cycle1_scores.npy", np.zeros(1))                          # misplaced: ignored
    (tree / "bald/seed0/cycle1").mkdir()
    np.save(tree / "bald/seed0/cycle1/labeled_scores.npy", (np.arange(90) % 2).astype(np.float32))
    info, notes = report.informativeness(report.scan_tree(tree), labels)
    assert info["bald (saved)"]["auroc"][0] == pytest.approx(1.0)
    np.testing.assert_allclose(info["bald (saved)"]["curve"][0][:10], 0)                  # top 10% all wrong
    assert "Not scored (no cycle1/labeled_scores.npy saved): kcenter." in notes


def test_cli_writes_every_file_from_a_tree_with_images(image_folder, tmp_path):
    """python report.py TREE on the tiny image folder: 36 training images of 3 classes (12 each)."""
    labels = np.repeat([0, 1, 2], 12)
    root = make_tree(tmp_path / "tiny", {"dispersion": {0: [0.4, 0.5]}, "random": {0: [0.4, 0.45]}},
                     alldata={0: 0.7}, universe=36, initial=8, step=4)
    rng = np.random.default_rng(0)
    preds = rng.integers(0, 3, (6, 28))
    probs = rng.dirichlet(np.ones(3), 28)
    preds[:, 0], probs[0] = 0, [0.9, 0.05, 0.05]                 # pool[0] = image 8, a cat: right throughout
    add_pool(root / "dispersion/seed0/cycle0", probs, preds, 36, f"folder:{image_folder}", str(tmp_path / "cache"))
    result = run_script("report.py", root, "--out", tmp_path / "out")
    names = {"learning_curves.png", "learning_curves.csv", "results.md", "informativeness.png",
             "informativeness.csv", "auroc.md", "examples.png"}
    assert {p.name for p in (tmp_path / "out").iterdir()} == names
    for name in names:
        assert (tmp_path / "out" / name).stat().st_size > 100, name
    assert (tmp_path / "out" / "examples.png").read_bytes()[:4] == b"\x89PNG"
    csv = (tmp_path / "out" / "informativeness.csv").read_text().splitlines()
    assert csv[0] == "score,top_pct,acc_mean,acc_std,n_seeds" and len(csv) == 1 + 6 * 20
    accuracy = 100 * np.mean(probs.argmax(1) == labels[8:])
    assert f"random,5,{accuracy:.4f},,1" in csv and "oracle,1,0.0000,,1" in csv
    assert "| dispersion |" in (tmp_path / "out" / "auroc.md").read_text()
    assert "every chain complete" in result.stdout and "AUROC" in result.stdout


def test_unavailable_labels_skip_the_pool_analysis_only(tree, tmp_path, capsys):
    add_pool(tree / "dispersion/seed0/cycle0", one_hot(np.zeros(90, int)), np.zeros((3, 90)), 100)
    report.main([str(tree), "--out", str(tmp_path / "out"), "--data-root", str(tmp_path / "nocache")])
    assert "informativeness, examples: skipped (true labels unavailable" in capsys.readouterr().out
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert written == {"learning_curves.png", "learning_curves.csv", "results.md"}
