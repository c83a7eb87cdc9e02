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

Exact shortcut: models.ResNet18 applies dropout only between the pooled features h(x) and the
linear classifier, and the trunk stays in eval mode (BatchNorm uses its running statistics), so
h(x) is identical in every pass. Computing h once for the pool and redrawing only the dropout
mask per pass gives exactly the same distribution as T full stochastic forward passes.
BatchNorm is never put in train mode (model.eval(), then model.dropout.train() only); the
first author's code below and ej0cl6/deep-active-learning call model.train() on the whole
network, so there BatchNorm normalises with each pool batch's own statistics.

Hyperparameters and their sources:
  dropout p = 0.5 before the classifier (TRAIN_ARGS, so run_all.sh trains with it): Gal and
    Islam's official code puts Dropout(0.5) before the last dense layer
    (github.com/Riashat/Deep-Bayesian-Active-Learning, MC_Dropout_Keras/Dropout_Bald_Q10_N1000_Paper.py);
    its other Dropout(0.25), after the convolutions, has no counterpart in this ResNet.
  T = 20 passes (--bald-passes): this project's choice. The official code above uses 100
    (dropout_iterations); the first author's code (github.com/Javadzb/Class-Balanced-AL,
    bayesian_active_learning_disagreement_dropout.py) uses n_drop = 10, as BADGE's does.
Dropout masks come from torch's generator seeded from `rng` (acquire.py --seed): reproducible.
"""
import numpy as np

from baselines.common import AcquisitionError, check_budget, entropy, top_k

TRAIN_ARGS = ["--dropout", "0.5"]


def mutual_information(prob_sum, entropy_sum, passes):
    """BALD from running sums over `passes` passes: prob_sum [P, C], entropy_sum [P] -> [P] >= 0."""
    mean_probs = np.asarray(prob_sum, dtype=np.float64) / passes        # [P, C]
    mean_entropy = np.asarray(entropy_sum, dtype=np.float64) / passes   # [P]
    return np.maximum(entropy(mean_probs) - mean_entropy, 0.0)         # clip rounding below 0


def mc_dropout_sums(model, features, passes, seed, batch_size=4096):
    """T passes of dropout + classifier over fixed features [P, D] (a tensor on the model's
    device) -> (sum_t p_t [P, C], sum_t H[p_t] [P]) as float64 numpy arrays."""
    import torch  # kept local: importing baselines (run_all.sh does, often) needs no torch

    prob_sum = torch.zeros(len(features), model.classifier.out_features, dtype=torch.float64,
                           device=features.device)
    entropy_sum = torch.zeros(len(features), dtype=torch.float64, device=features.device)
    model.eval()
    model.dropout.train()  # only the dropout layer is stochastic; BatchNorm stays in eval mode
    try:
        devices = [features.device] if features.device.type == "cuda" else []
        with torch.inference_mode(), torch.random.fork_rng(devices=devices):  # global RNG untouched
            torch.manual_seed(seed)
            for _ in range(passes):
                for start in range(0, len(features), batch_size):
                    h = features[start:start + batch_size]                             # [B, D]
                    p = model.classifier(model.dropout(h)).double().softmax(1)          # [B, C]
                    prob_sum[start:start + len(h)] += p
                    entropy_sum[start:start + len(h)] -= torch.special.xlogy(p, p).sum(1)
    finally:
        model.eval()
    return prob_sum.cpu().numpy(), entropy_sum.cpu().numpy()


def add_arguments(parser):
    group = parser.add_argument_group("bald")
    group.add_argument("--bald-passes", type=int, default=20,
                       help="stochastic dropout passes T (20; Gal & Islam's code: 100, authors' code: 10)")


def acquire(run, budget, rng, options):
    check_budget(budget, len(run.pool))
    if options.bald_passes < 1:
        raise AcquisitionError(f"--bald-passes: expected a positive integer, got {options.bald_passes}")
    model = run.model
    if model.dropout.p == 0:
        raise AcquisitionError("bald needs a model trained with dropout; train with "
                               f"train.py {' '.join(TRAIN_ARGS)} (run_all.sh does)")
    import torch

    features = torch.from_numpy(run.features(run.pool)).to(run.device)   # [P, D], computed once
    seed = int(rng.integers(2**63 - 1))
    prob_sum, entropy_sum = mc_dropout_sums(model, features, options.bald_passes, seed)
    scores = mutual_information(prob_sum, entropy_sum, options.bald_passes)
    return top_k(scores, budget, rng), scores
