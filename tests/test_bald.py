"""BALD: the mutual information on crafted passes; its three variants (authors, gal,
acquisition-dropout) on a tiny model, each told apart from the others; and one real tiny training
(the network every method trains) that also serves the end-to-end checks of badge and oracle."""
import copy
import hashlib
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import run_script

import acquire
from rundata import RunData
import data
from baselines import bald
from baselines.bald import mc_dropout_sums, mutual_information, train_mode_sums
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
    again = mc_dropout_sums(model.classifier, 0.5, features, 6, seed=1, batch_size=16)
    np.testing.assert_array_equal(first[0], again[0])              # same seed, same arithmetic: exact
    assert torch.equal(state, torch.get_rng_state())               # global RNG left untouched
    # Another batch size draws the same masks (one per row, in order) but multiplies in other blocks:
    # equal up to float rounding only (24 of 120 values differed by 1.5e-7 on an Intel Xeon).
    one_batch = mc_dropout_sums(model.classifier, 0.5, features, 6, seed=1)
    np.testing.assert_allclose(first[0], one_batch[0], rtol=1e-5, atol=1e-6)
    other = mc_dropout_sums(model.classifier, 0.5, features, 6, seed=2, batch_size=16)
    assert np.abs(first[0] - other[0]).max() > 1e-3                 # other masks
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


# ---- the authors' variant: training-mode BatchNorm and the training augmentation -----------------

MEAN, STD = torch.tensor([0.4, 0.5, 0.6]), torch.tensor([0.2, 0.25, 0.3])


def prep(images):
    return data.normalize(images, MEAN, STD)


def pool_images(n=30, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, 16, 16), dtype=np.uint8))


def test_authors_variant_is_seeded_and_leaves_the_model_and_its_batchnorm_buffers_untouched():
    model, images = tiny_model(0.0), pool_images()
    saved = {name: value.clone() for name, value in model.state_dict().items()}
    rng_state = torch.get_rng_state()
    first = train_mode_sums(model, images, prep, 3, seed=1, batch_size=8)
    assert not model.training and not any(m.training for m in model.modules())
    for name, value in model.state_dict().items():       # weights, running_mean/var, num_batches_tracked
        assert torch.equal(value, saved[name]), name
    assert torch.equal(rng_state, torch.get_rng_state())  # global RNG left untouched
    again = train_mode_sums(model, images, prep, 3, seed=1, batch_size=8)
    np.testing.assert_array_equal(first[0], again[0])     # same seed, same arithmetic: exact
    np.testing.assert_array_equal(first[1], again[1])
    other = train_mode_sums(model, images, prep, 3, seed=2, batch_size=8)
    assert np.abs(first[0] - other[0]).max() > 1e-3       # other crops and flips


def test_authors_variant_runs_every_batchnorm_in_training_mode():
    model, seen = tiny_model(0.0), []
    original = torch.nn.BatchNorm2d.forward

    def record(module, x):
        seen.append(module.training)
        return original(module, x)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.nn.BatchNorm2d, "forward", record)
        train_mode_sums(model, pool_images(), prep, 2, seed=0, batch_size=8)
    bn_layers = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert len(seen) == 2 * 4 * bn_layers and all(seen)  # 2 passes x 4 batches, every layer in train mode


def test_authors_variant_ignores_running_statistics_and_depends_on_batch_size():
    """Training-mode BatchNorm normalises with each batch's statistics: the saved running statistics
    do not matter (the dropout variants, in eval mode, depend on them), the batch size does."""
    model, images = tiny_model(0.0), pool_images()
    skewed = copy.deepcopy(model)
    for m in skewed.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.fill_(3.0)
            m.running_var.fill_(9.0)
    np.testing.assert_array_equal(train_mode_sums(model, images, prep, 2, seed=0, batch_size=8)[0],
                                  train_mode_sums(skewed, images, prep, 2, seed=0, batch_size=8)[0])
    with torch.inference_mode():
        h, h_skewed = model.features(prep(images)), skewed.features(prep(images))
    assert not torch.allclose(h, h_skewed, atol=1e-3)   # eval mode (gal, acquisition-dropout) would see them
    with pytest.MonkeyPatch.context() as patch:          # same images in every batching: no augmentation
        patch.setattr(data, "random_crop_flip", lambda batch, generator: batch)
        small, large = (train_mode_sums(model, images, prep, 1, seed=0, batch_size=b)[0] for b in (4, 30))
    assert np.abs(small - large).max() > 1e-3


def test_authors_variant_batches_mix_a_pool_sorted_by_class_the_same_way_in_every_pass():
    """An image folder's pool comes sorted by class; BatchNorm on one-class batches would subtract the class
    signal. The batches are a seeded random partition instead (the authors' CIFAR order mixes the classes)."""
    images = torch.zeros(32, 3, 16, 16, dtype=torch.uint8)
    images[16:] = 255                                               # black "class" first, then white
    batches = []

    def record(batch, generator):
        batches.append(batch.amax((1, 2, 3)))                       # [B]: 0 for a black image, 255 for a white one
        return batch

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(data, "random_crop_flip", record)
        train_mode_sums(tiny_model(0.0), images, prep, 2, seed=0, batch_size=16)
    assert len(batches) == 4 and all(0 < (b == 255).sum() < 16 for b in batches)   # both kinds in every batch
    assert all(torch.equal(a, b) for a, b in zip(batches[:2], batches[2:]))         # the same batches each pass


def test_authors_variant_information_comes_from_the_augmentation_on_a_network_without_dropout():
    model, images = tiny_model(0.0), pool_images()
    augmented = mutual_information(*train_mode_sums(model, images, prep, 4, seed=0, batch_size=8), 4)
    assert augmented.min() >= 0 and augmented.max() > 1e-3
    with pytest.MonkeyPatch.context() as patch:          # without crops and flips every pass is the same
        patch.setattr(data, "random_crop_flip", lambda batch, generator: batch)
        plain = mutual_information(*train_mode_sums(model, images, prep, 4, seed=0, batch_size=8), 4)
    assert plain.max() < 1e-12


# ---- acquire(): the variants, their flags and their refusals -------------------------------------

def fake_run(model, pool=20):
    """A run of `pool` pool images (training indices 0..pool-1) with their eval-mode features."""
    images = pool_images(pool, seed=1).permute(0, 2, 3, 1).numpy()       # [N, H, W, 3] like ImageData
    with torch.inference_mode():
        features = model.features(prep(torch.from_numpy(images).permute(0, 3, 1, 2))).numpy()
    return SimpleNamespace(model=model, pool=np.arange(pool), device=torch.device("cpu"),
                           features=lambda idx: features[idx], channel_stats=(MEAN, STD),
                           dataset=SimpleNamespace(train_x=images))


def bald_scores(run, **options):
    defaults = {"bald_variant": "authors", "bald_passes": 3, "bald_batch_size": 8, "bald_dropout": None}
    return bald.acquire(run, 5, np.random.default_rng(0), SimpleNamespace(**{**defaults, **options}))[1]


FIRST_SEED = int(np.random.default_rng(0).integers(2**63 - 1))  # what acquire draws first from rng


def test_each_variant_scores_its_own_passes_and_they_differ():
    plain, with_dropout = tiny_model(0.0), tiny_model(0.25)
    run, run_dropout = fake_run(plain), fake_run(with_dropout)
    images = torch.from_numpy(run.dataset.train_x).permute(0, 3, 1, 2)
    features = torch.from_numpy(run.features(run.pool))
    features_dropout = torch.from_numpy(run_dropout.features(run_dropout.pool))
    expected = {
        ("authors", None): mutual_information(*train_mode_sums(plain, images, prep, 3, FIRST_SEED, 8), 3),
        ("acquisition-dropout", None): mutual_information(
            *mc_dropout_sums(plain.classifier, 0.5, features, 3, FIRST_SEED), 3),
        ("acquisition-dropout", 0.1): mutual_information(
            *mc_dropout_sums(plain.classifier, 0.1, features, 3, FIRST_SEED), 3),
    }
    for (variant, p), want in expected.items():
        np.testing.assert_array_equal(bald_scores(run, bald_variant=variant, bald_dropout=p), want)
    gal = mutual_information(*mc_dropout_sums(with_dropout.classifier, 0.25, features_dropout, 3, FIRST_SEED), 3)
    np.testing.assert_array_equal(bald_scores(run_dropout, bald_variant="gal"), gal)   # the trained p
    scores = list(expected.values())
    assert all(s.max() > 0 for s in scores + [gal])
    for a, b in [(scores[0], scores[1]), (scores[1], scores[2])]:
        assert not np.allclose(a, b, rtol=0.1, atol=0)       # differ by more than 10%, not by rounding


def test_acquire_refuses_bad_flags_and_variants_that_do_not_fit_the_network():
    run, run_dropout = fake_run(tiny_model(0.0)), fake_run(tiny_model(0.5))
    with pytest.raises(AcquisitionError, match="--budget: expected 1..20"):
        bald.acquire(run, 21, np.random.default_rng(0), SimpleNamespace(bald_passes=3))
    with pytest.raises(AcquisitionError, match="--bald-passes"):
        bald_scores(run, bald_passes=0)
    with pytest.raises(AcquisitionError, match="--bald-batch-size"):
        bald_scores(run, bald_batch_size=1)
    with pytest.raises(AcquisitionError, match="--bald-dropout: expected a probability in"):
        bald_scores(run, bald_variant="acquisition-dropout", bald_dropout=1.0)
    with pytest.raises(AcquisitionError, match="--bald-dropout: only for --bald-variant acquisition-dropout"):
        bald_scores(run, bald_dropout=0.3)
    with pytest.raises(AcquisitionError, match='without dropout; train every method with TRAIN_ARGS="--dropout 0.5"'):
        bald_scores(run, bald_variant="gal")
    with pytest.raises(AcquisitionError, match="trained with dropout 0.5; use --bald-variant gal"):
        bald_scores(run_dropout, bald_variant="acquisition-dropout")


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

    run = RunData(trained)
    weights = hashlib.sha256((trained / "model.pt").read_bytes()).hexdigest()
    selected = select("a.npy")
    assert len(set(selected.tolist())) == 5 and set(selected.tolist()) <= set(run.pool.tolist())
    np.testing.assert_array_equal(selected, select("b.npy"))        # same seed, same picks
    if method == "bald":
        scores = np.load(tmp_path / "a_scores.npy")
        assert scores.shape == (24,) and scores.min() >= 0 and scores.max() > 0
        select("c.npy", "--seed", "1")                               # other crops and flips
        assert not np.array_equal(scores, np.load(tmp_path / "c_scores.npy"))
        select("d.npy", "--bald-variant", "acquisition-dropout")     # other passes, other scores
        assert np.abs(scores - np.load(tmp_path / "d_scores.npy")).max() > 1e-4
    assert hashlib.sha256((trained / "model.pt").read_bytes()).hexdigest() == weights   # model.pt untouched
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
    result = run_script("acquire.py", "--run", trained, "--method", "bald", "--bald-variant", "gal",
                        "--budget", "5", "--out", tmp_path / "g.npy", "--device", "cpu", check=False)
    assert result.returncode == 2 and 'TRAIN_ARGS="--dropout 0.5"' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "g.npy").exists()
