"""Whole-cell foreground and seeded propagation on a cell channel (cytoplasm, membrane, BF).

The cell channel's foreground and the growth of seed objects (nuclei) into cells, after
CellProfiler's IdentifySecondaryObjects (Propagation):

- **Contrast kind**: a stained cytoplasm or membrane is brighter (or darker) than the
  background; a brightfield, oblique or DIC image shows cells as relief, darker *and* brighter
  than the background. Which one is read from the tails of the plane's histogram (see
  :func:`contrast_kind`).
- **Foreground signal**: the plane minus its slowly varying background (a Gaussian
  :data:`BACKGROUND` cell diameters wide), made positive (objects bright, or the absolute
  relief), smoothed at an eighth of the cell diameter; its logarithm is cut at the automatic
  threshold.
- **Propagation**: each seed grows over the foreground along the cheapest path, a step costing
  its length times (:data:`LAMBDA` + the ridges of the image there, normalised to their 99th
  percentile): cells meet on the thin lines between them, and where there are none they split
  the space like a Voronoi diagram. No cell grows farther than :data:`REACH` cell diameters
  from its seed. The gap between two touching cells looks like the background, a line darker
  than bright or relief cells (brighter than dark ones), so the ridges are those of that
  polarity (a Sato tubeness filter :data:`RIDGE` cell diameters wide). On the scratch assay's
  oblique brightfield, dark ridges placed cell borders better than the image gradient (which
  also follows the texture inside the cells): teacher AP@0.5 0.455 against 0.395 over its 10
  frames.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..data._normalize import NormalizationConfig, percentile_normalize

# The propagation and its constants are shared with the prediction of seeded cells.
from ..inference._seeded import LAMBDA as LAMBDA
from ..inference._seeded import REACH as REACH
from ..inference._seeded import RIDGE as RIDGE
from ..inference._seeded import propagate as propagate
from ._scale import plane_trend

#: Width of the background Gaussian, in cell diameters.
BACKGROUND = 2.5
#: Both histogram tails at least this close in size (smaller / larger) make a relief image.
RELIEF_RATIO = 0.5
CONTRASTS = ("auto", "bright", "dark", "relief")


def normalised(plane: np.ndarray) -> np.ndarray:
    """``plane`` ``(Y, X)`` scaled to its 0.5–99.9 percentiles, float32 (not clipped)."""
    return percentile_normalize(plane, NormalizationConfig(0.5, 99.9, clip=False))


def contrast_kind(x: np.ndarray, polarity: str = "auto") -> str:
    """``"bright"``, ``"dark"`` or ``"relief"`` cells in a normalised plane ``(Y, X)``.

    After a light smoothing and the removal of the plane-wide trend, the pixels more than four
    noise widths above and below the median are counted: a relief image has both tails of a
    similar size (:data:`RELIEF_RATIO`). Otherwise the cells are ``polarity`` when it is
    ``"bright"`` or ``"dark"``, and bright for ``"auto"`` (a stained cytoplasm or membrane;
    where cells cover most of the field their gaps would outweigh them in the tails).
    """
    x = ndi.gaussian_filter(np.asarray(x, np.float32), 1.0)
    x = x - plane_trend(x)
    med = float(np.median(x))
    noise = 1.4826 * float(np.median(np.abs(x - med))) + 1e-6
    above = int((x - med > 4 * noise).sum())
    below = int((med - x > 4 * noise).sum())
    if min(above, below) >= RELIEF_RATIO * max(above, below, 1):
        return "relief"
    return "dark" if polarity == "dark" else "bright"


def foreground_signal(
    plane: np.ndarray, diameter: float, contrast: str = "auto", smoothing: float = 1 / 8
) -> np.ndarray:
    """Log of the smoothed cell contrast of one plane (see module notes).

    Parameters
    ----------
    plane : numpy.ndarray
        Shape ``(Y, X)``, the cell channel.
    diameter : float
        Typical cell diameter in pixels.
    contrast : str
        ``"bright"``, ``"dark"``, ``"relief"`` or ``"auto"`` (:func:`contrast_kind`).
    smoothing : float
        Smoothing of the contrast, in cell diameters.

    Returns
    -------
    numpy.ndarray of float32
        Shape ``(Y, X)``, high on cells.
    """
    x = normalised(plane)
    if contrast == "auto":
        contrast = contrast_kind(x)
    x = ndi.gaussian_filter(x, max(1.0, diameter / 16))
    x = x - ndi.gaussian_filter(x, BACKGROUND * diameter)
    if contrast == "relief":
        x = np.abs(x)
    else:
        x = np.maximum(-x if contrast == "dark" else x, 0)
    x = ndi.gaussian_filter(x, smoothing * diameter)
    return np.log(x + 1e-4).astype(np.float32)


def close_foreground(mask: np.ndarray, radius: float) -> np.ndarray:
    """Binary closing of ``mask`` ``(Y, X)`` by a disc of ``radius`` px (edges reflected)."""
    from skimage.morphology import disk

    r = round(radius)
    if r < 1:
        return np.asarray(mask, bool)
    padded = np.pad(np.asarray(mask, bool), r + 1, mode="reflect")
    return ndi.binary_closing(padded, disk(r))[r + 1 : -r - 1, r + 1 : -r - 1]


def propagation_cost(plane: np.ndarray, diameter: float, contrast: str = "auto") -> np.ndarray:
    """Per-pixel step cost ``(Y, X)`` of :func:`propagate`: :data:`LAMBDA` + normalised ridges.

    The ridges are dark lines for ``"bright"`` and ``"relief"`` cells, bright lines for
    ``"dark"`` ones (see module notes); ``"auto"`` detects the kind (:func:`contrast_kind`).
    """
    from skimage.filters import sato

    x = normalised(plane)
    if contrast == "auto":
        contrast = contrast_kind(x)
    ridges = sato(x, sigmas=[max(1.0, RIDGE * diameter)], black_ridges=contrast != "dark")
    scale = float(np.percentile(ridges, 99))
    return (LAMBDA + ridges / (scale if scale > 0 else 1.0)).astype(np.float64)
