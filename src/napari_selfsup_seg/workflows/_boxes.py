"""Square review tiles of a plane: their side, the candidate grid, overlaps and sums over them.

A box is ``(y0, x0, y1, x1)`` in pixels, half-open like a slice: rows ``y0:y1``, columns
``x0:x1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import InputError

Box = tuple[int, int, int, int]

#: Object diameter (px) assumed by :func:`tile_side` for a model that records none.
DEFAULT_DIAMETER = 15.0


def as_box(box: Sequence[int], shape: tuple[int, int], what: str = "box") -> Box:
    """``box`` as a tuple of 4 ints, checked to be non-empty and inside a ``(Y, X)`` plane.

    Raises
    ------
    InputError
        Not 4 numbers, empty, or reaching outside the plane.
    """
    values = tuple(int(v) for v in box)
    if len(values) != 4:
        raise InputError(f"{what}: expected (y0, x0, y1, x1), got {tuple(box)}")
    y0, x0, y1, x1 = values
    h, w = shape
    if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
        raise InputError(f"{what} {values} is empty or outside the {h} x {w} image")
    return y0, x0, y1, x1


def box_overlap(box: Box, other: Box) -> float:
    """Fraction of ``box``'s area that ``other`` covers, in [0, 1]."""
    h = min(box[2], other[2]) - max(box[0], other[0])
    w = min(box[3], other[3]) - max(box[1], other[1])
    if h <= 0 or w <= 0:
        return 0.0
    return h * w / ((box[2] - box[0]) * (box[3] - box[1]))


def tile_side(diameter: float | None, shape: tuple[int, int], diameters: float = 7.0) -> int:
    """Side of a review tile: ``diameters`` object diameters, a multiple of 32, inside the plane.

    Parameters
    ----------
    diameter : float or None
        Typical object diameter in pixels (:data:`DEFAULT_DIAMETER` when ``None``).
    shape : tuple of int
        ``(Y, X)`` of the plane; the side never exceeds its smaller edge.
    diameters : float
        Tile side in object diameters before rounding.

    Returns
    -------
    int
        ``max(32, round(diameters * diameter / 32) * 32)``, clipped to ``min(Y, X)``.
    """
    d = float(diameter) if diameter else DEFAULT_DIAMETER
    side = max(32, round(diameters * d / 32) * 32)
    return int(min(side, *shape))


def _starts(size: int, side: int, step: int) -> list[int]:
    starts = list(range(0, size - side + 1, step))
    if starts[-1] != size - side:
        starts.append(size - side)
    return starts


def candidate_boxes(shape: tuple[int, int], side: int, stride: float = 0.5) -> list[Box]:
    """Square boxes of ``side`` on a grid with steps of ``stride * side``, the last ones flush
    with the bottom and right edges, so that they cover the whole ``(Y, X)`` plane."""
    h, w = shape
    step = max(1, round(side * stride))
    return [
        (y, x, y + side, x + side) for y in _starts(h, side, step) for x in _starts(w, side, step)
    ]


def box_means(values: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
    """Mean of a ``(Y, X)`` map over each box (from one summed-area table).

    Returns
    -------
    numpy.ndarray of float64
        Shape ``(len(boxes),)``.
    """
    return box_sums(values, boxes) / np.array([(b[2] - b[0]) * (b[3] - b[1]) for b in boxes])


def box_sums(values: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
    """Sum of a ``(Y, X)`` map over each box, shape ``(len(boxes),)`` float64."""
    table = np.zeros((values.shape[0] + 1, values.shape[1] + 1), np.float64)
    table[1:, 1:] = np.asarray(values, np.float64).cumsum(0).cumsum(1)
    b = np.asarray(boxes, np.int64).reshape(-1, 4)
    y0, x0, y1, x1 = b.T
    return table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]


def boxes_per_image(boxes: Sequence[Any], shapes: Sequence[tuple[int, int]]) -> list[list[Box]]:
    """One list of checked boxes per image (a flat list of boxes is accepted for one image)."""
    items = list(boxes)
    flat = bool(items) and all(
        np.ndim(b) == 1 and len(b) == 4 and all(isinstance(v, (int, np.integer)) for v in b)
        for b in items
    )
    if flat:
        if len(shapes) != 1:
            raise InputError("reviewed boxes of several images: give one list of boxes per image")
        items = [items]
    if not items:
        items = [[] for _ in shapes]
    if len(items) != len(shapes):
        raise InputError(f"{len(items)} lists of reviewed boxes for {len(shapes)} images")
    return [
        [as_box(b, shapes[i], f"reviewed box of image {i}") for b in per]
        for i, per in enumerate(items)
    ]
