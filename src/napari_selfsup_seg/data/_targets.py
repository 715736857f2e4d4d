"""Training targets for instance segmentation: background, interior and boundary classes.

A U-Net that only separates foreground from background merges touching nuclei. Predicting a third
class, a thin *boundary* ring inside every instance, gives the seeded watershed of
:func:`~napari_selfsup_seg.inference._postprocess.probabilities_to_instances` one seed per
object (the interior) and the line where neighbours meet (the boundary).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .._config import IGNORE_LABEL
from .._errors import InputError

BACKGROUND = 0
INTERIOR = 1
BOUNDARY = 2
IGNORE = 255


def make_targets(
    labels: np.ndarray, boundary_width: int = 2, ignore_value: int = IGNORE_LABEL
) -> np.ndarray:
    """Three-class targets from an instance label image.

    Parameters
    ----------
    labels : numpy.ndarray of int
        Shape ``(Y, X)`` instance labels, 0 = background; pixels equal to ``ignore_value`` are
        "not reviewed".
    boundary_width : int
        Width in pixels of the boundary ring drawn on the inner edge of every instance (where it
        meets the background or another instance).
    ignore_value : int
        Label value of unreviewed pixels.

    Returns
    -------
    numpy.ndarray of uint8
        Shape ``(Y, X)``: 0 background, 1 interior, 2 boundary, 255 ignore.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise InputError(f"expected a 2D label image, got shape {labels.shape}")
    if labels.dtype.kind not in "iub":
        raise InputError(f"expected an integer label image, got {labels.dtype}")
    if boundary_width < 1:
        raise InputError(f"boundary_width must be >= 1, got {boundary_width}")
    lab = labels.astype(np.int64)
    ignore = lab == ignore_value
    # Unreviewed pixels count as background when drawing boundaries: an object cut by an
    # unreviewed region still gets a rim, so the network never learns "interior" at an edge.
    lab = np.where(ignore, 0, lab)
    if lab.min() < 0:
        raise InputError("labels must not be negative")
    fg = lab > 0
    yy, xx = np.mgrid[-boundary_width : boundary_width + 1, -boundary_width : boundary_width + 1]
    disk = (yy**2 + xx**2) <= boundary_width**2 + 0.5
    hi = ndi.maximum_filter(lab, footprint=disk, mode="nearest")
    # Minimum over the disk, with background counted: a foreground pixel whose disk holds another
    # value (background or another instance) lies on a boundary.
    lo = ndi.minimum_filter(lab, footprint=disk, mode="nearest")
    edge = fg & ((hi != lab) | (lo != lab))
    out = np.zeros(lab.shape, np.uint8)
    out[fg] = INTERIOR
    out[edge] = BOUNDARY
    out[ignore] = IGNORE
    return out


#: Default band of a pseudo-mask's probability map whose pixels count as uncertain: far enough
#: from the cut (0.5) on either side to be trusted outside it.
UNCERTAIN_LOW, UNCERTAIN_HIGH = 0.25, 0.75


def uncertain_to_ignore(
    labels: np.ndarray,
    probability: np.ndarray,
    low: float = UNCERTAIN_LOW,
    high: float = UNCERTAIN_HIGH,
    ignore_value: int = IGNORE_LABEL,
) -> np.ndarray:
    """Mark pixels where a pseudo-mask's own probability is uncertain as "not reviewed".

    A pseudo-mask is least trustworthy where its probability map is close to its threshold; those
    pixels are handed to the loss as *ignore*, so the network fills them in from what it learned
    elsewhere instead of copying the teacher's guess.

    Parameters
    ----------
    labels : numpy.ndarray of int
        Shape ``(Y, X)`` pseudo-mask instance labels.
    probability : numpy.ndarray of float
        Shape ``(Y, X)`` foreground probability the labels were cut from.
    low, high : float
        Pixels with ``low < probability < high`` become ``ignore_value``.
    ignore_value : int
        Value written into the returned labels.

    Returns
    -------
    numpy.ndarray of uint32
        Shape ``(Y, X)``: the labels with uncertain pixels set to ``ignore_value``.
    """
    labels = np.asarray(labels)
    probability = np.asarray(probability)
    if labels.shape != probability.shape:
        raise InputError(
            f"labels shape {labels.shape} differs from probability shape {probability.shape}"
        )
    if not 0.0 <= low <= high <= 1.0:
        raise InputError(f"need 0 <= low <= high <= 1, got {low} and {high}")
    out = labels.astype(np.uint32)
    out[(probability > low) & (probability < high)] = ignore_value
    return out
