"""Label-dispersion (Zolfaghari Bengar et al., "When Deep Learners Change Their Mind: Learning
Dynamics for Active Learning", CAIP 2021), section 3.1.

With y_t the class predicted for pool sample x after recorded epoch t = 1..T:

    c*(x)          = argmax_c sum_t 1[y_t = c]      the modal class             (Eq. 2)
    f_x            = sum_t 1[y_t = c*(x)]           epochs that predicted it    (Eq. 2)
    Dispersion(x)  = 1 - f_x / T                                                (Eq. 1)

The samples of highest dispersion are queried; ties (dispersion takes only T+1 values) are
broken at random with the seeded generator.

The authors' released code differs from the paper in two ways, offered here as options
(defaults follow the paper): the modal class comes from the last K epochs only (K = 25 of
100 in their code; --dispersion-mode-last) while f_x still counts over all epochs, divided by
T + 1 (--dispersion-plus-one). Their third difference, predicting the pool on augmented
images, is train.py --track-augment.
"""
import numpy as np

from baselines.common import AcquisitionError, top_k

TRACKS_EVERY_EPOCH = True  # run_all.sh: record the pool's predictions after every epoch (section 3.1)


def label_dispersion(preds, mode_last=0, plus_one=False):
    """preds: [T, P] integer class ids -> dispersion: [P] float64 in [0, 1).

    mode_last: take the modal class over the last K epochs only (0: all T, as in Eq. 2);
    equal counts go to the lowest class id. plus_one: divide by T + 1 instead of T.
    """
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[0] == 0:
        raise AcquisitionError(f"dispersion needs predictions of shape [epochs >= 1, pool], got {preds.shape}")
    if preds.dtype.kind not in "iu" or (preds.size and preds.min() < 0):
        raise AcquisitionError("dispersion needs non-negative integer class ids")
    num_epochs, pool_size = preds.shape
    counts_all = class_counts(preds)                                  # [P, C]
    window = preds[-mode_last:] if mode_last > 0 else preds
    counts_window = class_counts(window, counts_all.shape[1])
    modal_class = counts_window.argmax(1)                             # c*, Eq. 2
    modal_count = counts_all[np.arange(pool_size), modal_class]       # f_x, Eq. 2
    return 1.0 - modal_count / (num_epochs + 1 if plus_one else num_epochs)  # Eq. 1


def class_counts(preds, num_classes=None):
    """[T, P] class ids -> [P, C] number of epochs that predicted each class (one bincount)."""
    num_epochs, pool_size = preds.shape
    num_classes = num_classes or int(preds.max()) + 1
    flat = preds.T.astype(np.int64) + (np.arange(pool_size) * num_classes)[:, None]
    return np.bincount(flat.ravel(), minlength=pool_size * num_classes).reshape(pool_size, num_classes)


def add_arguments(parser):
    group = parser.add_argument_group("dispersion")
    group.add_argument("--dispersion-mode-last", type=int, default=0,
                       help="modal class from the last K recorded epochs (0: all, paper Eq. 2; authors' code: 25)")
    group.add_argument("--dispersion-plus-one", action="store_true",
                       help="divide by T+1 instead of T (authors' code; paper Eq. 1 uses T)")


def acquire(run, budget, rng, options):
    scores = label_dispersion(run.preds, options.dispersion_mode_last, options.dispersion_plus_one)
    return top_k(scores, budget, rng), scores
