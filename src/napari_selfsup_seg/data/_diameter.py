"""Object diameter of instance labels, and the sizes derived from a diameter.

One rule, :func:`sizes_for_diameter`, turns a typical object diameter into the smoothing, seed
spacing, smallest object and largest filled hole used to cut objects: the threshold pseudo-mask
applies it to the diameter it estimates per plane, prediction applies it to the diameter the
model recorded from its training masks (:func:`diameter_of_labels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .._config import IGNORE_LABEL

#: Objects smaller than this many pixels are left out of a diameter measurement (specks).
MIN_AREA = 9


class ObjectSizes(NamedTuple):
    """Sizes of the cutting steps for objects of one typical diameter (pixels)."""

    sigma: float
    min_size: int
    min_distance: int
    max_hole: int


def sizes_for_diameter(
    diameter: float,
    sigma: float | None = None,
    min_size: int | None = None,
    min_distance: int | None = None,
) -> ObjectSizes:
    """Smoothing, smallest object, seed spacing and largest hole for ``diameter``-wide objects.

    Explicit values win. Smoothing is a sixteenth of the diameter (at least 1 px), seeds are
    at least a third of a diameter apart, objects under a tenth of a typical object's area are
    dropped and holes up to half of it are filled.

    Parameters
    ----------
    diameter : float
        Typical object diameter in pixels.
    sigma, min_size, min_distance : optional
        Values to use instead of the derived ones.

    Returns
    -------
    ObjectSizes
    """
    area = np.pi * diameter**2 / 4
    sigma = sigma if sigma is not None else max(1.0, diameter / 16)
    min_size = min_size if min_size is not None else max(4, round(area / 10))
    min_distance = min_distance if min_distance is not None else max(2, round(diameter / 3))
    return ObjectSizes(
        float(sigma), int(min_size), int(min_distance), max(int(min_size), round(area / 2))
    )


def diameter_of_labels(
    masks: Sequence[np.ndarray] | np.ndarray, ignore: int = IGNORE_LABEL
) -> float | None:
    """Median equivalent diameter of the objects in instance label planes.

    Each label value of a plane is one object (``0`` is background, ``ignore`` unreviewed);
    its equivalent diameter is that of the disc of the same area. Objects cut by the plane's
    edge are left out when at least three others remain, and specks under :data:`MIN_AREA`
    pixels always.

    Parameters
    ----------
    masks : sequence of numpy.ndarray of int
        Planes of shape ``(Y, X)`` (arrays of shape ``(..., Y, X)`` are split into planes).
    ignore : int
        Label value of unreviewed pixels.

    Returns
    -------
    float or None
        Diameter in pixels, ``None`` when no plane holds an object.
    """
    if isinstance(masks, np.ndarray):
        masks = [masks]  # one plane or one stack, not a sequence of rows
    inner: list[np.ndarray] = []
    edge: list[np.ndarray] = []
    for mask in masks:
        mask = np.asarray(mask)
        for plane in mask.reshape(-1, *mask.shape[-2:]):
            ids, areas = np.unique(plane, return_counts=True)
            keep = (ids != 0) & (ids != ignore) & (areas >= MIN_AREA)
            rim = np.concatenate([plane[0], plane[-1], plane[:, 0], plane[:, -1]])
            cut = np.isin(ids, rim)
            inner.append(areas[keep & ~cut])
            edge.append(areas[keep & cut])
    found = np.concatenate(inner) if inner else np.zeros(0)
    if found.size < 3:
        found = np.concatenate([found, *edge])
    if found.size == 0:
        return None
    return float(2.0 * np.sqrt(np.median(found) / np.pi))
