"""Is the weak-label classifier better than chance? A held-out check before any mask is made.

A classifier trained on a few dozen tiles can reach 100% *training* accuracy on labels that
carry no signal, and its Score-CAM maps then point at whatever told the tiles apart (often the
background). So before the maps are made, the weakly labelled images are split into
stratified folds of about a quarter each (:data:`FOLD_FRACTION`, at least one image of each
class per fold); a fresh classifier with the same recipe is trained on the other folds and
predicts the held-out fold. Folds are run until at least :data:`MIN_HELD_OUT` images (or all of
them) have been held out once, so a large set costs one extra training and a small set is
cross-validated in full (every image held out once).

The decision rule is a one-sided Fisher exact test on the 2×2 table of held-out predictions
against the weak labels: the classifier is *better than chance* when ``p < ALPHA``. The test is
exact for small counts and is not fooled by unequal classes (a classifier that always answers
the majority class gets ``p = 1``, whatever its plain accuracy); significance in the ``greater``
direction also means balanced accuracy above 0.5. With equal classes it needs all of 8 held-out
images right, 9 of 10, 10 of 12, 13 of 16, 15 of 20, 27 of 40.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InputError
from .._progress import Progress, Stage, TrainProgress

FOLD_FRACTION = 0.25
"""Share of the weakly labelled images held out in each fold of the check."""

MIN_HELD_OUT = 16
"""Folds are run until at least this many images (or all) have been held out once."""

ALPHA = 0.05
"""Significance level of the one-sided Fisher exact test of the held-out predictions."""


def fisher_greater(tp: int, fn: int, fp: int, tn: int) -> float:
    """One-sided Fisher exact p-value that predictions agree with labels more than by chance.

    Parameters
    ----------
    tp, fn : int
        Images labelled 1 predicted 1 / predicted 0.
    fp, tn : int
        Images labelled 0 predicted 1 / predicted 0.

    Returns
    -------
    float
        Probability, with the row and column sums fixed, of ``tp`` or more true positives.
    """
    pos, pred_pos, n = tp + fn, tp + fp, tp + fn + fp + tn
    denom = math.comb(n, pred_pos)
    hi = min(pos, pred_pos)
    num = sum(math.comb(pos, k) * math.comb(n - pos, pred_pos - k) for k in range(tp, hi + 1))
    return min(1.0, num / denom) if denom else 1.0


@dataclass(frozen=True)
class HeldOutCheck:
    """Outcome of the held-out check of a weak-label classifier.

    Attributes
    ----------
    n : int
        Images held out (each once).
    correct : int
        Held-out images whose predicted class is their weak label.
    accuracy, balanced_accuracy : float
        ``correct / n``; mean of the recall of class 1 and of class 0.
    p_value : float
        One-sided Fisher exact p-value (:func:`fisher_greater`).
    folds : int
        Folds trained for the check.
    """

    n: int
    correct: int
    accuracy: float
    balanced_accuracy: float
    p_value: float
    folds: int

    @property
    def better_than_chance(self) -> bool:
        """``p_value < ALPHA``."""
        return self.p_value < ALPHA

    @classmethod
    def of(cls, labels: np.ndarray, predicted: np.ndarray, folds: int) -> HeldOutCheck:
        """The check of held-out ``predicted`` classes against their weak ``labels`` (0/1)."""
        y, p = np.asarray(labels, int), np.asarray(predicted, int)
        tp, fn = int(((y == 1) & (p == 1)).sum()), int(((y == 1) & (p == 0)).sum())
        fp, tn = int(((y == 0) & (p == 1)).sum()), int(((y == 0) & (p == 0)).sum())
        recall = [tp / max(tp + fn, 1), tn / max(tn + fp, 1)]
        return cls(len(y), tp + tn, (tp + tn) / max(len(y), 1), float(np.mean(recall)),
                   fisher_greater(tp, fn, fp, tn), folds)  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict (with ``better_than_chance`` and ``alpha``)."""
        return {**dataclasses.asdict(self), "better_than_chance": self.better_than_chance,
                "alpha": ALPHA}  # fmt: skip

    def summary(self) -> str:
        """E.g. ``"held-out accuracy 0.85 (17/20, balanced 0.85, p = 0.001)"``."""
        return (
            f"held-out accuracy {self.accuracy:.2f} ({self.correct}/{self.n}, balanced "
            f"{self.balanced_accuracy:.2f}, p = {self.p_value:.2g})"
        )


def chance_message(check: HeldOutCheck | None, counts: tuple[int, int], force: str) -> str:
    """The one-line refusal: what was measured and what to do.

    Parameters
    ----------
    check : HeldOutCheck or None
        ``None`` when there were too few images of a class to hold any out.
    counts : (int, int)
        Images labelled 1 and 0.
    force : str
        How the caller's user writes the masks anyway (a flag, a check box, an argument).
    """
    if check is None:
        measured = (
            f"cannot be checked on held-out images with {counts[0]} labelled 'has it' and "
            f"{counts[1]} 'has not' (at least 2 of each needed)"
        )
    else:
        measured = f"is not better than chance: {check.summary()}, needs p < {ALPHA}"
    return (
        f"the weak-label classifier {measured}; label more images (both kinds), make the "
        f"labels clearer or train more steps ({force} writes the masks anyway)"
    )


class ChanceClassifierError(InputError):
    """The weak-label classifier was not shown better than chance; no mask was made.

    Attributes
    ----------
    check : HeldOutCheck or None
    counts : (int, int)
        Images labelled 1 and 0.
    """

    def __init__(self, check: HeldOutCheck | None, counts: tuple[int, int]) -> None:
        super().__init__(chance_message(check, counts, "allow_chance=True"))
        self.check, self.counts = check, counts

    def line(self, force: str, source: str = "") -> str:
        """The refusal naming ``source`` (e.g. the CSV) and how to ``force`` the masks."""
        text = chance_message(self.check, self.counts, force)
        return f"{source}: {text}" if source else text


def stratified_folds(labels: Sequence[int] | np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """Held-out index sets of about :data:`FOLD_FRACTION` each, every class in every fold.

    Parameters
    ----------
    labels : sequence of int
        0/1 per image; both classes at least twice.

    Returns
    -------
    list of numpy.ndarray of int64
        Disjoint folds covering all images, in the order they are run.
    """
    y = np.asarray(labels, int)
    rng = np.random.default_rng(seed)
    minority = int(min((y == 0).sum(), (y == 1).sum()))
    k = max(2, min(round(1 / FOLD_FRACTION), minority))
    folds: list[list[int]] = [[] for _ in range(k)]
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == cls))
        for j, i in enumerate(idx):
            folds[j % k].append(int(i))
    return [np.sort(np.asarray(f, np.int64)) for f in folds]


def _relabelled(gen: Generator[Progress, None, Any], note: str) -> Generator[Progress, None, Any]:
    """``gen``'s records with ``note`` as their message; returns what ``gen`` returns."""
    while True:
        try:
            record = next(gen)
        except StopIteration as end:
            return end.value
        yield dataclasses.replace(record, message=note)


TrainFn = Callable[..., Generator[Progress, None, tuple[Any, float]]]


def held_out_check_iter(
    x: Sequence[np.ndarray],
    labels: Sequence[int],
    train: TrainFn,
    predict: Callable[[Any, Sequence[np.ndarray]], np.ndarray],
    seed: int = 0,
    stop: Callable[[], bool] | None = None,
) -> Generator[Progress, None, HeldOutCheck | None]:
    """Train on all but a fold, predict the fold; repeat until enough are held out.

    Parameters
    ----------
    x : sequence of numpy.ndarray
        The classifier's inputs, normalised and resized, ``(S, S)`` each.
    labels : sequence of int
        0/1 per image.
    train : callable
        ``train(images, labels)``: a training generator returning ``(net, accuracy)``.
    predict : callable
        ``predict(net, images)``: predicted classes ``(N,)``.
    seed : int
        Seed of the folds.
    stop : callable, optional
        Checked between folds.

    Yields
    ------
    Progress
        The folds' training records (message ``"held-out check i/k"``), then one
        ``TrainProgress`` whose ``extra`` has ``held_out_accuracy``,
        ``held_out_balanced_accuracy`` and ``held_out_p``.

    Returns
    -------
    HeldOutCheck or None
        ``None`` when a class has fewer than 2 images (nothing can be held out) or when
        stopped before any fold ended.
    """
    y = np.asarray(labels, int)
    if min((y == 0).sum(), (y == 1).sum()) < 2:
        return None
    folds = stratified_folds(y, seed)
    target = min(MIN_HELD_OUT, len(y))
    n_run = next(i + 1 for i in range(len(folds)) if sum(map(len, folds[: i + 1])) >= target)
    held: list[int] = []
    predicted: list[int] = []
    for i, fold in enumerate(folds[:n_run]):
        if stop is not None and stop():
            break
        rest = np.setdiff1d(np.arange(len(y)), fold)
        note = f"held-out check {i + 1}/{n_run}"
        gen = train([x[j] for j in rest], [int(y[j]) for j in rest])
        net, _ = yield from _relabelled(gen, note)
        held.extend(fold.tolist())
        predicted.extend(np.asarray(predict(net, [x[j] for j in fold])).tolist())
    if not held:
        return None
    check = HeldOutCheck.of(y[held], np.asarray(predicted), n_run)
    extra = {
        "held_out_accuracy": check.accuracy,
        "held_out_balanced_accuracy": check.balanced_accuracy,
        "held_out_p": check.p_value,
        "held_out_n": check.n,
    }
    yield TrainProgress(Stage.CLASSIFIER, 1, 1, check.summary(), extra=extra)
    return check
