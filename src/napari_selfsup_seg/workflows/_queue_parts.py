"""The correction queue's signals: the student's maps over test-time flips, and the parts of a
tile's score that look at objects (disagreement with the teacher, odd-sized objects), ranked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .._config import PredictConfig

if TYPE_CHECKING:
    from ..models._factory import LoadedModel

#: Student objects smaller than this fraction of the typical object area count as fragments.
SMALL_AREA = 0.4
#: Student objects larger than this multiple of the typical object area count as merges.
LARGE_AREA = 1.8
#: Fewer student objects than this in the plane: the typical area is the model's diameter's disc.
MIN_OBJECTS_FOR_MEDIAN = 5


def object_disagreement(teacher: np.ndarray, student: np.ndarray) -> float:
    """``1 - F1`` of the one-to-one matching at IoU 0.5 of two label crops (0 when both empty)."""
    from ..evaluation._metrics import overlap_pairs, sparse_match_counts

    gi, pi, iou, n_t, n_s = overlap_pairs(teacher, student)
    if int(n_t) + int(n_s) == 0:
        return 0.0
    tp, fp, fn = sparse_match_counts(gi, pi, iou, int(n_t), int(n_s), 0.5)
    return 1.0 - 2.0 * tp / (2 * tp + fp + fn)


def size_outlier_points(student: np.ndarray, diameter: float) -> tuple[np.ndarray, float]:
    """A ``(Y, X)`` map with 1 at the centre of each student object of unusual size.

    An object is unusual when its area is below :data:`SMALL_AREA` or above :data:`LARGE_AREA`
    times the plane's median object area (fragments and spurious specks; merged neighbours),
    the errors a reviewer fixes most often. The median comes from the student's own objects, or
    from the disc of ``diameter`` when it found fewer than :data:`MIN_OBJECTS_FOR_MEDIAN`.

    Returns
    -------
    points : numpy.ndarray of float32
    typical_area : float
        The median area used, in pixels.
    """
    from scipy import ndimage as ndi

    points = np.zeros(student.shape, np.float32)
    ids, areas = np.unique(student[student > 0], return_counts=True)
    if len(areas) >= MIN_OBJECTS_FOR_MEDIAN:
        typical = float(np.median(areas))
    else:
        typical = float(np.pi * diameter**2 / 4)
    odd = ids[(areas < SMALL_AREA * typical) | (areas > LARGE_AREA * typical)]
    if len(odd):
        centres = ndi.center_of_mass(np.ones(student.shape), student, odd)
        for cy, cx in centres:
            points[round(cy), round(cx)] += 1.0
    return points, typical


def unit_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks of ``values`` scaled to [0, 1] (ties share their mean rank; one value ranks 1)."""
    from scipy.stats import rankdata

    if len(values) <= 1:
        return np.ones(len(values))
    return (rankdata(values) - 1.0) / (len(values) - 1)


def student_maps(
    model: LoadedModel, x: np.ndarray, flips: int = 4, device: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities averaged over test-time flips, and the flips' disagreement.

    Parameters
    ----------
    model : LoadedModel
    x : numpy.ndarray
        ``(C, Y, X)``: the plane's normalised network input
        (:func:`~napari_selfsup_seg.inference._input.prepare_input`).
    flips : int
        How many flips to average (1, 2 or 4; the flips of ``PredictConfig.flips``, among those
        the model was trained on).
    device : str

    Returns
    -------
    probabilities : numpy.ndarray of float32
        ``(classes, Y, X)`` mean softmax.
    spread : numpy.ndarray of float32
        ``(Y, X)``: twice the standard deviation of the foreground probability over the flips
        (0 for one flip).
    """
    from .._progress import drain
    from ..inference._predict import flip_views, probabilities_iter

    config = PredictConfig(device=device)
    total, fg_sum, fg_sq = None, None, None
    views = flip_views(model, flips)  # the flips of segmentation's test-time augmentation
    for axes in views:
        xf = np.ascontiguousarray(np.flip(x, axes)) if axes else x
        probs = drain(probabilities_iter(model, xf, config))
        assert probs is not None  # no stop callback
        probs = np.flip(probs, axes) if axes else probs
        fg = probs[1:].sum(0)
        total = probs.copy() if total is None else total + probs
        fg_sum = fg.copy() if fg_sum is None else fg_sum + fg
        fg_sq = fg * fg if fg_sq is None else fg_sq + fg * fg
    assert total is not None and fg_sum is not None and fg_sq is not None
    n = len(views)
    mean_fg = fg_sum / n
    spread = 2.0 * np.sqrt(np.clip(fg_sq / n - mean_fg**2, 0.0, None))
    return (total / n).astype(np.float32), spread.astype(np.float32)
