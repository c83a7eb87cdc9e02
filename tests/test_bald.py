"""BALD: the mutual information on crafted passes, MC dropout on a tiny model, and one real tiny
training (the network every method trains) that also serves the end-to-end checks of badge and oracle."""
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import run_script

import acquire
from baselines import bald
from baselines.bald import mc_dropout_sums, mutual_information
from baselines.common import AcquisitionError, entropy
from models import build_model


def mi_of_passes(per_pass):
    """per_pass: [T, P, C] -> BALD through the running sums bald.py keeps."""
    per_pass = np.asarray(per_pass, dtype=np.float64)
    return mutual_information(per_pass.sum(0), entropy(per_pass).sum(0), len(per_pass))


def test_disagreeing_passes_rank_above_agreeing_ones():
    per_pass = np.array([[[1.0, 0.0], [0.5, 0.5], [0.9, 0.1]],     # pass 1
                         [[0.0, 1.0], [0.5, 0.5], [0.9, 0.1]]])    # pass 2
    mi = mi_of_passes(per_pass)
    # sample 0: passes disagree completely -> log 2 (and no NaN from 0 log 0); sample 1: both
    # passes unsure but agreeing -> 0, although its entropy is the highest; sample 2: agree -> 0
    np.testing.assert_allclose(mi, [np.log(2), 0, 0], atol=1e-12)
    assert np.all(mi >= 0)


def test_mutual_information_matches_the_formula_and_is_never_negative():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (7, 50, 5))
    per_pass = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)   # [T, P, C]
    mean = per_pass.mean(0)
    expected = -(mean * np.log(mean)).sum(1) + (per_pass * np.log(per_pass)).sum(2).mean(0)
    np.testing.assert_allclose(mi_of_passes(per_pass), expected, rtol=1e-10)
    identical = np.repeat(per_pass[:1], 7, axis=0)                        # all passes agree
    mi = mi_of_passes(identical)
    assert np.all(mi >= 0) and mi.max() < 1e-12


def tiny_model(dropout, seed=0):
    torch.manual_seed(seed)
    return build_model(3, width=4, dropout=dropout).eval()


def test_no_dropout_gives_zero_information():
    model, features = tiny_model(0.0), torch.rand(40, 32)
    mi = mutual_information(*mc_dropout_sums(model.classifier, 0.0, features, 5, seed=0), 5)
    assert mi.max() < 1e-12


def test_dropout_passes_are_seeded_and_leave_the_model_in_eval_mode():
    model, features = tiny_model(0.0), torch.rand(40, 32) * 4
    training = []
    model.classifier.register_forward_pre_hook(
        lambda module, inputs: training.append({n for n, m in model.named_modules() if m.training}))
    first = mc_dropout_sums(model.classifier, 0.5, features, 6, seed=1, batch_size=16)
    assert training and all(t == set() for t in training)          # nothing in train mode: no BatchNorm noise
    state = torch.get_rng_state()
    np.testing.assert_array_equal(first[0], mc_dropout_sums(model.classifier, 0.5, features, 6, seed=1)[0])
    assert torch.equal(state, torch.get_rng_state())               # global RNG left untouched
    other = mc_dropout_sums(model.classifier, 0.5, features, 6, seed=2)
    assert not np.array_equal(first[0], other[0])
    assert mutual_information(*first, 6).min() >= 0 and mutual_information(*first, 6).max() > 0


def test_features_once_equals_full_stochastic_forward_passes():
    """The shortcut is exact: same masks -> same probabilities as T full forward passes."""
    model, images, passes = tiny_model(0.5), torch.rand(10, 3, 16, 16), 4
    with torch.inference_mode():
        features = model.features(images)
    prob_sum, entropy_sum = mc_dropout_sums(model.classifier, 0.5, features, passes, seed=3)
    model.dropout.train()
    with torch.inference_mode(), torch.random.fork_rng():
        torch.manual_seed(3)
        full = torch.stack([model(images).double().softmax(1) for _ in range(passes)])   # [T, P, C]
    model.eval()
    np.testing.assert_allclose(prob_sum, full.sum(0).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(entropy_sum, entropy(full.numpy()).sum(0), rtol=1e-5, atol=1e-6)


def fake_run(model, pool=20):
    features = torch.rand(pool, 32).numpy()
    return SimpleNamespace(model=model, pool=np.arange(pool), device=torch.device("cpu"),
                           features=lambda idx: features[idx])


def bald_scores(run, **options):
    options = SimpleNamespace(**{"bald_passes": 3, "bald_dropout": None, **options})
    return bald.acquire(run, 5, np.random.default_rng(0), options)[1]


def test_dropout_rate_comes_from_the_flag_then_the_trained_network_then_one_half():
    """A network trained without dropout (every method's) gets masks of p = 0.5 at acquisition."""
    plain, trained_with_dropout = tiny_model(0.0), tiny_model(0.25)
    run = fake_run(plain)
    features = torch.from_numpy(run.features(run.pool))
    seed = int(np.random.default_rng(0).integers(2**63 - 1))  # what acquire draws first from rng
    for model, flag, p in [(plain, None, 0.5), (trained_with_dropout, None, 0.25), (plain, 0.1, 0.1)]:
        expected = mutual_information(*mc_dropout_sums(model.classifier, p, features, 3, seed), 3)
        got = bald_scores(SimpleNamespace(**{**vars(run), "model": model}), bald_dropout=flag)
        np.testing.assert_array_equal(got, expected)
    assert bald_scores(run).max() > 0


def test_acquire_refuses_bad_flags():
    run = fake_run(tiny_model(0.0))
    with pytest.raises(AcquisitionError, match="--budget: expected 1..20"):
        bald.acquire(run, 21, np.random.default_rng(0), SimpleNamespace(bald_passes=3, bald_dropout=None))
    with pytest.raises(AcquisitionError, match="--bald-passes"):
        bald_scores(run, bald_passes=0)
    with pytest.raises(AcquisitionError, match="--bald-dropout: expected a probability in"):
        bald_scores(run, bald_dropout=1.0)


@pytest.fixture(scope="module")
def trained(split, tmp_path_factory):
    """A real 2-epoch, width-4 run of the network every method trains: 24 pool samples of 3 classes."""
    out = tmp_path_factory.mktemp("bald_run") / "run"
    run_script("train.py", "--dataset", split["dataset"], "--data-root", split["root"] / "cache",
               "--labeled", split["root"] / "labeled.npy", "--universe", split["root"] / "universe.npy", "--out", out,
               "--epochs", "2", "--width", "4", "--batch-size", "8")
    return out


@pytest.mark.parametrize("method", ["bald", "badge", "oracle"])
def test_model_based_methods_end_to_end(trained, tmp_path, method):
    def select(name, *extra):
        acquire.main(["--run", str(trained), "--method", method, "--budget", "5", "--out",
                      str(tmp_path / name), "--device", "cpu", *extra])
        return np.load(tmp_path / name.replace(".npy", "_selected.npy"))

    run = acquire.RunData(trained)
    selected = select("a.npy")
    assert len(set(selected.tolist())) == 5 and set(selected.tolist()) <= set(run.pool.tolist())
    np.testing.assert_array_equal(selected, select("b.npy"))        # same seed, same picks
    if method == "bald":
        scores = np.load(tmp_path / "a_scores.npy")
        assert scores.shape == (24,) and scores.min() >= 0 and scores.max() > 0
        select("c.npy", "--seed", "1")                               # other dropout masks
        assert not np.array_equal(scores, np.load(tmp_path / "c_scores.npy"))
    if method == "oracle":
        wrong = run.pool[run.probs.argmax(1) != run.dataset.train_y[run.pool]]
        assert set(selected.tolist()) <= set(wrong.tolist()) if len(wrong) >= 5 else set(wrong) <= set(selected)


def test_bald_cli_errors(trained, tmp_path):
    broken = tmp_path / "run"
    shutil.copytree(trained, broken)
    (broken / "model.pt").unlink()
    result = run_script("acquire.py", "--run", broken, "--method", "bald", "--budget", "5",
                        "--out", tmp_path / "n.npy", check=False)
    assert result.returncode == 2 and "model.pt: file not found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "n.npy").exists()
