"""The whole-cell foreground map and the cell diameter of a plane, with or without seeds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._propagate import close_foreground, foreground_signal
from ._scale import analyse_plane

#: First guess of the whole-cell diameter in nucleus diameters (the seeded estimate starts there).
CELL_PER_NUCLEUS = 2.0
#: Smallest and largest cell diameter, in nucleus diameters, the seeded estimate may give.
CELL_PER_NUCLEUS_RANGE = (1.2, 4.0)


def cell_map(
    plane: np.ndarray, diameter: float, config: Any, contrast: str = "auto", seeded: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Foreground map ``(Y, X)`` in [0, 1] of a cell plane (0.5 at the automatic threshold),
    and the contrast signal ``(Y, X)`` it is a logistic function of (the sweep scores cuts
    against it: a brightfield plane's raw intensity says little about where cells are).

    ``contrast`` is the plane's kind (:func:`~napari_selfsup_seg.pseudo._propagate.
    contrast_kind`), ``"auto"`` to detect it. Without seeds the contrast is smoothed half as
    much (an eighth of a cell diameter with seeds), so that the gaps between touching cells,
    all that splits them then, stay open.
    """
    from skimage import filters

    signal = foreground_signal(plane, diameter, contrast, 1 / 8 if seeded else 1 / 16)
    fns: dict[str, Callable[..., Any]] = {
        "otsu": filters.threshold_otsu,
        "li": filters.threshold_li,
        "triangle": filters.threshold_triangle,
    }
    t = float(fns[config.method](signal))
    spread = float(np.percentile(signal, 99) - np.percentile(signal, 1)) or 1.0
    z = np.clip((signal - t) / (config.softness * spread), -50, 50)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32), signal


def cell_diameter_unseeded(plane: np.ndarray, config: Any, contrast: str = "auto") -> float:
    """Cell diameter of a plane with no seeds: given, or the plane's scale estimate.

    The estimate is :func:`~napari_selfsup_seg.pseudo._scale.analyse_plane`'s, which suits a
    stained cytoplasm or membrane; on a relief (brightfield) plane it finds the texture, not
    the cells, so a brightfield channel wants seeds or a given diameter.
    """
    if config.diameter is not None:
        return float(config.diameter)
    polarity = contrast if contrast in ("bright", "dark") else config.chosen_polarity
    return analyse_plane(plane, None, polarity).diameter


def cell_diameter_from_seeds(
    plane: np.ndarray, nuclei: np.ndarray, nucleus: float, config: Any, contrast: str
) -> float:
    """Cell diameter of a seeded plane: the disc of the foreground's area per nucleus.

    Where cells touch, the foreground (cut with :data:`CELL_PER_NUCLEUS` times the nucleus
    diameter as a first guess) is shared out among the nuclei inside it, so its area per
    nucleus is the typical cell's; kept within :data:`CELL_PER_NUCLEUS_RANGE` nucleus
    diameters, and the first guess when there are no nuclei.
    """
    guess = CELL_PER_NUCLEUS * nucleus
    inside = np.unique(nuclei[nuclei > 0])
    if len(inside) == 0:
        return guess
    prob, _signal = cell_map(plane, guess, config, contrast, True)
    mask = close_foreground(prob >= 0.5, guess / 8)
    held = np.unique(nuclei[(nuclei > 0) & mask])
    if len(held) == 0:
        return guess
    diameter = 2.0 * np.sqrt(mask.sum() / (np.pi * len(held)))
    low, high = CELL_PER_NUCLEUS_RANGE
    return float(np.clip(diameter, low * nucleus, high * nucleus))
