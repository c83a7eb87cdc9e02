"""BALD with MC dropout: Bayesian Active Learning by Disagreement (Houlsby, Huszar, Ghahramani and
Lengyel, arXiv:1112.5745, 2011) with dropout as the approximate posterior (Gal, Islam and
Ghahramani, "Deep Bayesian Active Learning with Image Data", ICML 2017, section 3); the
label-dispersion paper's baseline "BALD [10]" (section 4.1).

With p_t(x) = softmax(classifier(dropout_t(h(x)))) the class probabilities of stochastic pass
t = 1..T (each with its own dropout mask) and H[p] = -sum_c p_c log p_c (nats):

    BALD(x) = H[(1/T) sum_t p_t(x)] - (1/T) sum_t H[p_t(x)]      mutual information between the
                                                                 label and the weights; >= 0
Highest first. Only two running sums are kept, sum_t p_t [P, C] and sum_t H[p_t] [P], so memory
does not grow with T. H uses 0 log 0 = 0, and the difference is clipped at 0 (rounding only).

Exact shortcut: models.ResNet18's dropout site is between the pooled features h(x) and the
linear classifier, and the trunk stays in eval mode (BatchNorm uses its running statistics), so
h(x) is identical in every pass. Computing h once for the pool and redrawing only the dropout
mask per pass gives exactly the same distribution as T full stochastic forward passes.

The same network as every other method: the dropout masks are drawn only at acquisition time, on
the network every method trains (no dropout in training). A BALD chain therefore trains exactly the network that random, dispersion and the rest train, and
only its acquisition differs (paper, section 4.1: the methods are compared on one network). The
other fair variant, one dropout layer trained into every method's network (DeepAL's way), is
`TRAIN_ARGS="--dropout 0.5"` for all methods; bald then uses the trained p by default.
BatchNorm is never put in train mode; the first author's code below and
ej0cl6/deep-active-learning call model.train() on the whole network for the passes, so there
BatchNorm normalises with each pool batch's own statistics.

Hyperparameters and their sources:
  dropout p = 0.5 before the classifier (--bald-dropout; default: the network's own p if it was
    trained with dropout, else 0.5): Gal and Islam's official code puts Dropout(0.5) before the
    last dense layer (github.com/Riashat/Deep-Bayesian-Active-Learning,
    MC_Dropout_Keras/Dropout_Bald_Q10_N1000_Paper.py); its other Dropout(0.25), after the
    convolutions, has no counterpart in this ResNet.
  T = 20 passes (--bald-passes): this project's choice. The official code above uses 100
    (dropout_iterations); the first author's code (github.com/Javadzb/Class-Balanced-AL,
    bayesian_active_learning_disagreement_dropout.py) uses n_drop = 10, as BADGE's does.
Dropout masks come from torch's generator seeded from `rng` (acquire.py --seed): reproducible.
"""
import numpy as np

from baselines.common import AcquisitionError, check_budget, entropy, top_k

DEFAULT_DROPOUT = 0.5  # Gal & Islam's Dropout(0.5) before the last layer


def mutual_information(prob_sum, entropy_sum, passes):
    """BALD from running sums over `passes` passes: prob_sum [P, C], entropy_sum [P] -> [P] >= 0."""
    mean_probs = np.asarray(prob_sum, dtype=np.float64) / passes        # [P, C]
    mean_entropy = np.asarray(entropy_sum, dtype=np.float64) / passes   # [P]
    return np.maximum(entropy(mean_probs) - mean_entropy, 0.0)         # clip rounding below 0


def mc_dropout_sums(classifier, p, features, passes, seed, batch_size=4096):
    """T passes of dropout(p) + classifier over fixed features [P, D] (a tensor on the classifier's
    device) -> (sum_t p_t [P, C], sum_t H[p_t] [P]) as float64 numpy arrays."""
    import torch  # kept local: importing baselines (run_all.sh does, often) needs no torch
    import torch.nn.functional as F

    prob_sum = torch.zeros(len(features), classifier.out_features, dtype=torch.float64,
                           device=features.device)
    entropy_sum = torch.zeros(len(features), dtype=torch.float64, device=features.device)
    devices = [features.device] if features.device.type == "cuda" else []
    with torch.inference_mode(), torch.random.fork_rng(devices=devices):  # global RNG untouched
        torch.manual_seed(seed)
        for _ in range(passes):
            for start in range(0, len(features), batch_size):
                h = features[start:start + batch_size]                                   # [B, D]
                p_t = classifier(F.dropout(h, p, training=True)).double().softmax(1)      # [B, C]
                prob_sum[start:start + len(h)] += p_t
                entropy_sum[start:start + len(h)] -= torch.special.xlogy(p_t, p_t).sum(1)
    return prob_sum.cpu().numpy(), entropy_sum.cpu().numpy()


def add_arguments(parser):
    group = parser.add_argument_group("bald")
    group.add_argument("--bald-passes", type=int, default=20,
                       help="stochastic dropout passes T (20; Gal & Islam's code: 100, authors' code: 10)")
    group.add_argument("--bald-dropout", type=float, default=None,
                       help="dropout p before the classifier in the passes (default: the network's own "
                            f"trained p, else {DEFAULT_DROPOUT} as Gal & Islam's code)")


def dropout_rate(model, options):
    """--bald-dropout, else the p the network was trained with, else DEFAULT_DROPOUT."""
    p = options.bald_dropout if options.bald_dropout is not None else (model.dropout.p or DEFAULT_DROPOUT)
    if not 0 < p < 1:
        raise AcquisitionError(f"--bald-dropout: expected a probability in (0, 1), got {p}")
    return p


def acquire(run, budget, rng, options):
    check_budget(budget, len(run.pool))
    if options.bald_passes < 1:
        raise AcquisitionError(f"--bald-passes: expected a positive integer, got {options.bald_passes}")
    model = run.model
    p = dropout_rate(model, options)
    import torch

    features = torch.from_numpy(run.features(run.pool)).to(run.device)   # [P, D], computed once
    seed = int(rng.integers(2**63 - 1))
    prob_sum, entropy_sum = mc_dropout_sums(model.classifier, p, features, options.bald_passes, seed)
    scores = mutual_information(prob_sum, entropy_sum, options.bald_passes)
    return top_k(scores, budget, rng), scores
