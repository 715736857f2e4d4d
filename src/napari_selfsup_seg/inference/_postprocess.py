"""Turning foreground masks and probability maps into clean instance labels."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ._labels import drop_small


def clean_mask(mask: np.ndarray, min_size: int = 16, max_hole: int = 16) -> np.ndarray:
    """Remove small objects and fill small holes in a binary mask.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        Shape ``(Y, X)``.
    min_size : int
        Connected components smaller than this many pixels are removed.
    max_hole : int
        Holes up to this many pixels are filled.

    Returns
    -------
    numpy.ndarray of bool
        Shape ``(Y, X)``.
    """
    from skimage import morphology

    out = np.asarray(mask, dtype=bool)
    if min_size > 0:
        out = morphology.remove_small_objects(out, max_size=min_size - 1)
    if max_hole > 0:
        out = morphology.remove_small_holes(out, max_size=max_hole)
    return out


def split_touching(
    mask: np.ndarray,
    min_distance: int = 4,
    min_size: int = 16,
    smoothing: float = 1.0,
) -> np.ndarray:
    """Split a binary foreground mask into instances with a distance-transform watershed.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        Shape ``(Y, X)`` foreground.
    min_distance : int
        Minimum distance in pixels between two instance centres (seeds are local maxima of the
        distance transform at least this far apart, and at least this deep).
    min_size : int
        Instances smaller than this are removed.
    smoothing : float
        Gaussian sigma applied to the distance transform before finding seeds (reduces
        over-splitting of irregular outlines).

    Returns
    -------
    numpy.ndarray of int32
        Shape ``(Y, X)`` instance labels, 0 = background, numbered 1..N.
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.zeros(mask.shape, np.int32)
    dist = ndi.distance_transform_edt(mask)
    if smoothing > 0:
        dist = ndi.gaussian_filter(dist, smoothing)
    components, _ = ndi.label(mask)
    peaks = peak_local_max(
        dist, min_distance=max(1, min_distance), labels=components, exclude_border=False
    )
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # Every component gets at least one seed, so no object is lost.
    seeded = np.unique(components[markers > 0])
    missing = np.setdiff1d(np.arange(1, components.max() + 1), seeded)
    if missing.size:
        centres = ndi.maximum_position(dist, components, missing)
        for k, (y, x) in enumerate(centres, start=markers.max() + 1):
            markers[y, x] = k
    labels = watershed(-dist, markers, mask=mask)
    return drop_small(labels, min_size)


def post_sizes(config) -> tuple[int, int, float]:
    """``(min_size, min_distance, smoothing)`` of :func:`probabilities_to_instances`.

    With ``config.diameter`` they follow
    :func:`~napari_selfsup_seg.data._diameter.sizes_for_diameter` (the threshold teacher's
    rule; an explicit ``config.min_size`` wins); without one they are the fixed
    :data:`~napari_selfsup_seg._config.FIXED_MIN_SIZE` (or ``config.min_size``),
    :data:`~napari_selfsup_seg._config.FIXED_MIN_DISTANCE` and a smoothing of 1 px.
    """
    from .._config import FIXED_MIN_DISTANCE, FIXED_MIN_SIZE
    from ..data._diameter import sizes_for_diameter

    if config.diameter is None:
        size = FIXED_MIN_SIZE if config.min_size is None else config.min_size
        return size, FIXED_MIN_DISTANCE, 1.0
    sizes = sizes_for_diameter(config.diameter, min_size=config.min_size)
    return sizes.min_size, sizes.min_distance, sizes.sigma


def probabilities_to_instances(
    probs: np.ndarray, config=None, min_distance: int | None = None
) -> np.ndarray:
    """Instance labels from background/interior/boundary probabilities by seeded watershed.

    Seeds come from the predicted interior (interior probability above
    ``config.seed_threshold``); interiors that still touch through a thin neck are split with
    the same distance-transform watershed used for pseudo-masks (:func:`split_touching`), so
    one seed stands for one object; elongated interiors (rods, see
    :func:`~napari_selfsup_seg.inference._rods.object_shape`) are split only where they narrow
    to half their width (:func:`~napari_selfsup_seg.inference._rods.rod_seeds`), not every
    seed spacing along their length. The seeds are then flooded over the foreground (interior +
    boundary probability above ``config.foreground_threshold``) along the interior probability,
    so neighbouring objects meet on their predicted boundary. Foreground regions without a seed
    become objects of their own; objects smaller than the smallest size are removed. The
    smallest size, seed spacing and smoothing come from ``config.diameter`` (see
    :func:`post_sizes`).

    Parameters
    ----------
    probs : numpy.ndarray of float
        Shape ``(3, Y, X)``: softmax of background, interior, boundary.
    config : PredictConfig, optional
        Thresholds, minimum size and object diameter (here ``None`` means no diameter: the
        callers that hold a model fill in the one it recorded).
    min_distance : int, optional
        Minimum distance in pixels between the centres of two seeds split from one interior
        region (default: from the diameter, see :func:`post_sizes`).

    Returns
    -------
    numpy.ndarray of int32
        Shape ``(Y, X)`` instance labels, 0 = background, numbered 1..N.
    """
    from skimage.segmentation import watershed

    from .._config import PredictConfig
    from .._errors import InputError
    from ._rods import BRIDGE, object_shape, rod_seeds

    config = config or PredictConfig()
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 3 or probs.shape[0] != 3:
        raise InputError(f"expected (3, Y, X) class probabilities, got shape {probs.shape}")
    min_size, spacing, smoothing = post_sizes(config)
    if min_distance is not None:
        spacing = min_distance
    interior = probs[1]
    foreground = (probs[1] + probs[2]) > config.foreground_threshold
    inner = (interior > config.seed_threshold) & foreground
    # Specks of interior smaller than a quarter of the smallest object are noise, not seeds.
    shape = object_shape(inner)
    if shape is not None and shape.elongated:
        markers = rod_seeds(inner, shape.width, max(1, min_size // 4), BRIDGE)
    else:
        markers = split_touching(
            inner, min_distance=spacing, min_size=max(1, min_size // 4), smoothing=smoothing
        )
    n = int(markers.max())
    # Foreground regions that hold no seed still become objects.
    comps, n_comp = ndi.label(foreground)
    if n_comp:
        has_seed = np.zeros(n_comp + 1, bool)
        has_seed[np.unique(comps[markers > 0])] = True
        orphan = ~has_seed[comps] & foreground
        if orphan.any():
            extra, _ = ndi.label(orphan)
            markers[orphan] = extra[orphan] + n
    labels = watershed(-interior, markers, mask=foreground)
    return drop_small(labels, min_size)
