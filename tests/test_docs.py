"""The documentation's numbers against the files they come from, and its links.

Reads README.md, results/<run>/README.md, benchmarks/README.md and docs/*.md, and the report files
beside each results page (CSV, JSON, markdown written by report.py or the commands on the page).
Every numeric claim sentence kept on a results page is recomputed here from its file, so a page
and its file cannot disagree without a failing test. No torch of its own: its tests take a tenth of a
second (the suite's conftest.py imports torch for the others).
"""
import csv
import json
import re
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
GPU, MEDIUM, QUICK = RESULTS / "gpu-h200", RESULTS / "cifar10-medium", RESULTS / "cifar10-jpeg-quick"
T_975_DF2 = 4.302652729911275  # Student's t, 0.975 quantile, 2 degrees of freedom (3 seeds)
DEPTHS = (1, 2, 5, 10, 20)     # the top-p% columns of the Fig. 3 tables


def doc_pages():
    pages = [ROOT / "README.md", ROOT / "benchmarks" / "README.md"]
    pages += sorted(RESULTS.glob("*/README.md")) + sorted((ROOT / "docs").glob("*.md"))
    return [p for p in pages if p.exists()]


def flat(text):
    """Whitespace collapsed and bold markers dropped, so that rewrapping or emphasis changes nothing."""
    return " ".join(text.replace("**", "").split())


def page(folder):
    return flat((folder / "README.md").read_text())


def assert_says(text, phrase):
    assert flat(phrase) in text, f"the page does not say: {phrase!r}"


def md_tables(path):
    """Every markdown table row of a file: first cell -> list of the other cells (later tables win)."""
    rows = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and not set(cells[0]) <= set("-: "):
            rows.setdefault(cells[0], []).append(cells[1:])
    return rows


def table_row_lines(text):
    """The data rows (not header, not separator) of every markdown table in a text."""
    lines = text.splitlines()
    rows = []
    for i, line in enumerate(lines):
        if not line.startswith("|") or re.fullmatch(r"[|\-: ]+", line):
            continue
        if i + 1 < len(lines) and re.fullmatch(r"[|\-: ]+", lines[i + 1]):
            continue  # a header: the separator follows it
        rows.append(line.strip())
    return rows


def curves(folder):
    """informativeness.csv -> {(score, top_pct): (mean, std or None)} for the depths with data."""
    out = {}
    with open(folder / "informativeness.csv") as f:
        for r in csv.DictReader(f):
            if r["acc_mean"]:
                out[r["score"], int(r["top_pct"])] = (float(r["acc_mean"]), float(r["acc_std"]) if r["acc_std"] else None)
    return out


def learning_curves(folder):
    with open(folder / "learning_curves.csv") as f:
        return {(r["method"], r["cycle"]): (float(r["acc_mean"]), float(r["acc_std"])) for r in csv.DictReader(f)}


def pm(cell):
    """'+1.32 ± 1.03 *' -> (1.32, 1.03, True)."""
    m = re.fullmatch(r"([+-]?[\d.]+) ± ([\d.]+)( \*)?", cell.strip())
    assert m, f"not a 'mean ± half-width' cell: {cell!r}"
    return float(m[1]), float(m[2]), bool(m[3])


def span(values, fmt="{:.2f}"):
    return f"{fmt.format(min(values))}-{fmt.format(max(values))}"


def pool_accuracy(folder):
    return re.search(r"its accuracy on the pool: ([\d.]+)%", (folder / "auroc.md").read_text())[1]


def auroc(folder, score):
    """A score's AUROC cell in auroc.md ("n/a" for the greedy methods)."""
    cell = md_tables(folder / "auroc.md")[score][0][-1 if folder != GPU else 0]
    return "n/a" if cell.startswith("n/a") else cell


# --- links and paths -----------------------------------------------------------------------------

@pytest.mark.parametrize("path", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_an_existing_file(path):
    text = path.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
            continue
        file_part, _, anchor = target.partition("#")
        if file_part:
            assert (path.parent / file_part).exists(), f"{path.name}: broken link {target}"
        else:  # an anchor in the same page: one of its headings, as GitHub writes the slug
            slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                     for h in re.findall(r"^#+ (.*)$", text, flags=re.M)}
            assert anchor in slugs, f"{path.name}: no heading for #{anchor}"


@pytest.mark.parametrize("path", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_machine_paths(path):
    assert not re.search(r"/tmp/|/work/|/home/", path.read_text()), f"{path.name} names a machine path"


# --- results/gpu-h200 ----------------------------------------------------------------------------

def fig3_row(folder, score, label=None):
    c, cells = curves(folder), []
    for p in DEPTHS:
        if (score, p) not in c:
            cells.append("—")
        else:
            mean, std = c[score, p]
            cells.append(f"{mean:.1f}" if std is None else f"{mean:.1f} ± {std:.1f}")
    return "| " + " | ".join([label or score, *cells, auroc(folder, score)]) + " |"


def test_gpu_fig3_table_is_informativeness_csv():
    text = (GPU / "README.md").read_text()
    scores = sorted({s for s, _ in curves(GPU)})
    rows = [r for r in table_row_lines(text) if r.split("|")[1].strip() in scores]
    assert sorted(r.split("|")[1].strip() for r in rows) == scores, "a score of the CSV is missing"
    for row in rows:
        assert row == fig3_row(GPU, row.split("|")[1].strip())


def test_gpu_claims_are_informativeness_csv():
    text, c = page(GPU), curves(GPU)
    rivals = sorted({s for s, _ in c} - {"dispersion", "oracle"})  # the oracle cheats: it knows the labels

    def lowest_at(p):
        return all(c["dispersion", p][0] < c[s, p][0] for s in rivals if (s, p) in c)

    first = next(p for p in range(1, 21) if all(lowest_at(q) for q in range(p, 21)))
    assert_says(text, f"From {first}% to 20% dispersion's curve is the lowest of every score but the oracle")
    depths = range(first, 21)
    for p in depths:  # entropy is "the next one" at every depth quoted
        others = {s: c[s, p][0] for s in rivals if (s, p) in c}
        assert min(others, key=others.get) == "entropy", p
    gap = {s: [c[s, p][0] - c["dispersion", p][0] for p in depths] for s in ("entropy", "margin", "bald (saved)")}
    assert_says(text, f"{span(gap['entropy'])} points below the next one (entropy), "
                      f"{span(gap['margin'])} points below margin and {span(gap['bald (saved)'])} below BALD")

    def clear(p):  # the gap to entropy exceeds both scores' seed-to-seed stds
        return c["entropy", p][0] - c["dispersion", p][0] > max(c["dispersion", p][1], c["entropy", p][1])

    on = next(p for p in depths if all(clear(q) for q in range(p, 21)))
    d, e = c["dispersion", on], c["entropy", on]
    d20, e20 = c["dispersion", 20], c["entropy", 20]
    assert_says(text, f"exceeds both scores' seed-to-seed stds from {on}% on ({d[0]:.1f} ± {d[1]:.1f} against "
                      f"{e[0]:.1f} ± {e[1]:.1f} at {on}%, {d20[0]:.1f} ± {d20[1]:.1f} against {e20[0]:.1f} ± {e20[1]:.1f} at 20%)")
    before = on - 1
    gap_before = c["entropy", before][0] - c["dispersion", before][0]
    assert gap_before < c["dispersion", before][1]
    assert_says(text, f"at {before}%: a gap of {gap_before:.2f} against dispersion's std of {c['dispersion', before][1]:.2f}")
    d1, e1 = c["dispersion", 1], c["entropy", 1]
    assert e1[0] < d1[0]
    assert_says(text, f"wrong more often ({e1[0]:.1f} ± {e1[1]:.1f}) than dispersion's ({d1[0]:.1f} ± {d1[1]:.1f})")
    confidence = [float(auroc(GPU, s).split()[0]) for s in ("entropy", "least_confidence", "margin")]
    assert_says(text, f"AUROC {auroc(GPU, 'dispersion').split()[0]} against {span(confidence, '{:.3f}')}")
    first_picks = {s: [c[s, p][0] for p in range(1, 6)] for s in
                   ("kcenter (query order)", "coreset (query order)", "badge (query order)", "dispersion")}
    assert_says(text, f"k-center's picks are {span(first_picks['kcenter (query order)'], '{:.1f}')}% right and "
                      f"CoreSet's (seed 0) {span(first_picks['coreset (query order)'], '{:.1f}')}%, "
                      f"BADGE's {span(first_picks['badge (query order)'], '{:.1f}')}%, against dispersion's "
                      f"{span(first_picks['dispersion'], '{:.1f}')}%")
    assert_says(text, f"right on {pool_accuracy(GPU)}% of their pools")


def test_gpu_run_table_is_the_metrics_and_summary_files():
    text = page(GPU)
    metrics = [json.loads((GPU / f"metrics_seed{s}.json").read_text()) for s in range(3)]
    assert_says(text, " / ".join(f"{100 * m['test_acc']:.2f}%" for m in metrics))
    assert_says(text, f"training {metrics[1]['seconds_train']:.1f} / {metrics[2]['seconds_train']:.1f} s, "
                      f"pool {metrics[1]['seconds_pool']:.1f} / {metrics[2]['seconds_pool']:.1f} s")
    summary = flat((GPU / "summary.md").read_text())
    wall, train, pool, test = re.search(r"cycle 0 \(float32\): wall time \| ([\d.]+) s \(train ([\d.]+) s, "
                                        r"pool ([\d.]+) s, test ([\d.]+) s\)", summary).groups()
    assert_says(text, f"{wall} s wall: training {train} s, predicting the pool after every epoch {pool} s, testing {test} s")
    assert f"{metrics[0]['seconds_train']:.1f}" == train
    wall, train, pool = re.search(r"cycle 0 \(bf16\): wall time \| ([\d.]+) s \(train ([\d.]+) s, pool ([\d.]+) s", summary).groups()
    acc = re.search(r"cycle 0 \(bf16\): test accuracy \| ([\d.]+)%", summary)[1]
    assert_says(text, f"{wall} s wall (training {train} s, pool {pool} s); test accuracy {acc}%")
    secs = dict(re.findall(r"(\w+) ([\d.]+) s", re.search(r"acquisition of 2500[^|]*\|([^|]*)\|", summary)[1]))
    assert_says(text, f"BALD {secs['bald']} s, k-center {secs['kcenter']} s, BADGE {secs['badge']} s, CoreSet {secs['coreset']} s")
    rerun = (GPU / "fp32_rerun.txt").read_text()
    acc = float(re.search(r"test acc ([\d.]+)", rerun)[1])
    differ = re.search(r"cycle0/seed0 final preds differ ([\d.]+)%", rerun)[1]
    assert_says(text, f"test accuracy {100 * acc:.2f}%; {differ}% of its final pool predictions differ")
    env = json.loads((GPU / "config_seed0.json").read_text())["environment"]
    assert_says(text, f"torch {env['torch']}, Python {env['python']}, {env['torch_threads']} threads")
    assert_says(text, f"commit `{env['git_commit'][:7]}`")
    assert re.search(r"\d+ passed", (GPU / "cuda_tests.txt").read_text())[0] == "3 passed"


# --- results/cifar10-medium ----------------------------------------------------------------------

def seed_accuracies():
    with open(MEDIUM / "test_acc_seeds.csv") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for r in rows:
        out.setdefault((r["method"], r["cycle"]), {})[int(r["seed"])] = float(r["test_acc"])
    return out


def alldata_accuracies():
    found = re.findall(r"seed (\d): \S+: test accuracy ([\d.]+)", (MEDIUM / "alldata_gpu.txt").read_text())
    return {int(s): 100 * float(a) for s, a in found}


def test_medium_seed_accuracies_give_the_reports_means_and_stds():
    seeds, lc = seed_accuracies(), learning_curves(MEDIUM)
    for (method, cycle), mean_std in lc.items():
        values = list(alldata_accuracies().values()) if method == "alldata" else (
            list(seeds[method, cycle].values()) if (method, cycle) in seeds else None)
        if values is None:
            continue  # bald, kcenter, badge: cycle 0 is the shared one, checked under dispersion
        assert round(statistics.mean(values), 2) == round(mean_std[0], 2), (method, cycle)
        assert round(statistics.stdev(values), 2) == round(mean_std[1], 2), (method, cycle)
    assert seeds["dispersion", "0"] == seeds["random", "0"] == {0: 72.35, 1: 71.81, 2: 71.04}
    assert seeds["margin", "0"][0] == seeds["dispersion", "0"][0]  # margin grew from the same cycle 0


def test_medium_tables_are_the_reports_and_the_seed_file():
    text = (MEDIUM / "README.md").read_text()
    report_lines = {line.strip() for f in ("results.md", "auroc.md") for line in (MEDIUM / f).read_text().splitlines()}
    seeds = seed_accuracies()

    def per_seed(method, label):
        cells = [" / ".join(f"{seeds[method, str(c)][s]:.2f}" if s in seeds.get((method, str(c)), {}) else "—"
                            for s in range(3)) if (method, str(c)) in seeds else "—" for c in range(3)]
        return "| " + " | ".join([label, *cells]) + " |"

    generated = {per_seed("dispersion", "dispersion"), per_seed("random", "random"),
                 per_seed("margin", "margin (second machine)")}
    for row in table_row_lines(text):
        assert row in report_lines or row in generated, f"a table row from no file: {row}"
    mean, std = learning_curves(MEDIUM)["alldata", ""]
    assert_says(flat(text), f"All data: {mean:.2f} ± {std:.2f}")
    alldata = [f"{a:.2f}" for a in alldata_accuracies().values()]
    assert_says(flat(text), f"({alldata[0]}, {alldata[1]} and {alldata[2]}% on seeds 0-2)")


def test_medium_claims_are_the_report_files():
    text, seeds = page(MEDIUM), seed_accuracies()
    paired = md_tables(MEDIUM / "results.md")["dispersion"][-1]  # the last table: differences to random
    c1, c2, aubc = pm(paired[1]), pm(paired[2]), pm(paired[3])
    assert c1[2] and c2[2] and aubc[2]
    assert_says(text, f"+{c1[0]:.2f} ± {c1[1]:.2f} points at 15% and +{c2[0]:.2f} ± {c2[1]:.2f} at 20%")
    assert_says(text, f"+{aubc[0]:.2f} ± {aubc[1]:.2f} in AUBC over 10-20%")
    for cycle, (mean, half, _) in (("1", c1), ("2", c2)):  # the same intervals from the seed file
        diffs = [seeds["dispersion", cycle][s] - seeds["random", cycle][s] for s in range(3)]
        assert all(d > 0 for d in diffs), "the page says dispersion is ahead on every seed"
        assert round(statistics.mean(diffs), 2) == mean
        assert round(T_975_DF2 * statistics.stdev(diffs) / 3 ** 0.5, 2) == half
    diffs15 = [seeds["dispersion", "1"][s] - seeds["random", "1"][s] for s in range(3)]
    assert_says(text, f"varies from {min(diffs15):.2f} to {max(diffs15):.2f} points between seeds at 15%")
    margin_lead = seeds["margin", "1"][0] - seeds["dispersion", "1"][0]
    assert_says(text, f"{seeds['margin', '1'][0]:.2f}%, {margin_lead:.2f} points above dispersion on that seed")
    share = md_tables(MEDIUM / "results.md")
    assert_says(text, f"at 20% is {share['dispersion'][1][2].split()[0]} for dispersion and "
                      f"{share['random'][1][2].split()[0]} for random")

    fig3 = md_tables(MEDIUM / "auroc.md")
    for s in ("least_confidence", "margin", "bald (saved)", "badge (query order)", "kcenter (query order)", "random"):
        assert all(star for _, _, star in (pm(x) for x in fig3[s][-1] if x != "—")), s
    entropy = [pm(x) for x in fig3["entropy"][-1]]  # top 2, 5, 10, 20%
    assert [star for _, _, star in entropy] == [False, False, True, True]
    m5, b5 = pm(fig3["margin"][-1][1]), pm(fig3["bald (saved)"][-1][1])
    assert_says(text, f"margin: {-m5[0]:.2f} ± {m5[1]:.2f} points at 5%, BALD {-b5[0]:.2f} ± {b5[1]:.2f}")
    assert_says(text, f"10% and 20% ({-entropy[2][0]:.2f} ± {entropy[2][1]:.2f} and {-entropy[3][0]:.2f} ± "
                      f"{entropy[3][1]:.2f}) but not at 2% or 5% ({-entropy[1][0]:.2f} ± {entropy[1][1]:.2f} at 5%)")
    confidence = [float(fig3[s][0][-1].split()[0]) for s in ("entropy", "least_confidence", "margin")]
    assert_says(text, f"AUROC {fig3['dispersion'][0][-1]} against {span(confidence, '{:.3f}')}")
    assert_says(text, f"right on {pool_accuracy(MEDIUM)}% of their pools")


# --- results/cifar10-jpeg-quick ------------------------------------------------------------------

def test_quick_tables_are_the_reports():
    text = (QUICK / "README.md").read_text()
    report_lines = {line.strip() for f in ("results.md", "auroc.md") for line in (QUICK / f).read_text().splitlines()}
    rows = table_row_lines(text)
    assert len(rows) == 21  # Table 1 (11 methods) and the differences to random (10)
    for row in rows:
        assert row in report_lines, f"a table row from no file: {row}"


def test_quick_claims_are_the_report_files():
    text, lc = page(QUICK), learning_curves(QUICK)
    tables = md_tables(QUICK / "results.md")
    paired = {m: [pm(x) for x in rows[-1]] for m, rows in tables.items() if m not in ("random", "method") and len(rows) == 4}
    assert len(paired) == 10
    aubc = {m: cells[5] for m, cells in paired.items()}
    assert all(mean <= 0 for mean, _, _ in aubc.values()) and not any(mean - half > 0 for mean, half, _ in aubc.values())
    means = sorted(mean for mean, _, _ in aubc.values())
    assert_says(text, f"at or below 0 ({means[-1]:+.2f} to {means[0]:+.2f} points)")
    below = sorted(m for m, (mean, half, star) in aubc.items() if star)
    assert below == ["dispersion", "oracle"]
    assert_says(text, f"dispersion ({aubc['dispersion'][0]:+.2f} ± {aubc['dispersion'][1]:.2f}) and the oracle "
                      f"({aubc['oracle'][0]:+.2f} ± {aubc['oracle'][1]:.2f})")
    at30 = {m: cells[4] for m, cells in paired.items()}
    assert [m for m, (_, _, star) in at30.items() if star] == ["bald"]
    assert_says(text, f"At 30% only BALD is established above random ({at30['bald'][0]:+.2f} ± {at30['bald'][1]:.2f})")
    final = {m: lc[m, "4"] for m, _ in lc if m not in ("random", "alldata")}
    assert_says(text, f"lie between {min(v[0] for v in final.values()):.2f} and {max(v[0] for v in final.values()):.2f}")
    assert_says(text, f"stds are {span([v[1] for v in final.values()])}")
    rel = {m: rows[0][-1].split()[0] for m, rows in tables.items() if len(rows) >= 3}
    assert_says(text, f"({rel['dispersion']} against {rel['random']} of all data; not established either way)")
    informative = [aubc[m][0] for m in ("dispersion", "bald", "margin")]
    representative = [aubc[m][0] for m in ("kcenter", "coreset", "vaal [1 epoch]")]
    assert_says(text, f"(informative {max(informative):+.2f} to {min(informative):+.2f}, representative "
                      f"{max(representative):+.2f} to {min(representative):+.2f}, BADGE {aubc['badge'][0]:+.2f})")
    aubc_abs = {m: float(cells[1].split()[0]) for m, rows in tables.items() if len(rows) >= 3 and m != "method"
                for cells in rows if len(cells) == 2}  # the AUBC table: method | seeds | AUBC
    finders = [aubc_abs[m] for m in ("oracle", "entropy", "least_confidence")]
    assert_says(text, f"lowest AUBCs ({span(finders)} against random's {aubc_abs['random']:.2f})")

    c = curves(QUICK)
    for score, name in (("entropy", "entropy's"), ("least_confidence", "least confidence's"),
                        ("dispersion", "dispersion's"), ("margin", "margin's"), ("badge (query order)", "BADGE's"),
                        ("bald (saved)", "BALD's"), ("vaal [1 epoch] (saved)", "VAAL's"),
                        ("kcenter (query order)", "k-center's"), ("coreset (query order)", "CoreSet's")):
        mean, std = c[score, 5]
        assert_says(text, f"{mean:.1f} ± {std:.1f}% of {name}")
    assert_says(text, f"initial model ({pool_accuracy(QUICK)}% right on the whole pool)")
    fig3 = md_tables(QUICK / "auroc.md")
    ahead = [pm(fig3[s][-1][1]) for s in ("random", "bald (saved)", "vaal [1 epoch] (saved)", "kcenter (query order)",
                                          "coreset (query order)", "badge (query order)")]
    assert all(star and mean < 0 for mean, _, star in ahead)
    assert_says(text, f"by {min(-m for m, _, _ in ahead):.2f} to {max(-m for m, _, _ in ahead):.2f} points")
    m10, lc20 = pm(fig3["margin"][-1][2]), pm(fig3["least_confidence"][-1][3])
    assert m10[2] and lc20[2]
    assert_says(text, f"margin's at the top 10% ({m10[0]:+.2f} ± {m10[1]:.2f})")
    assert_says(text, f"least confidence's at the top 20% ({lc20[0]:+.2f} ± {lc20[1]:.2f})")
    entropy = [pm(x) for x in fig3["entropy"][-1]]
    assert not any(star for _, _, star in entropy)
    assert_says(text, f"({min(m for m, _, _ in entropy):+.2f} to {max(m for m, _, _ in entropy):+.2f} points, entropy ahead)")
    for score, name in (("least_confidence", "least confidence"), ("entropy", "entropy"), ("margin", "margin"),
                        ("dispersion", "dispersion")):
        assert_says(text, f"{name} {fig3[score][0][-1]}")


# --- README.md: results at a glance --------------------------------------------------------------

def test_readme_headlines_are_the_results_files():
    text = flat((ROOT / "README.md").read_text())
    c = curves(GPU)
    cells = [f"{c[s, 5][0]:.1f} ± {c[s, 5][1]:.1f}% of {name}" for s, name in
             (("dispersion", "dispersion's"), ("entropy", "entropy's"), ("margin", "margin's"))]
    assert_says(text, f"right on {cells[0]} top 5% of the pool, {cells[1]}, {cells[2]}, {c['random', 5][0]:.1f}% of random's")
    lc = learning_curves(MEDIUM)
    d, r = lc["dispersion", "2"], lc["random", "2"]
    diff = pm(md_tables(MEDIUM / "results.md")["dispersion"][-1][2])
    m = curves(MEDIUM)
    assert_says(text, f"at 20%: dispersion {d[0]:.2f} ± {d[1]:.2f}, random {r[0]:.2f} ± {r[1]:.2f}, paired "
                      f"+{diff[0]:.2f} ± {diff[1]:.2f}; Fig. 3 top 5%: dispersion {m['dispersion', 5][0]:.1f} ± "
                      f"{m['dispersion', 5][1]:.1f}, entropy {m['entropy', 5][0]:.1f} ± {m['entropy', 5][1]:.1f}")
    lc = learning_curves(QUICK)
    d, r, k = lc["dispersion", "4"], lc["random", "4"], lc["kcenter", "4"]
    diff = pm(md_tables(QUICK / "results.md")["dispersion"][-1][4])
    assert_says(text, f"at 30%: dispersion {d[0]:.2f} ± {d[1]:.2f}, random {r[0]:.2f} ± {r[1]:.2f} (paired "
                      f"+{diff[0]:.2f} ± {diff[1]:.2f}), k-center {k[0]:.2f} ± {k[1]:.2f}")
    assert max(v[0] for (_, cycle), v in lc.items() if cycle == "4") == k[0]  # k-center is the best at 30%


# --- benchmarks/README.md: the GPU rows ----------------------------------------------------------

def test_benchmarks_gpu_numbers_are_speed_txt():
    text = flat((ROOT / "benchmarks" / "README.md").read_text())
    speed = (GPU / "speed.txt").read_text()
    lines = re.findall(r"^(\(\w+\) .*?)\s+([\d.]+) s$", speed, flags=re.M)  # "(1) bare compute (...)   0.45 s"

    def seconds(start):
        return next(value for label, value in lines if label.startswith(start))

    bare, epoch, conventional = seconds("(1) bare compute"), seconds("(2) train.py epoch"), seconds("(3) conventional")
    bare16, epoch16 = seconds("(1) bf16: bare compute"), seconds("(2) bf16: train.py epoch")
    for label, value in (("best batch (1024/1024)", bare), ("prediction at batch 1024 (folded)", epoch),
                         ("under bf16 autocast", bare16), ("with `--bf16`", epoch16), ("batch 128 / 1000", conventional)):
        assert_says(text, f"{label} | {value} |")
    ratios = re.findall(r"([\d.]+)x", speed)
    assert_says(text, f"met: {ratios[0]}x ({ratios[2]}x in bf16")
    assert_says(text, f"not met: {ratios[-1]}x")
    assert_says(text, f"costs only {conventional} / {bare} = {float(conventional) / float(bare):.1f}x the bare compute")
    assert_says(text, f"bf16 brings it to {conventional} / {epoch16} = {float(conventional) / float(epoch16):.2f}x")
