"""One prepared check on a CUDA GPU: correctness, speed, and the paper's Fig. 3 at its own scale.

    python benchmarks/gpu_check.py --data cifar10-jpeg.tar.gz --out OUT     # one GPU, ~8 minutes
    python benchmarks/gpu_check.py --tiny --out OUT                          # CPU, seconds (tests)

--data: the CIFAR-10 JPEG archive or folder (ImageFolder layout), cifar10, or folder:PATH. Steps,
in order of value, each skipped (and said so) when --budget-s would be exceeded:
  (c) one paper-scale cycle 0: 5,000 labeled (seed 0's initial 10%), 45,000 pool, ResNet-18 width
      64, 100 epochs, the pool predicted after every epoch (train.py with its defaults);
  (d) acquisition at that scale: kcenter, coreset, badge, bald (seconds each), then report.py on
      the tree: informativeness (Fig. 3) and AUROC for every score, bald and the greedy methods
      included; and the share of the final pool predictions that bf16 changes (same weights);
  (a) the CUDA cases of the test suite (python -m pytest -k cuda tests/test_devices.py);
  (b) benchmarks/speed.py at paper scale, float32 (TF32 convolutions) and bf16;
  (e) a second cycle 0 trained with --bf16: its test accuracy and final pool predictions against (c).
Writes into OUT at most 8 files (each small enough to copy back whole):
  summary.md               the table printed last
  config.json, metrics.json   of the paper-scale cycle 0
  informativeness.png/.csv, auroc.md   report.py's Fig. 3 and AUROC on that run
  speed.txt                speed.py's output
  log.txt                  every step's output
--tiny runs every step on the CPU with a generated 3-class image folder, 2 epochs at width 4.
"""
import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import acquire  # noqa: E402
import data  # noqa: E402
import device as device_settings  # noqa: E402
import report as report_script  # noqa: E402
import speed as speed_benchmark  # noqa: E402
import train  # noqa: E402
from rundata import RunData  # noqa: E402

MODEL_BASED = {"bald": 20, "kcenter": 30, "badge": 40, "coreset": 60}  # method: rough seconds at paper scale
REPORT_FILES = ("informativeness.png", "informativeness.csv", "auroc.md")


class Check:
    """The steps' shared state: where things go, the time spent, the summary rows and the log."""

    def __init__(self, out, work, budget_s, tiny):
        self.out, self.work, self.tiny = out, work, tiny
        self.start, self.budget_s = time.perf_counter(), budget_s
        self.rows, self.log = [], open(out / "log.txt", "a")

    def elapsed(self):
        return time.perf_counter() - self.start

    def fits(self, step, estimate_s):
        """True if a step of about estimate_s seconds fits the time left; else note the skip."""
        if self.tiny or self.elapsed() + estimate_s <= self.budget_s:
            return True
        self.row(step, f"skipped: ~{estimate_s:.0f} s needed, {self.budget_s - self.elapsed():.0f} s left")
        return False

    def row(self, what, value):
        self.rows.append((what, value))
        self.say(f"| {what} | {value} |")

    def say(self, text):
        print(text, flush=True)
        self.log.write(text + "\n")
        self.log.flush()

    def call(self, what, main, argv):
        """main(argv) of a project script in this process, its output into the log; returns
        (seconds, the output) or (None, the error) when it failed, so one failure stops no other step."""
        self.say(f"$ {what} {' '.join(map(str, argv))}")
        output = _Tee(self.log)
        start = time.perf_counter()
        try:
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                main([str(a) for a in argv])
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            return time.perf_counter() - start, output.getvalue()
        except (Exception, SystemExit) as e:  # noqa: BLE001 - any failure is reported, then we go on
            self.say(f"FAILED: {type(e).__name__}: {e}")
            return None, f"{type(e).__name__}: {e}"


class _Tee:
    """A text stream that keeps what is written and copies it into the log."""

    def __init__(self, log):
        self.log, self.parts = log, []

    def write(self, text):
        self.parts.append(text)
        self.log.write(text)
        return len(text)

    def flush(self):
        self.log.flush()

    def getvalue(self):
        return "".join(self.parts)


# ---- the data ------------------------------------------------------------------------------------

def dataset_spec(check, source):
    """--dataset for train.py: an archive is unpacked into the work folder first."""
    if check.tiny:
        sys.path.insert(0, str(ROOT / "tests"))
        from conftest import make_image_folder
        folder = check.work / "tiny-images"
        if not folder.exists():
            make_image_folder(folder, n_train=20, n_test=6)
        return f"folder:{folder}"
    if source.endswith((".tar.gz", ".tgz")):
        folder = check.work / "cifar10-jpeg"
        if not (folder / "test").is_dir():
            with tarfile.open(source) as tar:
                tar.extractall(folder, filter="data")
        inner = [p for p in folder.iterdir() if (p / "train").is_dir()]  # archive with a top folder
        return f"folder:{inner[0] if inner and not (folder / 'train').is_dir() else folder}"
    return source if source.startswith(("folder:", "cifar")) else f"folder:{source}"


# ---- (c) the paper-scale cycle 0 -----------------------------------------------------------------

def cycle0(check, dataset, run, name, *extra):
    """Train seed 0's cycle 0 into `run` with train.py (run_all.sh's layout); returns it, or None."""
    tree, data_root = check.work / "tree", check.work / "data"
    initial = tree / "initial" / "seed0"
    if not (initial / "labeled.npy").is_file():
        check.call("data.py", data.main, ["initial", "--dataset", dataset, "--data-root", data_root, "--seed", "0",
                                          "--out", initial])
    scale = ["--epochs", "2", "--width", "4", "--batch-size", "8"] if check.tiny else []
    seconds, output = check.call("train.py", train.main, [
        "--dataset", dataset, "--data-root", data_root, "--labeled", initial / "labeled.npy",
        "--universe", initial / "universe.npy", "--out", run, "--seed", "0", *scale, *extra])
    if seconds is None:
        check.row(f"cycle 0 ({name})", f"FAILED: {output}")
        return None
    metrics = json.loads((run / "metrics.json").read_text())
    check.row(f"cycle 0 ({name}): wall time", f"{seconds:.1f} s (train {metrics['seconds_train']:.1f} s, "
              f"pool {metrics['seconds_pool']:.1f} s, test {metrics['seconds_test']:.1f} s)")
    check.row(f"cycle 0 ({name}): test accuracy", f"{100 * metrics['test_acc']:.2f}% ({metrics['n_labeled']} "
              f"labeled, {metrics['n_pool']} pool, {len(metrics['pred_epochs'])} tracked epochs)")
    return run


def bf16_changes_on_same_weights(check, run):
    """Share of the pool (and test accuracy) that bf16 autocast changes, the final weights fixed."""
    loaded = RunData(run)
    device, model = loaded.device, loaded.model
    mean, std = loaded.channel_stats
    layout = device_settings.memory_format(device, model.feature_dim // 8)
    def prep(batch):
        return data.normalize(batch, mean, std, layout)
    model = model.to(memory_format=layout)
    pool_x = data.to_device_images(loaded.dataset.train_x[loaded.pool], device)
    test_x = data.to_device_images(loaded.dataset.test_x, device)
    results = {}
    for precision, enabled in (("float32", False), ("bf16", True)):
        autocast = torch.autocast(device.type, torch.bfloat16, enabled=enabled)
        pool = train.predict(model, pool_x, prep, 1024, autocast)[0].cpu().numpy()
        test = train.predict(model, test_x, prep, 1024, autocast)[0].cpu().numpy()
        results[precision] = pool, 100 * (test == loaded.dataset.test_y).mean()
    changed = 100 * (results["float32"][0] != results["bf16"][0]).mean()
    check.row("bf16 autocast on the same weights", f"{changed:.2f}% of pool predictions change; test accuracy "
              f"{results['float32'][1]:.2f}% float32, {results['bf16'][1]:.2f}% bf16")


# ---- (d) acquisition at that scale and Fig. 3 ----------------------------------------------------

def acquisitions(check, run):
    """Each model-based method once on the cycle-0 run, timed; files laid out as run_all.sh does."""
    tree = run.parent.parent
    budget = 5 if check.tiny else 2500
    seconds = []
    for method, estimate_s in MODEL_BASED.items():
        if not check.fits(f"acquisition: {method}", estimate_s):
            continue
        chain = tree / method / "seed0"
        chain.mkdir(parents=True, exist_ok=True)
        if not (chain / "cycle0").exists():
            (chain / "cycle0").symlink_to(Path("../../cycle0/seed0"))
        flags = ["--coreset-time-limit", "5" if check.tiny else "30"] if method == "coreset" else []
        took, _ = check.call("acquire.py", acquire.main, [
            "--run", chain / "cycle0", "--method", method, "--budget", budget,
            "--out", chain / "cycle1" / "labeled.npy", "--seed", "0", *flags])
        seconds.append(f"{method} {took:.1f} s" if took is not None else f"{method} FAILED")
    check.row(f"acquisition of {budget} (s, data loading included)", ", ".join(seconds))


def fig3(check, run):
    """report.py on the tree; its informativeness and AUROC files are copied to OUT."""
    tree, report_dir = run.parent.parent, check.work / "report"
    seconds, output = check.call("report.py", report_script.main,
                                 [tree, "--out", report_dir, "--data-root", check.work / "data"])
    for name in REPORT_FILES:
        if (report_dir / name).is_file():
            shutil.copy(report_dir / name, check.out / name)
    auroc = [line for line in output.splitlines() if line.startswith("AUROC")]
    check.row("AUROC (report.py)", auroc[0].split(": ", 1)[1] if auroc else f"report.py FAILED: {output[-300:]}")


# ---- (a) tests, (b) speed, (e) bf16 training -----------------------------------------------------

def cuda_tests(check):
    """The CUDA cases of tests/test_devices.py, in a fresh interpreter (pytest's own process)."""
    command = [sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-p", "no:cacheprovider", "-k", "cuda",
               "tests/test_devices.py"]
    check.say("$ " + " ".join(command[1:]))
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
        output = result.stdout + result.stderr
    except subprocess.TimeoutExpired as e:
        output = f"timed out after {e.timeout} s"
    check.log.write(output + "\n")
    lines = output.strip().splitlines()
    check.row("CUDA tests (pytest -k cuda tests/test_devices.py)", lines[-1].strip("= ") if lines else "no output")


def speed(check):
    scale = (["--labeled", "64", "--pool", "128", "--width", "4", "--batch-sizes", "32", "--repeats", "1",
              "--workers", "0"] if check.tiny else
             ["--device", "cuda", "--width", "64", "--labeled", "5000", "--pool", "45000", "--train-batch-size",
              "256", "--batch-sizes", "512", "1024", "--repeats", "2", "--workers", "8"])
    seconds, output = check.call("benchmarks/speed.py", speed_benchmark.main, [*scale, "--bf16"])
    (check.out / "speed.txt").write_text(output)
    for line in output.splitlines():
        if line.startswith(("train.py / bare", "bf16:", "speedup of train.py")):
            check.row("speed", line)
    if seconds is None:
        check.row("speed", f"FAILED: {output}")


def bf16_training(check, dataset, reference):
    run = cycle0(check, dataset, check.work / "bf16" / "seed0", "bf16", "--bf16")
    if run is None or reference is None:
        return
    changed = 100 * (np.load(run / "preds.npy")[-1] != np.load(reference / "preds.npy")[-1]).mean()
    check.row("bf16 training vs float32 training", f"{changed:.2f}% of final pool predictions differ "
              "(two trainings: compare with float32 run-to-run nondeterminism)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for the (at most 8) result files")
    p.add_argument("--data", default="cifar10", help="CIFAR-10 JPEG archive or folder, cifar10, or folder:PATH")
    p.add_argument("--budget-s", type=float, default=480, help="skip steps that would end after this")
    p.add_argument("--work", default=None, help="folder for the data and the run tree "
                   "(default: a fresh temporary folder)")
    p.add_argument("--tiny", action="store_true", help="every step on the CPU in seconds (the test suite)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work or tempfile.mkdtemp(prefix="gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    check = Check(out, work, args.budget_s, args.tiny)
    device = "cpu (--tiny)" if args.tiny else device_settings.describe_device(device_settings.resolve_device("auto"))
    check.row("device", f"{device}; torch {torch.__version__}, numpy {np.__version__}")
    dataset = dataset_spec(check, args.data)

    start = time.perf_counter()
    run = cycle0(check, dataset, check.work / "tree" / "cycle0" / "seed0", "float32")
    cycle_s = time.perf_counter() - start
    if run is not None:
        for name in ("config.json", "metrics.json"):
            shutil.copy(run / name, out / name)
        bf16_changes_on_same_weights(check, run)
        acquisitions(check, run)
        if check.fits("report", 40):
            fig3(check, run)
    if check.fits("CUDA tests", 90):
        cuda_tests(check)
    if check.fits("speed", 100):
        speed(check)
    if check.fits("bf16 cycle 0", 0.7 * cycle_s):
        bf16_training(check, dataset, run)

    table = ["| what | measured |", "| --- | --- |", *(f"| {w} | {v} |" for w, v in check.rows),
             f"| total wall time | {check.elapsed():.0f} s |"]
    (out / "summary.md").write_text("\n".join(table) + "\n")
    print("\n" + "\n".join(table))


if __name__ == "__main__":
    main()
