"""report.py on hand-made numbers and crafted run trees (no training): means, stds, relative
accuracy, sorting, missing runs, AUBC and paired t-intervals, the shared cycle-0 layout, the
informativeness curve (scores and query orders), AUROC, missing scores, and every output file."""
import json
import shutil
from itertools import product
from pathlib import Path

import matplotlib.collections
import numpy as np
import pytest
from conftest import run_script

import report
import reporting.pool
from baselines.dispersion import label_dispersion
from files import FileError
from reporting import plots
from reporting.stats import (
    FRACTIONS,
    aubc,
    auroc,
    chain_stats,
    excludes_zero,
    mean_std,
    missing_cycles,
    order_accuracy,
    paired_differences,
    pick_examples,
    pool_scores,
    relative_accuracy,
    sort_by_final,
    t_interval,
    top_accuracy,
)
from reporting.tables import auroc_markdown, diff_cell, incomplete_lines, paired_top_markdown, top_accuracy_markdown
from reporting.tree import method_labels, scan_tree

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


def test_order_accuracy_follows_the_order_and_stops_at_the_budget():
    correct = np.array([0, 0, 1, 1, 0, 1, 1, 1], bool)
    # picks: pool positions 0 (wrong), 2 (right), 1 (wrong); k = 1, 2, 3, then 4 > the budget of 3
    curve = order_accuracy(correct, [0, 2, 1], [0.125, 0.25, 0.375, 0.5])
    np.testing.assert_allclose(curve[:3], [0, 1 / 2, 1 / 3])
    assert np.isnan(curve[3])


def test_aubc_trapezoid_normalised_by_the_labeled_range():
    assert aubc([0.4, 0.5, 0.6], [0.1, 0.2, 0.3]) == pytest.approx(0.5)
    assert aubc([0.7, 0.7, 0.7], [10, 15, 30]) == pytest.approx(0.7)         # flat at a gives a
    # uneven steps: (0.1 * (0.4 + 0.6) / 2 + 0.2 * (0.6 + 0.6) / 2) / 0.3 = 0.17 / 0.3
    assert aubc([0.4, 0.6, 0.6], [0.1, 0.2, 0.4]) == pytest.approx(0.17 / 0.3)
    np.testing.assert_allclose(aubc([[50, 60], [50, nan]], [[10, 20], [10, 20]]), [55, nan])
    assert np.isnan(aubc([0.5], [0.1]))                                       # one point: no area


def test_t_interval_hand_computed():
    mean, half, n = t_interval(np.array([1.0, 2.0, 3.0]))
    assert (mean, n) == (pytest.approx(2.0), 3)                                # sd 1
    assert half == pytest.approx(4.302653 / np.sqrt(3), rel=1e-6)             # t_{0.975, 2} = 4.303
    assert not excludes_zero(mean, half)                                      # 2 ± 2.48 holds 0
    mean, half, _ = t_interval(np.array([2.0, 2.5, 3.0]))                     # sd 0.5: 2.5 ± 1.24
    assert half == pytest.approx(4.302653 * 0.5 / np.sqrt(3), rel=1e-6) and excludes_zero(mean, half)
    assert excludes_zero(*t_interval(np.array([-3.0, -2.5, -2.0]))[:2])       # wholly below 0 too
    mean, half, n = t_interval(np.array([[1.0, 4.0], [nan, 6.0]]))           # column 0: one paired seed
    assert n.tolist() == [1, 2] and np.isnan(half[0]) and not excludes_zero(mean[0], half[0])
    assert half[1] == pytest.approx(12.706205, rel=1e-6)                      # t_{0.975, 1} * sqrt(2) / sqrt(2)


def test_diff_cell_marks_intervals_that_exclude_zero():
    assert diff_cell(2.5, 1.242, 3, 3) == "+2.50 ± 1.24 *"
    assert diff_cell(2.0, 2.484, 3, 3) == "+2.00 ± 2.48"
    assert diff_cell(-1.0, nan, 1, 3) == "-1.00 ± n/a (1 of 3 seeds)"
    assert diff_cell(nan, nan, 0, 3) == "—"


def test_paired_differences_pair_by_seed_and_aubc_only_over_complete_seeds():
    pct = np.array([[10, 20]] * 3, float)
    random = chain_stats(np.array([[50, 60], [50, 62], [50, nan]]), pct, np.full(3, nan))
    method = chain_stats(np.array([[50, 61], [50, 64], [50, 70]]), pct, np.full(3, nan))
    np.testing.assert_allclose(random["seed_aubc"], [55, 56, nan])           # seed 2 unfinished: no AUBC
    assert random["complete"] == 2 and random["aubc"][2] == 2
    paired = paired_differences({"random": random, "m": method})
    assert set(paired) == {"m"}
    mean, half, n = paired["m"]["cycles"]
    np.testing.assert_allclose(mean, [0, 1.5])
    np.testing.assert_array_equal(n, [3, 2])                                 # seed 2 unpaired at cycle 1
    assert paired["m"]["aubc"][0] == pytest.approx(0.75) and paired["m"]["aubc"][2] == 2
    assert paired_differences({"m": method}) == {}                           # no random chain


def test_learning_curve_lines_join_only_means_over_the_same_seeds(monkeypatch):
    """Seed 0 has finished cycles 0-2, seeds 1 and 2 only cycle 0; cycle 3 has not been reached. A line
    from the 3-seed mean at 10% (71) to seed 0 alone at 15% (75) would draw a gain of 4 where seed 0
    gained 5 (70 -> 75): the 15-20% line is drawn, the 10-15% one is not."""
    acc = np.array([[70, 75, 78, nan], [71, nan, nan, nan], [72, nan, nan, nan]])
    assert plots.same_seed_runs(acc) == [(0, 0), (1, 2)]
    assert plots.same_seed_runs(acc[:1, :3]) == [(0, 2)]
    assert plots.same_seed_runs(np.array([[70, nan, 78]])) == [(0, 0), (2, 2)]  # a gap breaks too
    figures = []
    monkeypatch.setattr(plots, "save", lambda fig, path: figures.append(fig))
    stats = {"dispersion": chain_stats(acc, np.tile([10.0, 15, 20, 25], (3, 1)), np.full(3, nan))}
    plots.learning_curves(stats, (nan, nan, 0), "unused.png", "crafted")
    lines = [line for line in figures[0].axes[0].get_lines() if len(line.get_xdata())]
    assert sorted(list(line.get_xdata()) for line in lines) == [[10.0], [15.0, 20.0]]
    assert [text.get_text() for text in figures[0].axes[0].get_legend().get_texts()] == ["dispersion (1-3 seeds)"]
    # The lone 10% point (70, 71, 72: std 1) shows its ±1 std as an error bar, which a band cannot.
    bars = [c for c in figures[0].axes[0].collections if isinstance(c, matplotlib.collections.LineCollection)]
    assert [segment.tolist() for bar in bars for segment in bar.get_segments()] == [[[10.0, 70.0], [10.0, 72.0]]]


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


def table(text, header_start):
    """(header, rows) of the markdown table in text whose header line starts with header_start."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[start], lines[start + 2:end]


def test_results_table_numbers_order_and_missing_seeds(tree, tmp_path, capsys):
    report.main([str(tree), "--out", str(tmp_path / "out")])
    lines = (tmp_path / "out" / "results.md").read_text().splitlines()
    header, rows = table("\n".join(lines), "| method | seeds | cycle 0")
    assert "cycle 0 (10%)" in header and "cycle 2 (20%)" in header
    assert [row.split(" | ")[0] for row in rows] == ["| dispersion", "| margin", "| random"]  # by final accuracy
    # 70 and 74: mean 72, sample std 2.83; relative: mean of 70/80 and 74/90 (ratio of means: 84.71%)
    assert rows[0] == "| dispersion | 2 | 51.00 ± 1.41 | 61.00 ± 1.41 | 72.00 ± 2.83 | 84.86% ± 3.73 |"
    assert rows[2] == ("| random | 1 of 2 complete | 51.00 ± 1.41 | 55.00 (1 of 2 seeds) | 60.00 (1 of 2 seeds) "
                       "| 75.00% (1 of 2 seeds) |")
    assert "All data: 85.00 ± 7.07." in lines[0]
    # every cycle's share of the same seed's all-data run: dispersion 50/80 and 52/90 -> 62.50 and
    # 57.78, mean 60.14 (the ratio of means, 51/85, would give 60.00); random's seed 1 stops at cycle 0
    header, rows = table("\n".join(lines), "| share of all data |")
    assert header == "| share of all data | cycle 0 | cycle 1 | cycle 2 |"
    assert rows[0] == "| dispersion | 60.14% ± 3.34 | 71.94% ± 4.32 | 84.86% ± 3.73 |"
    assert rows[2] == "| random | 60.14% ± 3.34 | 68.75% (1 of 2 seeds) | 75.00% (1 of 2 seeds) |"

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
    scanned = scan_tree(tree)
    assert scanned.seeds == [0, 1, 2] and scanned.cycles == [0, 1, 2]
    lines = incomplete_lines(scanned)
    assert "dispersion seed2: cycle 0, 1, 2 missing" in lines and "alldata: seed 2 missing" in lines


def test_not_a_run_tree(tmp_path):
    with pytest.raises(FileError, match="no such run tree"):
        scan_tree(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileError, match="expected a run tree"):
        scan_tree(tmp_path / "empty")


def test_results_md_has_aubc_and_paired_differences_to_random(tmp_path, capsys):
    # final cycle minus random: dispersion 1, 2, 3 (2 ± 4.303 / sqrt(3) = 2 ± 2.48, holds 0);
    # margin 2, 2.5, 3 (2.5 ± 1.24, excludes 0). AUBC over 10-15%: random 55; dispersion 55.5, 56, 56.5
    root = make_tree(tmp_path / "toy", {"random": {s: [0.50, 0.60] for s in range(3)},
                                        "dispersion": {s: [0.50, 0.61 + s / 100] for s in range(3)},
                                        "margin": {s: [0.50, 0.62 + s / 200] for s in range(3)}},
                     alldata={s: 0.8 for s in range(3)})
    report.main([str(root), "--out", str(tmp_path / "out")])
    text = (tmp_path / "out" / "results.md").read_text()
    assert "trapezoid" in text and "t-interval" in text
    _, rows = table(text, "| method | seeds | AUBC")
    assert rows == ["| margin | 3 | 56.25 ± 0.25 | 10-15% labeled |", "| dispersion | 3 | 56.00 ± 0.50 | 10-15% labeled |",
                    "| random | 3 | 55.00 ± 0.00 | 10-15% labeled |"]           # the AUBC's x-range beside it
    header, rows = table(text, "| method | cycle 0")
    assert header == "| method | cycle 0 | cycle 1 | AUBC (10-15% labeled) |"
    assert rows == ["| margin | +0.00 ± 0.00 | +2.50 ± 1.24 * | +1.25 ± 0.62 * |",
                    "| dispersion | +0.00 ± 0.00 | +2.00 ± 2.48 | +1.00 ± 1.24 |"]
    out = capsys.readouterr().out
    assert "AUBC (10-15% labeled) % (mean ± std over complete seeds)" in out
    assert "  margin             56.25 ± 0.25                     | +1.25 ± 0.62 *           | +2.50 ± 1.24 *" in out


def test_a_vaal_of_fewer_epochs_than_the_official_100_says_so_in_every_table(tmp_path, capsys):
    accs = {"random": {0: [0.50, 0.60]}, "vaal": {0: [0.50, 0.58]}}
    root = make_tree(tmp_path / "toy", accs, alldata={0: 0.8})
    report.main([str(root), "--out", str(tmp_path / "plain")])             # nothing recorded: the official 100
    assert "vaal [" not in (tmp_path / "plain" / "results.md").read_text()
    report.main([str(root), "--out", str(tmp_path / "flag"), "--vaal-epochs", "1"])   # an older tree: the flag
    write_json(root / "vaal/seed0/cycle1/labeled_config.json", {"identity": {"options": {"vaal_epochs": 1}}})
    report.main([str(root), "--out", str(tmp_path / "recorded")])          # acquire.py's record of its flags
    for out in ("flag", "recorded"):
        text = (tmp_path / out / "results.md").read_text()
        rows = [line for line in text.splitlines() if "vaal" in line and line.startswith("| ")]
        assert len(rows) == 4 and all(row.startswith("| vaal [1 epoch] |") for row in rows)  # every table
        assert "--vaal-epochs N; official code: 100" in text
        assert "vaal [1 epoch],1," in (tmp_path / out / "learning_curves.csv").read_text()
    write_json(root / "vaal/seed0/cycle1/labeled_config.json", {"identity": {"options": {"vaal_epochs": 100}}})
    report.main([str(root), "--out", str(tmp_path / "official"), "--vaal-epochs", "1"])  # the record wins
    assert "vaal [" not in (tmp_path / "official" / "results.md").read_text()
    assert reporting.pool.relabel({"vaal (saved)": 1, "random": 2}, {"vaal": "vaal [1 epoch]"}) == {
        "vaal [1 epoch] (saved)": 1, "random": 2}


def test_a_bald_of_another_variant_than_the_authors_says_which(tmp_path):
    root = make_tree(tmp_path / "toy", {"random": {0: [0.5, 0.6]}, "bald": {0: [0.5, 0.58]}}, alldata={0: 0.8})
    tree = scan_tree(root)
    assert method_labels(tree) == {}                                # nothing recorded
    write_json(root / "bald/seed0/cycle1/labeled_config.json", {"identity": {"options": {"bald_variant": "authors"}}})
    assert method_labels(tree) == {}
    write_json(root / "bald/seed0/cycle1/labeled_config.json", {"identity": {"options": {"bald_variant": "gal"}}})
    assert method_labels(tree) == {"bald": "bald [gal]"}


def test_aubc_range_is_stated_and_differing_ranges_are_not_merged():
    from reporting.tables import aubc_header, aubc_span

    stats = {"a": {"pct": np.array([10, 12.5, 15])}, "b": {"pct": np.array([10, 12.5, 15])},
             "c": {"pct": np.array([10, 12.5, nan])}}                        # c: no seed finished its last cycle
    assert aubc_span(stats["a"]["pct"]) == "10-15% labeled" and aubc_span(stats["c"]["pct"]) == "—"
    assert aubc_header(stats, ["a", "b"]) == "AUBC (10-15% labeled)"
    assert aubc_header(stats, ["a", "c"]) == "AUBC (over each method's range: AUBC table)"


def test_paired_differences_with_one_paired_seed_have_no_interval(tree, tmp_path, capsys):
    report.main([str(tree), "--out", str(tmp_path / "out")])    # random finished seed 0 only
    _, rows = table((tmp_path / "out" / "results.md").read_text(), "| method | cycle 0")
    assert rows[0] == ("| dispersion | +0.00 ± 0.00 | +5.00 ± n/a (1 of 2 seeds) | +10.00 ± n/a (1 of 2 seeds) "
                       "| +5.00 ± n/a (1 of 2 seeds) |")
    _, rows = table((tmp_path / "out" / "results.md").read_text(), "| method | seeds | AUBC")
    assert "| random | 1 of 2 complete | 55.00 (1 of 2 seeds) | 10-20% labeled |" in rows
    assert "dispersion         61.25 ± 1.77" in capsys.readouterr().out


def share_cycle0(root, seed):
    """run_all.sh's layout: <root>/cycle0/seed<S> trained once (the first chain's cycle0 folder moved
    there), each <method>/seed<S>/cycle0 a relative link to it; returns the shared folder."""
    shared = root / "cycle0" / f"seed{seed}"
    for i, chain in enumerate(sorted(p / f"seed{seed}" for p in root.iterdir() if (p / f"seed{seed}/cycle0").is_dir())):
        if i == 0:
            shared.parent.mkdir(exist_ok=True)
            (chain / "cycle0").rename(shared)
        else:
            for f in (chain / "cycle0").iterdir():
                f.unlink()
            (chain / "cycle0").rmdir()
        (chain / "cycle0").symlink_to(Path("..") / ".." / "cycle0" / f"seed{seed}")
    return shared


def test_shared_cycle0_is_no_method_and_is_read_through_the_links(tmp_path):
    root = make_tree(tmp_path / "toy", {"dispersion": {0: [0.5, 0.6], 1: [0.52, 0.62]},
                                        "random": {0: [0.5, 0.55], 1: [0.52, 0.56]}}, alldata={0: 0.8, 1: 0.8})
    for seed in (0, 1):
        share_cycle0(root, seed)
    assert (root / "random/seed1/cycle0").is_symlink() and (root / "cycle0/seed1/metrics.json").is_file()
    tree = scan_tree(root)
    assert sorted(tree.chains) == ["dispersion", "random"]              # not "cycle0"
    assert tree.chains["random"][1][0]["test_acc"] == 0.52              # cycle 0 through the link
    assert incomplete_lines(tree) == []
    (root / "cycle0/seed1").rename(root / "elsewhere")                  # shared cycle 0 not there yet
    assert "random seed1: cycle 0 missing" in incomplete_lines(scan_tree(root))


def test_informativeness_uses_the_shared_cycle0_only(tmp_path):
    labels = np.arange(100) % 3
    root = make_tree(tmp_path / "toy", {"dispersion": {0: [0.5]}, "random": {0: [0.5]}}, alldata={})
    add_pool(root / "dispersion/seed0/cycle0", one_hot(labels[10:]), np.tile(labels[10:], (4, 1)), 100)
    assert reporting.pool.reference_runs(scan_tree(root)) == {}   # a chain's own cycle0 folder is not read
    share_cycle0(root, 0)                                         # it becomes the seed's shared cycle 0
    references = reporting.pool.reference_runs(scan_tree(root))
    assert references[0].dir == root / "cycle0" / "seed0"
    info, notes, missing = reporting.pool.informativeness(scan_tree(root), labels, references)
    assert "of cycle0/seed0;" in notes[0] and missing == []
    np.testing.assert_allclose(info["random"]["curve"][0], 100)


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


def test_saved_scores_of_a_model_based_method(tree):
    labels = np.arange(100) % 3
    predicted = np.where(np.arange(90) % 2 == 0, labels[10:], (labels[10:] + 1) % 3)  # every other wrong
    add_pool(share_cycle0(tree, 0), one_hot(predicted), np.tile(predicted, (3, 1)), 100)
    (tree / "bald/seed0").mkdir(parents=True)
    (tree / "bald/seed0/cycle0").symlink_to(Path("..") / ".." / "cycle0" / "seed0")
    (tree / "kcenter/seed0/cycle0").mkdir(parents=True)                                  # not the shared one
    info, notes, missing = reporting.pool.informativeness(scan_tree(tree), labels)
    assert set(info) == {"random", "oracle", "dispersion", "margin", "entropy", "least_confidence"}
    assert [(name, seed) for name, seed, _ in missing] == [("bald", 0), ("kcenter", 0)]  # listed, not dropped
    np.save(tree / "bald/seed0/cycle1_scores.npy", np.zeros(1))                          # misplaced: ignored
    (tree / "bald/seed0/cycle1").mkdir()
    np.save(tree / "bald/seed0/cycle1/labeled_scores.npy", (np.arange(90) % 2).astype(np.float32))
    info, notes, missing = reporting.pool.informativeness(scan_tree(tree), labels)
    assert info["bald (saved)"]["auroc"][0] == pytest.approx(1.0)
    np.testing.assert_allclose(info["bald (saved)"]["curve"][0][:10], 0)                  # top 10% all wrong
    assert [(name, seed) for name, seed, _ in missing] == [("kcenter", 0)]
    assert "no finished cycle 0" in missing[0][2]                 # kcenter's cycle0 has no metrics.json
    shutil.rmtree(tree / "kcenter/seed0/cycle0")
    (tree / "kcenter/seed0/cycle1").mkdir()
    info, notes, missing = reporting.pool.informativeness(scan_tree(tree), labels)
    assert "kcenter/seed0/cycle0: missing (run_all.sh links it to ../../cycle0/seed0" in missing[0][2]


def test_dispersion_from_one_recorded_epoch_is_missing_not_scored_on_ties(tree):
    """Seed 1's shared cycle 0 (trained with --track-last 1) recorded one epoch."""
    labels = np.arange(100) % 3
    predicted = np.where(np.arange(90) % 2 == 0, labels[10:], (labels[10:] + 1) % 3)
    add_pool(share_cycle0(tree, 0), one_hot(predicted), np.tile(predicted, (4, 1)), 100)
    add_pool(share_cycle0(tree, 1), one_hot(predicted), predicted[None], 100)
    info, notes, missing = reporting.pool.informativeness(scan_tree(tree), labels)
    assert info["dispersion"]["auroc"][2] == 1 and info["margin"]["auroc"][2] == 2   # seed 0 only
    assert list(info["dispersion"]["curve"][2]) == [1] * 20
    assert [(name, seed) for name, seed, _ in missing] == [("dispersion", 1)]
    assert "cycle0/seed1/preds.npy has 1 recorded epoch" in missing[0][2]
    text = auroc_markdown(info, notes, missing)
    assert "| dispersion | " in text and "- dispersion, seed 1: " in text and "recorded epoch" in text


def write_chain(root, method, seed, selected=None, scores=None):
    """<method>/seed<S>/cycle0, a link to the seed's shared cycle 0, and cycle1's saved files."""
    (root / method / f"seed{seed}").mkdir(parents=True)
    (root / method / f"seed{seed}/cycle0").symlink_to(Path("..") / ".." / "cycle0" / f"seed{seed}")
    pool = np.load(root / "cycle0" / f"seed{seed}" / "pool.npy")
    (root / method / f"seed{seed}/cycle1").mkdir()
    if selected is not None:
        np.save(root / method / f"seed{seed}/cycle1/labeled_selected.npy", pool[selected].astype(np.int32))
    if scores is not None:
        np.save(root / method / f"seed{seed}/cycle1/labeled_scores.npy", np.asarray(scores, np.float32))


def test_greedy_methods_follow_their_query_order_not_their_stand_in_scores(tree, monkeypatch):
    labels = np.arange(100) % 3
    correct = np.arange(90) % 2 == 0                                     # pool positions: even right, odd wrong
    predicted = np.where(correct, labels[10:], (labels[10:] + 1) % 3)
    add_pool(share_cycle0(tree, 0), one_hot(predicted), np.tile(predicted, (4, 1)), 100)
    picks = [1, 3, 0, 5, 2, 7, 9, 4, 11]                                 # a budget of 9 (10% of 90): wrong, wrong, right...
    write_chain(tree, "kcenter", 0, picks, scores=correct)               # stand-in: the right ones first
    write_chain(tree, "newmethod", 0, picks)                             # no scores saved: its order too
    info, notes, missing = reporting.pool.informativeness(scan_tree(tree), labels)
    assert "kcenter (saved)" not in info and missing == []
    # k = 1..9 for the top 1..10% (4.5 rounds to 4): right among the first k picks 0 0 1 1 1 2 2 2 3 3
    expected = 100 * np.array([0, 0, 1, 1, 1, 2, 2, 2, 3, 3]) / np.array([1, 2, 3, 4, 4, 5, 6, 7, 8, 9])
    for name in ("kcenter (query order)", "newmethod (query order)"):
        mean, _, n = info[name]["curve"]
        np.testing.assert_allclose(mean[:10], expected)                  # the stand-in scores would give 100
        assert np.isnan(mean[10:]).all() and list(n) == [1] * 10 + [0] * 10  # beyond the budget: unknown
        assert info[name]["order_only"] and info[name]["auroc"][2] == 0
    assert "| kcenter (query order) | 0.0 | 0.0 | 25.0 | 33.3 | — | n/a |" in auroc_markdown(info, notes, missing)
    assert any("labeled_selected.npy" in note for note in notes)
    monkeypatch.setattr(reporting.pool, "ORDER_ONLY", ())                   # were kcenter's scores its order...
    info, _, _ = reporting.pool.informativeness(scan_tree(tree), labels)
    np.testing.assert_allclose(info["kcenter (saved)"]["curve"][0][:10], 100)  # ...the curve would be wrong


def test_coreset_is_scored_as_a_set_at_its_budget_only(tree, tmp_path):
    """CoreSet's program picks a set; coreset.py lists it farthest-first, an order with no meaning. Its 9
    picks (10% of the 90) hold 3 right: 33.3% at 10% of the pool, and nothing below (a query order
    would give 0, 0, 33.3, 25, ... at 1..9 picks) and no AUROC."""
    labels = np.arange(100) % 3
    correct = np.arange(90) % 2 == 0
    predicted = np.where(correct, labels[10:], (labels[10:] + 1) % 3)
    add_pool(share_cycle0(tree, 0), one_hot(predicted), np.tile(predicted, (4, 1)), 100)
    picks = [1, 3, 0, 5, 2, 7, 9, 4, 11]
    write_chain(tree, "coreset", 0, picks)
    info, notes, missing = reporting.pool.informativeness(scan_tree(tree), labels)
    entry = info["coreset (a set, at its budget)"]
    assert "coreset (query order)" not in info and missing == []
    assert entry["at_budget"]["share"] == pytest.approx(10) and entry["at_budget"]["acc"][0] == pytest.approx(100 / 3)
    assert np.isnan(entry["curve"][0]).all() and entry["auroc"][2] == 0           # no curve, no AUROC
    text = auroc_markdown(info, notes, missing)
    assert "| coreset (a set, at its budget) | 10.0% | 33.3 | n/a |" in text
    assert [line for line in text.splitlines() if line.startswith("| coreset")] == [
        "| coreset (a set, at its budget) | 10.0% | 33.3 | n/a |"]                 # no row of top-p% dashes
    assert any("re-sorting that set farthest-first" in note for note in notes)
    rows, seed_rows = reporting.pool.csv_rows(info)
    coreset_rows = [r for r in rows if r[0].startswith("coreset")]
    assert len(coreset_rows) == 1 and coreset_rows[0][1] == "10.00" and coreset_rows[0][2] == pytest.approx(100 / 3)
    assert len([r for r in seed_rows if r[0].startswith("coreset")]) == 1
    assert "n/a (a set, scored at its budget only): coreset" in reporting.pool.auroc_line(info)
    plots.informativeness(reporting.pool.FRACTIONS, info, tmp_path / "fig.png", "toy")   # one point
    assert (tmp_path / "fig.png").stat().st_size > 1000


def test_unfit_saved_files_are_listed_as_missing(tree):
    labels = np.arange(100) % 3
    predicted = labels[10:]
    add_pool(share_cycle0(tree, 0), one_hot(predicted), np.tile(predicted, (4, 1)), 100)
    write_chain(tree, "bald", 0, scores=np.zeros(5))                     # 5 scores for a pool of 90
    write_chain(tree, "coreset", 0)                                      # nothing saved
    np.save(tree / "coreset/seed0/cycle1/labeled_selected.npy", np.array([3], np.int32))  # a labeled index
    info, notes, missing = reporting.pool.informativeness(scan_tree(tree), labels)
    assert not any(name.startswith(("bald", "coreset")) for name in info)
    why = {name: text for name, _, text in missing}
    assert "5 scores for a pool of 90" in why["bald"] and "outside the pool" in why["coreset"]


def test_cli_writes_every_file_from_a_tree_with_images(image_folder, tmp_path):
    """python report.py TREE on the tiny image folder: 36 training images of 3 classes (12 each)."""
    labels = np.repeat([0, 1, 2], 12)
    root = make_tree(tmp_path / "tiny", {"dispersion": {0: [0.4, 0.5]}, "random": {0: [0.4, 0.45]}},
                     alldata={0: 0.7}, universe=36, initial=8, step=4)
    rng = np.random.default_rng(0)
    preds = rng.integers(0, 3, (6, 28))
    probs = rng.dirichlet(np.ones(3), 28)
    preds[:, 0], probs[0] = 0, [0.9, 0.05, 0.05]                 # pool[0] = image 8, a cat: right throughout
    add_pool(share_cycle0(root, 0), probs, preds, 36, f"folder:{image_folder}", str(tmp_path / "cache"))
    result = run_script("report.py", root, "--out", tmp_path / "out")
    names = {"learning_curves.png", "learning_curves.csv", "results.md", "informativeness.png",
             "informativeness.csv", "informativeness_seeds.csv", "auroc.md", "examples.png"}
    assert {p.name for p in (tmp_path / "out").iterdir()} == names
    for name in names:
        assert (tmp_path / "out" / name).stat().st_size > 100, name
    assert (tmp_path / "out" / "examples.png").read_bytes()[:4] == b"\x89PNG"
    csv = (tmp_path / "out" / "informativeness.csv").read_text().splitlines()
    assert csv[0] == "score,top_pct,acc_mean,acc_std,n_seeds" and len(csv) == 1 + 6 * 20
    accuracy = 100 * np.mean(probs.argmax(1) == labels[8:])
    assert f"random,5,{accuracy:.4f},,1" in csv and "oracle,1,0.0000,,1" in csv
    per_seed = (tmp_path / "out" / "informativeness_seeds.csv").read_text().splitlines()
    assert per_seed[0] == "score,seed,top_pct,acc,auroc" and f"random,0,5,{accuracy:.4f},0.5000" in per_seed
    assert "oracle,0,1,0.0000,1.0000" in per_seed and len(per_seed) == 1 + 6 * 20
    assert "| dispersion |" in (tmp_path / "out" / "auroc.md").read_text()
    assert "every chain complete" in result.stdout and "AUROC" in result.stdout


def test_report_on_the_shared_cycle0_layout_with_images(image_folder, tmp_path, capsys):
    """run_all.sh's layout end to end: a shared cycle 0 that recorded one epoch (no dispersion), a greedy method."""
    labels = np.repeat([0, 1, 2], 12)
    root = make_tree(tmp_path / "tiny", {"random": {0: [0.4, 0.45]}, "kcenter": {0: [0.4, 0.5]},
                                         "vaal": {0: [0.4, 0.42]}}, alldata={0: 0.7}, universe=36, initial=8, step=4)
    shared = share_cycle0(root, 0)
    add_pool(shared, one_hot(labels[8:]), labels[None, 8:], 36, f"folder:{image_folder}", str(tmp_path / "cache"))
    np.save(root / "kcenter/seed0/cycle1/labeled_selected.npy", np.array([35, 9, 20, 12], np.int32))  # budget 4 of 28
    np.save(root / "vaal/seed0/cycle1/labeled_scores.npy", np.linspace(0, 1, 28, dtype=np.float32))
    report.main([str(root), "--out", str(tmp_path / "out"), "--vaal-epochs", "1"])
    out = capsys.readouterr().out
    assert "methods: kcenter random vaal" in out and "every chain complete" in out
    assert "| vaal [1 epoch] (saved) |" in (tmp_path / "out" / "auroc.md").read_text()   # VAAL's 1 epoch, here too
    assert "informativeness, missing (left out, never scored on ties):" in out
    assert "  dispersion seed0: " in out and "has 1 recorded epoch" in out
    assert "n/a (query order known only up to the budget): kcenter" in out
    csv = (tmp_path / "out" / "informativeness.csv").read_text().splitlines()
    # top 16%: k = round(4.48) = 4, the whole budget; top 17%: k = 5, beyond it
    assert "kcenter (query order),16,100.0000,,1" in csv and "kcenter (query order),17,,,0" in csv
    assert not any(line.startswith("dispersion,") for line in csv)
    auroc_md = (tmp_path / "out" / "auroc.md").read_text()
    assert "of cycle0/seed0;" in auroc_md and "- dispersion, seed 0: " in auroc_md
    assert "| kcenter (query order) | 100.0 | 100.0 | 100.0 | 100.0 | — | n/a |" in auroc_md  # all right
    assert "| kcenter | +0.00 ± n/a | +5.00 ± n/a | +2.50 ± n/a |" in (tmp_path / "out" / "results.md").read_text()


def test_unavailable_labels_skip_the_pool_analysis_only(tree, tmp_path, capsys):
    add_pool(share_cycle0(tree, 0), one_hot(np.zeros(90, int)), np.zeros((3, 90)), 100)
    report.main([str(tree), "--out", str(tmp_path / "out"), "--data-root", str(tmp_path / "nocache")])
    assert "informativeness, examples: skipped (true labels unavailable" in capsys.readouterr().out
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert written == {"learning_curves.png", "learning_curves.csv", "results.md"}


def test_paired_top_differences_are_per_seed_differences_with_t_intervals():
    """dispersion minus another score at the top 5% on 3 seeds. Against margin: 20 - 25, 22 - 26,
    25.5 - 30 = -5, -4, -4.5: mean -4.5, sd 0.5, half 4.303 * 0.5 / sqrt(3) = 1.24, excludes 0.
    Against entropy: -5, -4, -2: mean -3.67, sd 1.53, half 3.79, includes 0."""
    def curve(top5):
        c = np.full(len(FRACTIONS), 50.0)
        c[4] = top5
        return c, 0.7
    info = {"dispersion": {"per_seed": {0: curve(20), 1: curve(22), 2: curve(25.5)}},
            "margin": {"per_seed": {0: curve(25), 1: curve(26), 2: curve(30)}},
            "entropy": {"per_seed": {0: curve(25), 1: curve(26), 2: curve(27.5)}},
            "kcenter (query order)": {"per_seed": {0: curve(np.nan)}}}
    lines = paired_top_markdown(info, tops=(1, 5))
    assert "| margin | +0.00 ± 0.00 | -4.50 ± 1.24 * |" in lines
    assert "| entropy | +0.00 ± 0.00 | -3.67 ± 3.79 |" in lines
    assert "| kcenter (query order) | +0.00 ± n/a (1 of 3 seeds) | — |" in lines  # top 5%: beyond its budget
    assert paired_top_markdown({"margin": info["margin"]}) == []


def test_fig3_table_ranks_by_top_5_percent_with_mean_std_and_auroc():
    """Three scores on 2 seeds. At the top 5%, entropy (10, 20: 15.0 ± 7.1) beats dispersion (20, 22:
    21.0 ± 1.4), though dispersion is lower at the top 1%; k-center's order stops before 5% and has no
    AUROC; margin has one seed of two."""
    def curve(top1, top5):
        c = np.full(len(FRACTIONS), 50.0)
        c[0], c[4] = top1, top5
        return c

    def entry(curves, areas, order_only=False):
        return {"curve": mean_std(np.array(curves)), "auroc": mean_std(np.array(areas)), "order_only": order_only}
    info = {"dispersion": entry([curve(5, 20), curve(7, 22)], [0.8, 0.9]),
            "entropy": entry([curve(30, 10), curve(40, 20)], [0.7, 0.7]),
            "margin": entry([curve(60, 60)], [0.6]),
            "kcenter (query order)": entry([curve(1, np.nan), curve(3, np.nan)], [np.nan, np.nan], True)}
    lines = top_accuracy_markdown(info, tops=(1, 5))
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| score")]
    assert rows == ["| entropy | 35.0 ± 7.1 | 15.0 ± 7.1 | 0.700 ± 0.000 |",
                    "| dispersion | 6.0 ± 1.4 | 21.0 ± 1.4 | 0.850 ± 0.071 |",
                    "| margin | 60.0 (1 of 2 seeds) | 60.0 (1 of 2 seeds) | 0.600 (1 of 2 seeds) |",
                    "| kcenter (query order) | 2.0 ± 1.4 | — | n/a |"]
