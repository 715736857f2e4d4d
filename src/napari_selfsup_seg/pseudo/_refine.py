"""Image-guided refinement of a coarse class-activation map before it is cut.

A Score-CAM map is built from activations at the classifier layer's stride, so it is a blurred,
blocky version of where the object is. Both refinements here snap it to the edges of the image
itself, at a scale taken from the map's own cell size (the layer's stride in plane pixels), so
nothing is tuned to one image:

* :func:`guided_filter` — the guided filter of He, Sun and Tang (ECCV 2010, TPAMI 2013): in each
  window the output is a linear function of the guide image fitted to the map, so the map's
  edges follow the image's edges. Box means with :func:`scipy.ndimage.uniform_filter`.
* :func:`superpixel_pool` — SLIC superpixels of the image (:func:`skimage.segmentation.slic`)
  about one map cell in size; the map is replaced by its mean over each superpixel.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

REFINEMENTS = ("none", "guided", "superpixels")

AUTO_CUTS = ("map", "sweep")
"""Automatic cuts of a Score-CAM map: :func:`map_cut`, or the intensity sweep."""

EPS_FRACTION = 0.01
"""Regularisation of the guided filter, as a fraction of the guide's variance over the plane."""


def _unit(image: np.ndarray) -> np.ndarray:
    """``image`` scaled to [0, 1] between its 1st and 99.8th percentiles (float64)."""
    image = np.asarray(image, np.float64)
    lo, hi = np.percentile(image, [1.0, 99.8])
    if hi <= lo:
        lo, hi = float(image.min()), float(image.max())
    return np.clip((image - lo) / max(hi - lo, 1e-12), 0.0, 1.0)


def guided_filter(cam: np.ndarray, guide: np.ndarray, radius: int, eps: float | None = None):
    """Guided filter of ``cam`` with the image ``guide`` (both ``(Y, X)``).

    Parameters
    ----------
    cam : numpy.ndarray
        Map to refine, in [0, 1].
    guide : numpy.ndarray
        The raw plane the map belongs to (scaled to [0, 1] by its percentiles here).
    radius : int
        Window radius in pixels (window side ``2 * radius + 1``).
    eps : float, optional
        Regularisation; larger smooths more. Default :data:`EPS_FRACTION` × the guide's variance.

    Returns
    -------
    numpy.ndarray of float32
        The refined map, rescaled to [0, 1] (all zeros when it is constant).
    """
    p = np.asarray(cam, np.float64)
    g = _unit(guide)
    if eps is None:
        eps = EPS_FRACTION * max(float(g.var()), 1e-6)
    size = 2 * max(int(radius), 1) + 1

    def box(a: np.ndarray) -> np.ndarray:
        return ndi.uniform_filter(a, size, mode="reflect")

    mean_g, mean_p = box(g), box(p)
    var_g = box(g * g) - mean_g**2
    cov = box(g * p) - mean_g * mean_p
    a = cov / (var_g + eps)
    b = mean_p - a * mean_g
    return _rescaled(box(a) * g + box(b))


def superpixel_pool(cam: np.ndarray, guide: np.ndarray, cell: float) -> np.ndarray:
    """Mean of ``cam`` over SLIC superpixels of ``guide`` about ``cell`` pixels across.

    Parameters
    ----------
    cam : numpy.ndarray
        Map to refine, in [0, 1].
    guide : numpy.ndarray
        The raw plane the map belongs to.
    cell : float
        Superpixel side in pixels (the map's cell size).

    Returns
    -------
    numpy.ndarray of float32
        The pooled map, rescaled to [0, 1].
    """
    from skimage.segmentation import slic

    g = _unit(guide)
    n = max(4, round(g.size / max(cell, 1.0) ** 2))
    segments = slic(g, n_segments=n, compactness=0.1, channel_axis=None, start_label=0)
    p = np.asarray(cam, np.float64)
    sums = np.bincount(segments.ravel(), p.ravel())
    counts = np.maximum(np.bincount(segments.ravel()), 1)
    return _rescaled((sums / counts)[segments])


def _rescaled(m: np.ndarray) -> np.ndarray:
    m = np.clip(m, 0.0, None)
    lo, hi = float(m.min()), float(m.max())
    if hi - lo <= 1e-12:
        return np.zeros(m.shape, np.float32)
    return ((m - lo) / (hi - lo)).astype(np.float32)


def refine_map(cam: np.ndarray, plane: np.ndarray, how: str, cell: float) -> np.ndarray:
    """Refine ``cam`` of ``plane`` by ``how`` (one of :data:`REFINEMENTS`).

    ``cell`` is the map's cell size in plane pixels (the layer's stride times the plane's side
    over the classifier's input size); the guided filter's radius is one cell, and superpixels
    are about one cell across.
    """
    if how == "none":
        return np.asarray(cam, np.float32)
    if how == "guided":
        return guided_filter(cam, plane, round(cell))
    if how == "superpixels":
        return superpixel_pool(cam, plane, cell)
    raise ValueError(f"refine must be one of {', '.join(REFINEMENTS)}, got {how!r}")


def map_cut(cam: np.ndarray) -> float:
    """Automatic cut of a class-activation map from the map alone.

    A map read from an early layer has three populations: the background, other things the
    layer responds to (e.g. bright nuclei beside bright debris) at middling values, and the
    object the classifier was asked about at the top. The cut is the upper of the two
    three-class Otsu thresholds (:func:`skimage.filters.threshold_multiotsu`), or the two-class
    Otsu threshold where the map has too few distinct values for three classes. Exact zeros
    (outside pasted crops) are left out.

    Returns
    -------
    float
        The cut, in (0, 1); 0.5 for a constant map.
    """
    from skimage.filters import threshold_multiotsu, threshold_otsu

    values = np.asarray(cam, np.float64)
    values = values[values > 0] if np.count_nonzero(values) > 16 else values.ravel()
    if values.size == 0 or float(values.max() - values.min()) <= 1e-12:
        return 0.5
    try:
        cut = float(threshold_multiotsu(values, classes=3)[-1])
    except ValueError:
        cut = float(threshold_otsu(values))
    return float(np.clip(cut, 1e-3, 1 - 1e-3))
