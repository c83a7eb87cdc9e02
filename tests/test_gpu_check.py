"""benchmarks/gpu_check.py --tiny: every step of the prepared GPU check runs, on the CPU, in seconds,
so that minutes on a GPU are never spent on a typo."""
from conftest import run_script

EXPECTED_FILES = {"summary.md", "config.json", "metrics.json", "informativeness.png", "informativeness.csv",
                  "auroc.md", "speed.txt", "log.txt"}


def test_tiny_gpu_check_runs_every_step_and_writes_at_most_8_small_files(tmp_path):
    result = run_script("benchmarks/gpu_check.py", "--tiny", "--out", tmp_path / "out", "--work", tmp_path / "work")
    files = {p.name: p.stat().st_size for p in (tmp_path / "out").iterdir()}
    assert set(files) == EXPECTED_FILES and max(files.values()) < 16 * 2**20  # what the device tool brings back
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert result.stdout.rstrip().endswith(summary.rstrip().splitlines()[-1])  # the table is printed last
    assert "FAILED" not in summary and "skipped:" not in summary, summary
    for row in ("cycle 0 (float32): test accuracy", "cycle 0 (float32): wall time", "bf16 autocast on the same weights",
                "acquisition of 5", "bald", "kcenter", "badge", "coreset", "AUROC (report.py)", "dispersion",
                "CUDA tests", "speed | train.py / bare compute", "bf16 training vs float32 training"):
        assert row in summary, row
    informativeness = (tmp_path / "out" / "informativeness.csv").read_text()
    assert "bald" in informativeness and "kcenter (query order)" in informativeness
