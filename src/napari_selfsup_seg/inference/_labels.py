"""The last step of every labelling: small objects dropped, labels numbered 1..N."""

from __future__ import annotations

import numpy as np


def drop_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """``labels`` ``(Y, X)`` without objects under ``min_size`` pixels, renumbered 1..N.

    Returns
    -------
    numpy.ndarray of int32
        Shape ``(Y, X)``, 0 = background.
    """
    from skimage.segmentation import relabel_sequential

    labels = np.asarray(labels)
    if min_size > 1:
        sizes = np.bincount(labels.ravel())
        small = sizes < min_size
        small[0] = False
        labels = np.where(small[labels], 0, labels)
    return relabel_sequential(labels)[0].astype(np.int32)
