"""Oracle: the label-dispersion paper's upper reference (sections 3.2 and 4.1, "Oracle method").

THIS METHOD CHEATS: it reads the ground-truth labels of the unlabeled pool, which a real active
learner never has. It shows what querying exactly the samples the model gets wrong would give.

With y(x) the true class and yhat(x) = argmax_c p_c(x) the final model's prediction (probs.npy):

    misclassified = {x in pool : yhat(x) != y(x)}

As in the authors' code (github.com/Javadzb/Class-Balanced-AL, query_strategies/groundtruth.py,
the first author's code that carries the label-dispersion experiments), misclassified samples
are drawn at random, balanced over their true classes: round-robin over the true classes (in a
random class order), a random sample within each class; a class with fewer misclassified
samples runs out and the others continue. Where the authors' code asks every class for
budget / C samples (failing when one has fewer, and dropping the remainder of the division),
this returns exactly `budget`: when fewer than `budget` samples are misclassified, the rest are
the least confident correctly classified ones (lowest max_c p_c first).

Scores: 1 for a misclassified sample, 1 - max_c p_c (< 1) for a correct one; higher = queried
first, and the class-balanced draw orders the misclassified ones. No hyperparameters.
"""
import numpy as np

from baselines.common import AcquisitionError, check_budget, check_probs, top_k


def class_round_robin(labels, rng):
    """labels: [M] class ids -> [M] positions: round-robin over classes, random within each.

    Rank r of a sample = its place in a random order of its class; samples are sorted by rank,
    then by a random priority of the classes, so each round takes one sample per class left.
    """
    labels = np.asarray(labels, dtype=np.int64)
    order = rng.permutation(len(labels))                        # random order within every class
    by_class = order[np.argsort(labels[order], kind="stable")]  # grouped by class, random inside
    sorted_labels = labels[by_class]
    starts = np.searchsorted(sorted_labels, sorted_labels)      # first slot of each sample's class
    rank = np.arange(len(labels)) - starts                      # place within its class
    class_priority = rng.permutation(int(labels.max(initial=0)) + 1)
    return by_class[np.lexsort((class_priority[sorted_labels], rank))]


def oracle_select(true_labels, probs, budget, rng):
    """true_labels: [P] ints, probs: [P, C] -> (positions [budget] best first, scores [P])."""
    probs = check_probs(probs)
    true_labels = np.asarray(true_labels)
    if true_labels.shape != (len(probs),) or true_labels.dtype.kind not in "iu":
        raise AcquisitionError(f"oracle needs one integer label per pool sample, got {true_labels.shape}")
    check_budget(budget, len(probs))
    confidence = probs.max(axis=1)                                           # [P]
    wrong = np.flatnonzero(probs.argmax(axis=1) != true_labels)              # [M]
    right = np.flatnonzero(probs.argmax(axis=1) == true_labels)              # [P - M]
    picks = wrong[class_round_robin(true_labels[wrong], rng)][:budget]
    if len(picks) < budget:  # too few mistakes: fill with the least confident correct samples
        picks = np.concatenate([picks, right[top_k(-confidence[right], budget - len(picks), rng)]])
    scores = 1.0 - confidence
    scores[wrong] = 1.0
    return picks, scores


def acquire(run, budget, rng, options):
    check_budget(budget, len(run.pool))  # before loading the dataset
    return oracle_select(run.dataset.train_y[run.pool], run.probs, budget, rng)
