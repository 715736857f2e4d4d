"""Shape of the objects of a mask, and the splitting of elongated objects (rods).

A distance-transform watershed with seeds a fixed distance apart cuts a rod into pieces along
its length: its distance transform is a long ridge with many small local maxima. Elongated
objects are split instead at their necks only: seeds are the regional maxima of the smoothed
distance transform that stand at least a fraction of the rod's half-width above the saddle to
their neighbours (the h-maxima transform), so one seed stands for one rod, and two rods end to
end (a dividing cell) are two seeds when their septum narrows the rod.

Whether the objects are elongated is measured on the mask itself (:func:`object_shape`): the
area of each compact component over the area of its largest inscribed disc is 1 for a disc, 2
for an ellipse twice as long as wide, about 5 for a rod four times as long as wide.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi

from ..data._diameter import MIN_AREA
from ._labels import drop_small

#: Objects whose typical area is at least this many times their inscribed disc's are rods.
ELONGATED = 3.0
#: A seed of a rod stands this fraction of the rod's half-width above its neighbours' saddle.
NECK = 0.2
#: The same for predicted interiors: the boundary class already parts touching rods, so an
#: interior is only split where it narrows to half its width (a thin bridge between two).
BRIDGE = 0.5


class ObjectShape(NamedTuple):
    """Typical width (pixels) and elongation of the objects of a mask."""

    width: float
    elongation: float

    @property
    def elongated(self) -> bool:
        """The objects are rods rather than compact objects."""
        return self.elongation >= ELONGATED


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value under which half of the total weight lies."""
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2)])


def object_shape(mask: np.ndarray) -> ObjectShape | None:
    """Width and elongation of the objects of ``mask`` ``(Y, X)``.

    Holes are filled first. The width is twice the median distance to the edge along the
    mask's skeleton (the medial axis), so that every object counts by its length and specks
    of debris little. The elongation is the area-weighted median, over components of at least
    :data:`MIN_AREA` pixels, of each component's area over its largest inscribed disc's.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        Shape ``(Y, X)``.

    Returns
    -------
    ObjectShape or None
        ``None`` when the mask holds no component of :data:`MIN_AREA` pixels.
    """
    from skimage.morphology import skeletonize

    # Holes (dim spots of texture inside an object) would shorten the inscribed radius.
    mask = ndi.binary_fill_holes(np.asarray(mask, bool))
    labels, n = ndi.label(mask)
    if n == 0:
        return None
    idx = np.arange(1, n + 1)
    dist = ndi.distance_transform_edt(mask)
    areas = ndi.sum(mask, labels, idx).astype(float)
    radii = np.maximum(ndi.maximum(dist, labels, idx), 0.5)
    keep = areas >= MIN_AREA
    if not keep.any():
        return None
    ratio = areas[keep] / (np.pi * radii[keep] ** 2)
    axis = skeletonize(mask) & keep[np.maximum(labels - 1, 0)] & (labels > 0)
    width = 2.0 * float(np.median(dist[axis])) if axis.any() else 2.0 * float(radii.max())
    return ObjectShape(width, weighted_median(ratio, areas[keep]))


def rod_seeds(core: np.ndarray, width: float, min_size: int = 1, neck: float = NECK) -> np.ndarray:
    """Labelled cores of rods ``(Y, X)``, one label per rod, split only at clear necks.

    Parameters
    ----------
    core : numpy.ndarray of bool
        Shape ``(Y, X)``: the inner parts of the objects (touching rods already apart).
    width : float
        Typical rod width in pixels.
    min_size : int
        Seeds smaller than this many pixels are dropped.
    neck : float
        Depth of a neck that splits, as a fraction of the half-width (:data:`NECK`).

    Returns
    -------
    numpy.ndarray of int32
        Shape ``(Y, X)``, 0 outside the cores.
    """
    from skimage.morphology import local_maxima, reconstruction
    from skimage.segmentation import watershed

    core = np.asarray(core, bool)
    if not core.any():
        return np.zeros(core.shape, np.int32)
    dist = ndi.gaussian_filter(ndi.distance_transform_edt(core), max(1.0, width / 12))
    dist = np.where(core, dist, 0.0)
    # The h-maxima transform: the reconstruction by dilation from ``dist - h`` flattens every
    # dome to ``h`` under its top and fills the bumps shallower than ``h``; its regional
    # maxima are one connected plateau along a rod's ridge, and rods meeting at a neck
    # deeper than ``h`` keep separate plateaus.
    h = max(0.5, neck * width / 2)
    flat = reconstruction(dist - h, dist, method="dilation")
    tops = local_maxima(flat, connectivity=2, allow_borders=True) & core
    peaks, _ = ndi.label(tops, np.ones((3, 3), bool))
    seeds = watershed(-dist, peaks, mask=core)
    return drop_small(seeds, min_size)


def split_rods(mask: np.ndarray, landscape: np.ndarray, width: float, min_size: int) -> np.ndarray:
    """Instances of touching rods in a foreground ``mask`` along a bright ``landscape``.

    The cores (mask pixels brighter than the Otsu threshold of the landscape inside the mask)
    keep the dimmer gaps between rods lying side by side out; they are split at their necks
    (:func:`rod_seeds`) and flooded back over the mask along the landscape. Mask components
    without a core become objects of their own; objects under ``min_size`` pixels are dropped.

    Returns
    -------
    numpy.ndarray of int32
        Shape ``(Y, X)`` instance labels, 0 = background.
    """
    from skimage import filters
    from skimage.segmentation import watershed

    mask = np.asarray(mask, bool)
    if not mask.any():
        return np.zeros(mask.shape, np.int32)
    values = landscape[mask]
    cut = filters.threshold_otsu(values) if np.ptp(values) > 0 else values.min() - 1
    core = mask & (landscape > cut)
    seeds = rod_seeds(core, width, max(1, min_size // 4))
    comps, n = ndi.label(mask)
    if n:
        has_seed = np.zeros(n + 1, bool)
        has_seed[np.unique(comps[seeds > 0])] = True
        orphan = ~has_seed[comps] & mask
        seeds[orphan] = ndi.label(orphan)[0][orphan] + seeds.max()
    labels = watershed(-landscape, seeds, mask=mask)
    return drop_small(labels, min_size)
