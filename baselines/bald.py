"""BALD: Bayesian Active Learning by Disagreement (Houlsby, Huszar, Ghahramani and Lengyel,
arXiv:1112.5745, 2011), the label-dispersion paper's baseline "BALD [10]" (section 4.1), in three
variants that differ only in what a stochastic pass is (--bald-variant).

With p_t(x) the softmax of stochastic pass t = 1..T over pool sample x and H[p] = -sum_c p_c log p_c
(nats):

    BALD(x) = H[(1/T) sum_t p_t(x)] - (1/T) sum_t H[p_t(x)]      mutual information between the
                                                                 label and the randomness; >= 0
Highest first. Only two running sums are kept, sum_t p_t [P, C] and sum_t H[p_t] [P], in float64,
so memory does not grow with T. H uses 0 log 0 = 0; the difference is clipped at 0 (rounding only).

The variants (every method of a comparison trains the same network; only the acquisition differs):

  authors (default): what produced the paper's BALD column. The first author's code
    (github.com/Javadzb/Class-Balanced-AL, bayesian_active_learning_disagreement_dropout.py and
    Strategy.predict_prob_dropout_split) trains a ResNet-18 without a dropout layer, then for each
    pass puts the whole network in training mode and predicts the pool through the training
    augmentation: BatchNorm normalises each pool batch with that batch's own statistics, and every
    image gets a fresh random crop and flip (data.random_crop_flip). The randomness is therefore
    the batch statistics and the augmentation, not dropout. Here this runs on a copy of the
    trained model: model.pt, the loaded model and its BatchNorm running statistics are never
    changed. Pool batches are a seeded random partition of the pool, the same in every pass, of
    --bald-batch-size images (256, the authors' loader_te_args for CIFAR); the batch size and the
    batches' make-up change the scores, since BatchNorm sees each batch's statistics (the authors'
    batches followed CIFAR's own order, which mixes the classes: train_mode_sums). On a network
    trained with dropout (TRAIN_ARGS="--dropout 0.5") the training mode turns that dropout on too,
    as the authors' code would.
  gal: Gal, Islam and Ghahramani, "Deep Bayesian Active Learning with Image Data", ICML 2017,
    section 3: MC dropout on a network *trained with the same dropout*, so the passes sample its
    approximate posterior. Needs every method of the comparison trained with
    TRAIN_ARGS="--dropout 0.5" (models.ResNet18's dropout before the classifier; Gal & Islam's code,
    github.com/Riashat/Deep-Bayesian-Active-Learning, Dropout_Bald_Q10_N1000_Paper.py, has
    Dropout(0.5) before the last dense layer); the passes use the trained p. Refused on a network
    trained without dropout.
  acquisition-dropout: dropout (--bald-dropout, 0.5) before the classifier at acquisition time
    only, on a network trained without it; this project's default before issue 31. Its masks
    perturb a network that never learnt to work under them, so its passes are no posterior sample.

Exact shortcut of gal and acquisition-dropout: the dropout site is between the pooled features h(x)
and the linear classifier, and the trunk stays in eval mode (BatchNorm on its running statistics),
so h(x) is the same in every pass; computing h once and redrawing only the mask per pass gives
exactly the distribution of T full stochastic forward passes.

T = 10 passes (--bald-passes): the authors' code (n_drop = 10, as BADGE's code). Gal & Islam's code
uses 100 (dropout_iterations); this project used 20 before issue 31.
Seeded: the crops, flips and dropout masks come from torch generators seeded from `rng`
(acquire.py --seed); torch's global random state is left as it was.
"""
import copy

import numpy as np
import torch
import torch.nn.functional as F

import data
from baselines.common import AcquisitionError, check_budget, entropy, top_k

VARIANTS = ("authors", "gal", "acquisition-dropout")
ACQUISITION_DROPOUT = 0.5  # Gal & Islam's Dropout(0.5) before the last layer
AUTHORS_BATCH_SIZE = 256   # the authors' loader_te_args batch size for CIFAR-10/100


def mutual_information(prob_sum, entropy_sum, passes):
    """BALD from running sums over `passes` passes: prob_sum [P, C], entropy_sum [P] -> [P] >= 0."""
    mean_probs = np.asarray(prob_sum, dtype=np.float64) / passes        # [P, C]
    mean_entropy = np.asarray(entropy_sum, dtype=np.float64) / passes   # [P]
    return np.maximum(entropy(mean_probs) - mean_entropy, 0.0)         # clip rounding below 0


class RunningSums:
    """sum_t p_t [P, C] and sum_t H[p_t] [P] in float64, filled batch by batch."""

    def __init__(self, pool_size, num_classes, device):
        import torch

        self.probs = torch.zeros(pool_size, num_classes, dtype=torch.float64, device=device)
        self.entropy = torch.zeros(pool_size, dtype=torch.float64, device=device)

    def add(self, rows, logits):
        """rows: the batch's pool positions (a slice or an index tensor of distinct positions)."""
        import torch

        p_t = logits.double().softmax(1)                                              # [B, C]
        self.probs[rows] += p_t
        self.entropy[rows] -= torch.special.xlogy(p_t, p_t).sum(1)

    def numpy(self):
        return self.probs.cpu().numpy(), self.entropy.cpu().numpy()


def mc_dropout_sums(classifier, p, features, passes, seed, batch_size=4096):
    """gal and acquisition-dropout: T passes of dropout(p) + classifier over fixed features [P, D]
    (a tensor on the classifier's device) -> (sum_t p_t [P, C], sum_t H[p_t] [P]), float64 numpy."""
    sums = RunningSums(len(features), classifier.out_features, features.device)
    devices = [features.device] if features.device.type == "cuda" else []
    with torch.inference_mode(), torch.random.fork_rng(devices=devices):  # global RNG untouched
        torch.manual_seed(seed)
        for _ in range(passes):
            for start in range(0, len(features), batch_size):
                h = features[start:start + batch_size]                                  # [B, D]
                sums.add(slice(start, start + len(h)), classifier(F.dropout(h, p, training=True)))
    return sums.numpy()


def train_mode_sums(model, images, prep, passes, seed, batch_size=AUTHORS_BATCH_SIZE):
    """authors: T passes of a training-mode copy of `model` over pool images [P, 3, H, W] uint8 (on
    the model's device), each batch randomly cropped and flipped, then prep'd (normalised) ->
    (sum_t p_t [P, C], sum_t H[p_t] [P]), float64 numpy. `model` itself is not touched.

    The batches are one seeded random partition of the pool, the same in every pass. The authors'
    loader kept CIFAR's own order, which mixes the classes; a pool in index order of an image
    folder (sorted by class) would give one-class batches, whose statistics BatchNorm would
    subtract with the class signal (measured on the quick preset's cycle 0: the passes' mean
    prediction fell from 38.4% to 15.0% right, results/cifar10-jpeg-quick/bald-variants).
    """
    net = copy.deepcopy(model).train()  # BatchNorm on batch statistics; the copy's buffers drift, unused
    sums = RunningSums(len(images), net.classifier.out_features, images.device)
    devices = [images.device] if images.device.type == "cuda" else []
    with torch.inference_mode(), torch.random.fork_rng(devices=devices):  # dropout masks, if any
        torch.manual_seed(seed)
        augment = torch.Generator(images.device).manual_seed(seed)         # batches, crops and flips
        order = torch.randperm(len(images), generator=augment, device=images.device)
        for _ in range(passes):
            for start in range(0, len(images), batch_size):
                rows = order[start:start + batch_size]                     # [B] pool positions
                sums.add(rows, net(prep(data.random_crop_flip(images[rows], augment))))
    return sums.numpy()


def add_arguments(parser):
    group = parser.add_argument_group("bald")
    group.add_argument("--bald-variant", choices=VARIANTS, default="authors",
                       help="what a stochastic pass is. authors (default; the authors' code, the paper's "
                            "numbers): the trained network in training mode (BatchNorm on batch statistics) "
                            "on randomly cropped and flipped pool images. gal: MC dropout on a network "
                            "trained with the same dropout (train every method with "
                            "TRAIN_ARGS=\"--dropout 0.5\"). acquisition-dropout: dropout before the "
                            "classifier at acquisition only, on a network trained without it")
    group.add_argument("--bald-passes", type=int, default=10,
                       help="stochastic passes T (10: the authors' code; Gal & Islam's code: 100)")
    group.add_argument("--bald-batch-size", type=int, default=AUTHORS_BATCH_SIZE,
                       help="authors variant: pool images per batch; BatchNorm normalises each batch with "
                            f"its own statistics, so this changes the scores ({AUTHORS_BATCH_SIZE}: the "
                            "authors' code)")
    group.add_argument("--bald-dropout", type=float, default=None,
                       help="acquisition-dropout variant: dropout p before the classifier "
                            f"({ACQUISITION_DROPOUT})")


def check_options(model, options):
    """One clear line for a variant that does not fit the network or its flags."""
    variant, trained_p = options.bald_variant, model.dropout.p
    if options.bald_passes < 1:
        raise AcquisitionError(f"--bald-passes: expected a positive integer, got {options.bald_passes}")
    if options.bald_batch_size < 2:
        raise AcquisitionError(f"--bald-batch-size: expected an integer >= 2 (BatchNorm statistics), "
                               f"got {options.bald_batch_size}")
    if options.bald_dropout is not None and variant != "acquisition-dropout":
        raise AcquisitionError(f"--bald-dropout: only for --bald-variant acquisition-dropout "
                               f"({variant} uses the network as trained)")
    if variant == "gal" and trained_p == 0:
        raise AcquisitionError("--bald-variant gal: the network was trained without dropout; train every "
                               "method with TRAIN_ARGS=\"--dropout 0.5\" (or use --bald-variant authors)")
    if variant == "acquisition-dropout" and trained_p > 0:
        raise AcquisitionError(f"--bald-variant acquisition-dropout: the network was trained with dropout "
                               f"{trained_p}; use --bald-variant gal")
    p = options.bald_dropout if options.bald_dropout is not None else ACQUISITION_DROPOUT
    if not 0 < p < 1:
        raise AcquisitionError(f"--bald-dropout: expected a probability in (0, 1), got {p}")


def pass_sums(run, options, seed):
    """(sum_t p_t, sum_t H[p_t]) of the chosen variant's passes over run.pool."""
    model = run.model
    if options.bald_variant == "authors":
        import data

        mean, std = run.channel_stats
        images = data.to_device_images(run.dataset.train_x[run.pool], run.device)   # [P, 3, H, W] uint8
        return train_mode_sums(model, images, lambda x: data.normalize(x, mean, std), options.bald_passes,
                               seed, options.bald_batch_size)
    p = model.dropout.p if options.bald_variant == "gal" else options.bald_dropout or ACQUISITION_DROPOUT
    features = torch.from_numpy(run.features(run.pool)).to(run.device)   # [P, D], computed once
    return mc_dropout_sums(model.classifier, p, features, options.bald_passes, seed)


def acquire(run, budget, rng, options):
    check_budget(budget, len(run.pool))
    check_options(run.model, options)
    seed = int(rng.integers(2**63 - 1))
    scores = mutual_information(*pass_sums(run, options, seed), options.bald_passes)
    return top_k(scores, budget, rng), scores
