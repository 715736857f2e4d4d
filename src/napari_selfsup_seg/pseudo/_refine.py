"""Image-guided refinement of a coarse class-activation map before it is cut.

A Score-CAM map is built from activations at the classifier layer's stride, so it is a blurred,
blocky version of where the object is. The refinements here snap it to the edges of the image
itself, at a scale taken from the map's own cell size (the layer's stride in plane pixels) or
from the image's own objects, so nothing is tuned to one image:

* :func:`guided_filter` — the guided filter of He, Sun and Tang (ECCV 2010, TPAMI 2013): in each
  window the output is a linear function of the guide image fitted to the map, so the map's
  edges follow the image's edges. Box means with :func:`scipy.ndimage.uniform_filter`.
* :func:`superpixel_pool` — SLIC superpixels of the image (:func:`skimage.segmentation.slic`)
  about one map cell in size; the map is replaced by its mean over each superpixel.
* :func:`object_pool` — the image's own objects (Otsu foreground of the plane, lightly smoothed,
  in the polarity the map points at); the map is replaced by its mean over each object and is
  zero off them, so whole objects are kept or dropped together.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

REFINEMENTS = ("auto", "none", "guided", "superpixels", "objects")
"""Map refinements; ``"auto"`` is guided or objects as the classifier chooses
(:mod:`._refine_auto`)."""

AUTO_CUTS = ("map", "sweep")
"""Automatic cuts of a Score-CAM map: :func:`map_cut`, or the intensity sweep."""

OBJECT_SIGMA = 1.0
"""Gaussian smoothing (pixels) of the plane before its objects are found by :func:`object_pool`:
pixel noise only. Not tied to the map's cell: on generated debris fields (map cell 8 pixels)
smoothing by half a cell merged thin fibres with the nuclei they cross."""

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


def polarity_evidence(cam: np.ndarray, guide: np.ndarray) -> float:
    """How much brighter the plane is where ``cam`` is high than where it is low.

    The mean of the plane (scaled by its percentiles) weighted by the map, minus its mean
    weighted by the map's complement: positive when the map points at bright things. Summed over
    the planes of a set it gives the set's polarity (one map that points at the background does
    not flip its own plane).
    """
    p = np.asarray(cam, np.float64)
    if float(p.max()) <= 0:
        return 0.0
    g = _unit(guide)
    rest = 1.0 - p / float(p.max())
    return float((p * g).sum() / p.sum() - (rest * g).sum() / max(float(rest.sum()), 1e-12))


def object_pool(
    cam: np.ndarray, guide: np.ndarray, bright: bool | None = None, sigma: float = OBJECT_SIGMA
) -> np.ndarray:
    """Mean of ``cam`` over the objects of ``guide``, calibrated so that its own cut is 0.5.

    The objects are the connected components of the two-class Otsu foreground of the plane
    (scaled by its percentiles, smoothed by a Gaussian of ``sigma`` pixels). Their polarity is
    ``bright``, by default from the map (:func:`polarity_evidence` of this plane; pass the set's
    polarity, the sign of the summed evidence of all planes, where there is a set). Each object
    gets the mean map over it; pixels off every object get 0. The object scores are then mapped
    piecewise linearly so that their cut (:func:`object_cut`) lands on 0.5 (and the highest on
    1), so a fixed cut of 0.5 and the map cut agree, and an uncertainty band around 0.5 (the
    training's ignore band) is centred on the cut.

    Parameters
    ----------
    cam, guide : numpy.ndarray
        The map in [0, 1] and the raw plane it belongs to.
    bright : bool, optional
        Objects are bright (True) or dark (False); ``None``: from this plane's map.
    sigma : float
        Smoothing of the plane in pixels (:data:`OBJECT_SIGMA`).

    Returns
    -------
    numpy.ndarray of float32
        The pooled map in [0, 1] (all zeros when the plane has no objects or the map is zero).
    """
    from skimage.filters import threshold_otsu

    p = np.asarray(cam, np.float64)
    g = _unit(guide)
    if float(p.sum()) <= 0 or float(g.max() - g.min()) <= 1e-12:
        return np.zeros(p.shape, np.float32)
    if bright is None:
        bright = polarity_evidence(p, guide) >= 0
    if not bright:
        g = 1.0 - g
    g = ndi.gaussian_filter(g, sigma)
    if float(g.max() - g.min()) <= 1e-12:
        return np.zeros(p.shape, np.float32)
    objects, n = ndi.label(g >= threshold_otsu(g))
    if n == 0:
        return np.zeros(p.shape, np.float32)
    scores = np.asarray(ndi.mean(p, objects, np.arange(1, n + 1)), np.float64)
    pooled = np.zeros(p.shape, np.float64)
    inside = objects > 0
    pooled[inside] = scores[objects[inside] - 1]
    top = float(scores.max())
    if top <= 0:
        return np.zeros(p.shape, np.float32)
    sizes = np.bincount(objects.ravel(), minlength=n + 1)[1:]
    cut = object_cut(scores, sizes)
    low = 0.5 * pooled / max(cut, 1e-12)
    high = 0.5 + 0.5 * (pooled - cut) / max(top - cut, 1e-12)
    return np.clip(np.where(pooled < cut, low, high), 0.0, 1.0).astype(np.float32)


def object_cut(scores: np.ndarray, sizes: np.ndarray) -> float:
    """The cut of :func:`map_cut` for object scores, computed exactly.

    The upper of the two three-class Otsu thresholds of the scores weighted by the objects'
    sizes (two classes for two distinct scores), placed halfway between the scores it separates.
    A histogram's bins (as :func:`map_cut` uses) are unreliable for a few distinct values: the
    thresholds land on bin centres and ties between equally good splits fall to the lowest.
    More than 400 distinct scores go to :func:`map_cut` of the size-weighted values.

    Returns
    -------
    float
        Objects scoring at or above it are kept (half the top score when all score alike).
    """
    v, inverse = np.unique(np.asarray(scores, np.float64), return_inverse=True)
    w = np.bincount(inverse.ravel(), np.asarray(sizes, np.float64).ravel(), minlength=v.size)
    if v.size == 1:
        return 0.5 * float(v[0])
    if v.size > 400:
        return map_cut(np.repeat(v / v[-1], np.maximum(w, 1).astype(np.int64))) * float(v[-1])
    cw, cs = np.cumsum(w), np.cumsum(w * v)

    def term(lo, hi):  # sum over classes of (weighted sum)^2 / weight, for index ranges
        ww = cw[hi] - np.where(lo > 0, cw[np.maximum(lo - 1, 0)], 0.0)
        ss = cs[hi] - np.where(lo > 0, cs[np.maximum(lo - 1, 0)], 0.0)
        return ss**2 / np.maximum(ww, 1e-12)

    n = v.size
    if n == 2:
        return float(v.mean())
    i, j = np.triu_indices(n - 1, 1)  # classes [0, i], [i + 1, j], [j + 1, n - 1]
    score = term(0, i) + term(i + 1, j) + term(j + 1, np.full_like(j, n - 1))
    k = int(j[np.argmax(score)])
    return float(0.5 * (v[k] + v[k + 1]))


def _rescaled(m: np.ndarray) -> np.ndarray:
    m = np.clip(m, 0.0, None)
    lo, hi = float(m.min()), float(m.max())
    if hi - lo <= 1e-12:
        return np.zeros(m.shape, np.float32)
    return ((m - lo) / (hi - lo)).astype(np.float32)


def refine_map(
    cam: np.ndarray, plane: np.ndarray, how: str, cell: float, bright: bool | None = None
) -> np.ndarray:
    """Refine ``cam`` of ``plane`` by ``how`` (one of :data:`REFINEMENTS` but ``"auto"``).

    ``cell`` is the map's cell size in plane pixels (the layer's stride times the plane's side
    over the classifier's input size); the guided filter's radius is one cell, superpixels
    are about one cell across; ``bright`` is the objects' polarity (see :func:`object_pool`).
    """
    if how == "none":
        return np.asarray(cam, np.float32)
    if how == "guided":
        return guided_filter(cam, plane, round(cell))
    if how == "superpixels":
        return superpixel_pool(cam, plane, cell)
    if how == "objects":
        return object_pool(cam, plane, bright)
    if how == "auto":
        raise ValueError("refine='auto' needs the classifier: see _refine_auto.plane_votes")
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
