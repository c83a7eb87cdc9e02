"""VAAL on tiny images: the official architecture and [-1, 1] input scale, the discriminator's
targets (unlabeled = 0), seeded reproducible scores, and the acquire.py path with a narrow VAE,
also on image sizes that are not multiples of 16."""
import numpy as np
import pytest
import torch
from conftest import make_image_folder
from test_kcenter import untrained_run

import acquire
from baselines.common import AcquisitionError
from baselines.vaal import (
    adversarial_loss,
    batches,
    build_discriminator,
    build_vae,
    train_step,
    vaal_input,
    vaal_scores,
    vae_forward,
)
from rundata import RunData


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions: one thread is faster, and far faster on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_official_architecture_for_32x32_and_16x16():
    vae = build_vae(32)
    convs = [m for m in vae["encoder"] if isinstance(m, torch.nn.Conv2d)]
    deconvs = [m for m in vae["decoder"] if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(c, (4, 4), (2, 2))
                                                                          for c in (128, 256, 512, 1024)]
    assert [c.out_channels for c in deconvs] == [512, 256, 128, 3]
    assert vae["mu"].in_features == 1024 * 2 * 2 and vae["mu"].out_features == 32
    assert vae["decoder"][0].out_features == 1024 * 4 * 4
    assert [m.out_features for m in build_discriminator() if isinstance(m, torch.nn.Linear)] == [512] * 4 + [1]
    for size, shape in ((16, (16, 16)), (32, (32, 32)), ((16, 32), (16, 32))):
        recon, mu, logvar = vae_forward(build_vae(size, width=4), torch.rand(2, 3, *shape))
        assert recon.shape == (2, 3, *shape) and mu.shape == logvar.shape == (2, 32)


def test_input_is_scaled_to_minus_one_one_like_the_official_normalize():
    images = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 16, 16, 3)
    x = vaal_input(images)                                                # (x/255 - 0.5)/0.5
    assert x.shape == (2, 3, 16, 16)
    assert torch.all(x[0] == -1) and torch.all(x[1] == 1)
    batch = next(batches(images.contiguous(), 2))                         # training batches too
    assert batch.min() == -1 and batch.max() == 1


@pytest.mark.parametrize("shape, resized", [((24, 24), (32, 32)), ((28, 28), (32, 32)), ((20, 36), (32, 48)),
                                            ((32, 32), (32, 32))])
def test_input_sides_are_resized_up_to_multiples_of_16(shape, resized):
    images = torch.randint(0, 256, (2, *shape, 3), dtype=torch.uint8)
    x = vaal_input(images)
    assert x.shape == (2, 3, *resized) and x.min() >= -1 and x.max() <= 1


def test_adversarial_targets():
    sure_labeled, sure_unlabeled = torch.tensor([[0.99]]), torch.tensor([[0.01]])
    assert adversarial_loss(sure_labeled, sure_unlabeled, unlabeled_target=0) < 0.05   # discriminator right
    assert adversarial_loss(sure_labeled, sure_unlabeled, unlabeled_target=1) > 4      # VAE caught out


def striped(n, vertical, seed):
    """[n, 16, 16, 3] uint8: a bright half and a dark half (left/right or top/bottom), plus noise."""
    rng = np.random.default_rng(seed)
    images = np.full((n, 16, 16, 3), 30.0)
    images[:, :, :8] = 220
    images = images.transpose(0, 2, 1, 3) if vertical else images
    return torch.from_numpy(np.clip(images + rng.normal(0, 20, images.shape), 0, 255).astype(np.uint8))


def test_discriminator_learns_unlabeled_as_zero():
    torch.manual_seed(0)
    vae, disc = build_vae(16, width=4), build_discriminator()
    frozen = torch.optim.SGD(vae.parameters(), lr=0.0)                   # fixed latents: only D learns
    opt_disc = torch.optim.Adam(disc.parameters(), lr=5e-4)
    labeled, unlabeled = batches(striped(16, False, 0), 8), batches(striped(16, True, 1), 8)
    for _ in range(30):
        train_step(vae, disc, frozen, opt_disc, labeled, unlabeled)
    with torch.no_grad():
        d_labeled = disc(vae_forward(vae, next(labeled))[1]).mean()
        d_unlabeled = disc(vae_forward(vae, next(unlabeled))[1]).mean()
    assert d_labeled > 0.8 and d_unlabeled < 0.2


def test_scores_are_seeded_and_leave_the_global_generator_alone():
    rng = np.random.default_rng(0)
    labeled, pool = (rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8) for n in (6, 10))
    state = torch.get_rng_state()
    first = vaal_scores(labeled, pool, 1, 4, seed=5, width=4)
    assert torch.equal(state, torch.get_rng_state())
    assert first.shape == (10,) and np.all((first >= 0) & (first <= 1))
    np.testing.assert_array_equal(first, vaal_scores(labeled, pool, 1, 4, seed=5, width=4))
    assert not np.array_equal(first, vaal_scores(labeled, pool, 1, 4, seed=6, width=4))


@pytest.mark.parametrize("shape, labeled, message", [((20, 20, 1), 4, "RGB"),
                                                     ((16, 16, 3), 1, "2\\+ labeled")])
def test_rejects_images_it_cannot_train_on(shape, labeled, message):
    with pytest.raises(AcquisitionError, match=message):
        vaal_scores(np.zeros((labeled, *shape), np.uint8), np.zeros((5, *shape), np.uint8), 1, 4, seed=0, width=4)


def test_acquire_cli(image_folder, tmp_path):
    run_dir = untrained_run(tmp_path / "run", image_folder)
    flags = ["--run", str(run_dir), "--method", "vaal", "--device", "cpu", "--vaal-epochs", "1",
             "--vaal-batch-size", "8", "--vaal-width", "4"]
    for name in ("a", "b"):
        acquire.main([*flags, "--budget", "5", "--out", str(tmp_path / f"{name}.npy")])
    selected, scores = np.load(tmp_path / "a_selected.npy"), np.load(tmp_path / "a_scores.npy")
    run = RunData(run_dir)
    assert len(set(selected.tolist())) == 5 and set(selected.tolist()) <= set(run.pool.tolist())
    assert scores.shape == (24,)
    np.testing.assert_array_equal(selected, np.load(tmp_path / "b_selected.npy"))   # same seed, same picks
    with pytest.raises(AcquisitionError, match="--budget: expected 1..24"):
        acquire.main([*flags, "--budget", "25", "--out", str(tmp_path / "c.npy")])


def test_scores_on_a_size_that_is_not_square():
    rng = np.random.default_rng(0)
    labeled, pool = (rng.integers(0, 256, (n, 20, 36, 3), dtype=np.uint8) for n in (4, 6))
    scores = vaal_scores(labeled, pool, 1, 4, seed=0, width=4)
    assert scores.shape == (6,) and np.all(np.isfinite(scores))


@pytest.mark.parametrize("size", [24, 28])
def test_acquire_cli_on_sides_that_are_not_multiples_of_16(tmp_path, size):
    folder = make_image_folder(tmp_path / f"tiny{size}", size=size)
    run_dir = untrained_run(tmp_path / "run", folder)
    acquire.main(["--run", str(run_dir), "--method", "vaal", "--device", "cpu", "--vaal-epochs", "1",
                  "--vaal-batch-size", "8", "--vaal-width", "4", "--budget", "5", "--out", str(tmp_path / "a.npy")])
    selected, scores = np.load(tmp_path / "a_selected.npy"), np.load(tmp_path / "a_scores.npy")
    run = RunData(run_dir)
    assert run.dataset.train_x.shape[1:] == (size, size, 3)
    assert len(set(selected.tolist())) == 5 and set(selected.tolist()) <= set(run.pool.tolist())
    assert scores.shape == (len(run.pool),) and np.all(np.isfinite(scores))
