"""VAAL (Sinha, Ebrahimi, Darrell, "Variational Adversarial Active Learning", ICCV 2019).

A VAE learns a latent space from labeled and unlabeled images while a discriminator learns to
tell labeled latents from unlabeled ones, and the VAE is also trained to fool it. The pool
samples the discriminator deems least likely to be labeled are queried. With μ, log σ² the
encoder's outputs, x̂ the reconstruction, D the discriminator (the paper's method section, with
the losses as the official code computes them):

    L_VAE = Σ_{x in {x_L, x_U}} [ MSE(x̂, x) + β KL(N(μ, σ²) || N(0, I)) ]
            + λ [ BCE(D(μ_L), 1) + BCE(D(μ_U), 1) ]            the VAE: "everything is labeled"
    L_D   = BCE(D(μ_L), 1) + BCE(D(μ_U), 0)                    the discriminator: unlabeled = 0
    score(x) = 1 - D(μ(x))                                      higher = query first

All settings follow the official code (github.com/sinhasam/vaal: model.py, solver.py,
arguments.py, main.py): latent size 32; β = 1; λ (adversary_param) = 1; Adam, lr 5e-4, for both
networks; per iteration 2 VAE steps, each on a new batch pair, then 1 discriminator step on the
last pair; batch 128 (--vaal-batch-size); iterations = epochs x N // batch, 100 epochs
(--vaal-epochs), N = labeled + pool (the official code's N is the whole training set, 50,000
for CIFAR, which is labeled + pool there too); MSE averaged over pixels, KL summed over the
batch; the discriminator judges μ, not a sampled z; images scaled to [-1, 1] as (x/255 - 0.5)/0.5,
with random horizontal flips (its CIFAR transforms: RandomHorizontalFlip, ToTensor,
Normalize([0.5]*3, [0.5]*3); not data.py's; only the repository's first commit fed [0, 1]
images); the reconstruction target is that same [-1, 1] image (MSE; the decoder ends in a
transposed conv, no sigmoid); Kaiming-normal weights for the Conv2d and Linear layers its
weight_init reaches (the μ and log σ² heads and the transposed convolutions keep PyTorch's
defaults, as its init loop skips them).

Architecture (model.py) for S x S images (32 for CIFAR): encoder 4 x [conv 4x4 stride 2 with 128,
256, 512, 1024 channels (--vaal-width sets the first), BatchNorm, ReLU] -> linear μ and log σ²
heads (32) from 1024 (S/16)^2 values; decoder linear to 1024 x (S/8)^2 -> 3 x [transposed conv
4x4 stride 2 to 512, 256, 128 channels, BatchNorm, ReLU] -> 1x1 transposed conv to 3 channels;
discriminator MLP 32 -> 512 -> 512 -> 512 -> 512 -> 1, ReLU, sigmoid. H x W images work alike,
(H/16)(W/16) for (S/16)^2, but the sides must be multiples of 16 (4 stride-2 convs).

Other image sizes (the official VAE is built for 32x32 only): an H x W image whose H or W is not a
multiple of 16 is resized up (bilinear) to the next multiples, e.g. 24x24 and 28x28 -> 32x32,
before the VAE and discriminator see it (vaal_input); 16x16 and 32x32 go in unchanged. Resizing
rather than zero-padding keeps the MSE a mean over image content, not diluted by a constant
border the VAE reconstructs for free; the scores stay one per pool image.

Deliberate differences: the official loop also trains its VGG task model; the task model here is
train.py's, so VAAL's is left out (its sampling never reads it). It scores the pool in train mode
(BatchNorm on batch statistics) on flipped images; here in eval mode on unflipped images, so a
score does not depend on its batch. Ties go to a random sample (common.top_k).
Cost: a 32x32 image's forward pass is 0.51 GMAC at width 128 (0.03 at width 32), and an
iteration costs about 14 forward passes of a batch (1.8 TFLOP at batch 128): tens of CPU hours at
the default 100 epochs even for the quick preset, whose CPU runs should pass fewer, e.g.
ACQUIRE_ARGS="--vaal-epochs 1 --vaal-width 32" (measured times: README). Such a VAAL is not the
paper's: report.py names it "vaal [1 epoch]" in every table (from acquire.py's record of its
flags, or report.py --vaal-epochs for trees without one).
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.common import AcquisitionError, check_budget, top_k

LATENT, BETA, ADVERSARY, LR, VAE_STEPS = 32, 1.0, 1.0, 5e-4, 2  # official code (arguments.py)


def input_shape(height, width):
    """The side lengths VAAL's networks see: each rounded up to a multiple of 16 (4 stride-2 convs)."""
    return -(-height // 16) * 16, -(-width // 16) * 16


def vaal_input(images):
    """[B, H, W, 3] uint8 -> [B, 3, H', W'] float32 (x/255 - 0.5)/0.5 in [-1, 1], the official
    Normalize([0.5]*3, [0.5]*3); bilinearly resized up to (H', W') = input_shape(H, W) if that differs."""
    x = images.permute(0, 3, 1, 2).float().div(255).sub(0.5).div(0.5)
    shape = input_shape(*images.shape[1:3])
    if tuple(x.shape[2:]) != shape:
        x = F.interpolate(x, size=shape, mode="bilinear", align_corners=False)
    return x


def build_vae(size, width=128, latent=LATENT):
    """The official VAE for [B, 3, S, S] images (size = S) or [B, 3, H, W] ones (size = (H, W)),
    sides multiples of 16: encoder, μ and log σ² heads, decoder.

    width: channels of the first conv, doubled per stage (128 ... 1024 in the official model)."""
    h, v = (size, size) if isinstance(size, int) else size
    w, top, flat = width, 8 * width, 8 * width * (h // 16) * (v // 16)
    layers, c_in = [], 3
    for c in (w, 2 * w, 4 * w, top):
        layers += [nn.Conv2d(c_in, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
        c_in = c
    encoder = nn.Sequential(*layers, nn.Flatten())                          # [B, 1024 (H/16)(W/16)]
    layers = [nn.Linear(latent, top * (h // 8) * (v // 8)), nn.Unflatten(1, (top, h // 8, v // 8))]
    for c_in, c in ((top, 4 * w), (4 * w, 2 * w), (2 * w, w)):
        layers += [nn.ConvTranspose2d(c_in, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
    decoder = nn.Sequential(*layers, nn.ConvTranspose2d(w, 3, 1))           # [B, 3, H, W], no sigmoid
    kaiming_init(encoder, decoder)
    return nn.ModuleDict(dict(encoder=encoder, mu=nn.Linear(flat, latent), logvar=nn.Linear(flat, latent),
                              decoder=decoder))


def vae_forward(vae, x):
    """x: [B, 3, H, W] -> (reconstruction [B, 3, H, W], μ [B, latent], log σ² [B, latent])."""
    h = vae["encoder"](x)
    mu, logvar = vae["mu"](h), vae["logvar"](h)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()                    # reparameterisation
    return vae["decoder"](z), mu, logvar


def build_discriminator(latent=LATENT):
    """MLP latent -> 512 -> 512 -> 512 -> 512 -> 1, ReLU, sigmoid: the probability of "labeled"."""
    hidden = [m for _ in range(3) for m in (nn.Linear(512, 512), nn.ReLU())]
    net = nn.Sequential(nn.Linear(latent, 512), nn.ReLU(), *hidden, nn.Linear(512, 1), nn.Sigmoid())
    kaiming_init(net)
    return net


def kaiming_init(*modules):
    """Kaiming-normal weights and zero biases for Conv2d and Linear layers (official weight_init)."""
    for module in modules:
        for m in module.modules():
            if type(m) in (nn.Conv2d, nn.Linear):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


def vae_loss(x, recon, mu, logvar):
    """Pixel-averaged MSE + β KL(q(z|x) || N(0, I)), the KL summed over the batch (solver.py)."""
    kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum()
    return F.mse_loss(recon, x) + BETA * kl


def adversarial_loss(d_labeled, d_unlabeled, unlabeled_target):
    """BCE with target 1 for labeled latents and `unlabeled_target` for unlabeled ones: 0 in the
    discriminator step, 1 in the VAE step (the VAE tries to pass everything off as labeled)."""
    return (F.binary_cross_entropy(d_labeled, d_labeled.new_ones(d_labeled.shape))
            + F.binary_cross_entropy(d_unlabeled, d_unlabeled.new_full(d_unlabeled.shape, float(unlabeled_target))))


def batches(images, batch_size):
    """Endless random batches of [N, H, W, 3] uint8 images as vaal_input's [B, 3, H', W'] floats in
    [-1, 1], with random horizontal flips; reshuffled each pass, the short last batch of a pass dropped."""
    n = len(images)
    size = min(batch_size, n)
    while True:
        order = torch.randperm(n, device=images.device)
        for start in range(0, n - size + 1, size):
            x = vaal_input(images[order[start:start + size]])              # [B, 3, H', W']
            flip = torch.rand(size, device=x.device) < 0.5
            yield torch.where(flip[:, None, None, None], x.flip(3), x)


def train_step(vae, disc, opt_vae, opt_disc, labeled, unlabeled):
    """One official iteration: 2 VAE steps on new batch pairs, 1 discriminator step on the last."""
    for _ in range(VAE_STEPS):
        x_l, x_u = next(labeled), next(unlabeled)
        recon_l, mu_l, logvar_l = vae_forward(vae, x_l)
        recon_u, mu_u, logvar_u = vae_forward(vae, x_u)
        loss = (vae_loss(x_l, recon_l, mu_l, logvar_l) + vae_loss(x_u, recon_u, mu_u, logvar_u)
                + ADVERSARY * adversarial_loss(disc(mu_l), disc(mu_u), unlabeled_target=1))
        opt_vae.zero_grad()
        loss.backward()
        opt_vae.step()
    with torch.no_grad():
        mu_l, mu_u = vae_forward(vae, x_l)[1], vae_forward(vae, x_u)[1]
    loss = adversarial_loss(disc(mu_l), disc(mu_u), unlabeled_target=0)
    opt_disc.zero_grad()
    loss.backward()
    opt_disc.step()


def vaal_scores(labeled_images, pool_images, epochs, batch_size, seed, device="cpu", width=128):
    """labeled [L, H, W, 3], pool [P, H, W, 3] uint8 images of any one size -> [P] scores 1 - D(μ(x)),
    float64. Images go in through vaal_input: [-1, 1], sides resized up to multiples of 16.

    Training draws from torch's generator seeded with `seed` (forked: the caller's is untouched),
    so a seed gives the same scores again on the same machine."""
    shape = pool_images.shape[1:]
    if (len(shape) != 3 or shape[2] != 3 or labeled_images.shape[1:] != shape
            or min(len(labeled_images), len(pool_images)) < 2):
        raise AcquisitionError(f"vaal: needs 2+ labeled and pool images, RGB [H, W, 3] of one size; got "
                               f"{len(labeled_images)} labeled of shape {labeled_images.shape[1:]}, "
                               f"{len(pool_images)} in the pool of shape {shape}")
    device = torch.device(device)
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        labeled = torch.from_numpy(np.ascontiguousarray(labeled_images)).to(device)  # [L, H, W, 3] uint8
        pool = torch.from_numpy(np.ascontiguousarray(pool_images)).to(device)        # [P, H, W, 3] uint8
        vae = build_vae(input_shape(*shape[:2]), width).to(device)
        disc = build_discriminator().to(device)
        opt_vae, opt_disc = torch.optim.Adam(vae.parameters(), lr=LR), torch.optim.Adam(disc.parameters(), lr=LR)
        stream_l, stream_u = batches(labeled, batch_size), batches(pool, batch_size)
        for _ in range(max(1, epochs * (len(labeled) + len(pool)) // batch_size)):  # official: epochs x N // batch
            train_step(vae, disc, opt_vae, opt_disc, stream_l, stream_u)
        vae.eval()
        disc.eval()
        with torch.inference_mode():                                   # unflipped images, BatchNorm in eval mode
            d = [disc(vae["mu"](vae["encoder"](vaal_input(pool[s:s + 512]))))
                 for s in range(0, len(pool), 512)]                     # [P, 1] in chunks
    return 1 - torch.cat(d).flatten().double().cpu().numpy()


def add_arguments(parser):
    group = parser.add_argument_group("vaal")
    group.add_argument("--vaal-epochs", type=int, default=100,
                       help="training length: epochs x (labeled + pool) / batch iterations (100: official code; "
                            "hours on a CPU, so the quick preset passes fewer via ACQUIRE_ARGS)")
    group.add_argument("--vaal-batch-size", type=int, default=128,
                       help="VAE and discriminator batch (128: official code)")
    group.add_argument("--vaal-width", type=int, default=128,
                       help="channels of the VAE's first conv, doubled per stage (128: official code)")


def acquire(run, budget, rng, options):
    check_budget(budget, len(run.pool))
    if min(options.vaal_epochs, options.vaal_batch_size, options.vaal_width) < 1:
        raise AcquisitionError("--vaal-epochs, --vaal-batch-size and --vaal-width must be at least 1")
    images = run.dataset.train_x                                          # [N, H, W, 3] uint8
    scores = vaal_scores(images[run.labeled], images[run.pool], options.vaal_epochs, options.vaal_batch_size,
                         int(rng.integers(2 ** 63)), run.device, options.vaal_width)
    return top_k(scores, budget, rng), scores
