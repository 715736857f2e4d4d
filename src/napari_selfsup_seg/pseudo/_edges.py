"""Each object's own edge: a cut between its peak and the background around it.

One global threshold cannot fit every object of a plane: bright objects blur outward and come out
too large, dim ones come out too small or are lost, and small objects (a few pixels across,
blurred by the optics) end up far larger than they are. :func:`local_edges` keeps the objects a
global cut found and how they were split, and moves each object's edge to where the smoothed
intensity falls a fixed fraction of the way from the background around that object up to the
object's own peak (a full width at part maximum, measured per object).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..inference._labels import drop_small

#: Default fraction of the way from the local background to an object's peak where its edge is.
EDGE_FRACTION = 0.3
#: Percentile of an object's smoothed intensity taken as its peak (robust to a few hot pixels).
PEAK_PERCENTILE = 95
#: Percentile of the background ring around an object taken as its local background.
BACKGROUND_PERCENTILE = 20


def local_edges(
    x: np.ndarray,
    labels: np.ndarray,
    prob: np.ndarray,
    thickness: float,
    fraction: float = EDGE_FRACTION,
    softness: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Move every object's edge to its own cut, and the map with it.

    Every object owns the pixels within a quarter of ``thickness`` of it that are closer to it
    than to any other object (its zone). Its local background is a low percentile of the zone's
    pixels outside all objects (the plane's background outside all zones where the zone holds
    too few), its peak a high percentile of its own pixels, and its cut lies ``fraction`` of the
    way from one to the other. Inside its zone the object becomes the pixels above that cut that
    connect to it, holes filled; the map there becomes the same logistic of ``x`` as the global
    map, centred on the object's cut, so the map still reads 0.5 on every edge.

    Parameters
    ----------
    x : numpy.ndarray of float
        Shape ``(Y, X)``: the plane the global cut was made on (objects bright, smoothed).
    labels : numpy.ndarray of int
        Shape ``(Y, X)``: the objects of the global cut, 0 = background.
    prob : numpy.ndarray of float
        Shape ``(Y, X)``: the global map, a logistic of ``x`` of width ``softness``.
    thickness : float
        Typical object diameter (the width of rods) in pixels.
    fraction : float
        Where between background (0) and peak (1) the edge lies.
    softness : float
        Width of the logistic map, as in the global map.

    Returns
    -------
    labels : numpy.ndarray of int32
        Shape ``(Y, X)``: the same objects with their own edges (an object that keeps no pixel
        above its cut keeps its old pixels).
    prob : numpy.ndarray of float32
        Shape ``(Y, X)``: the map with every zone centred on its object's cut.
    """
    from skimage.segmentation import expand_labels

    labels = np.asarray(labels, np.int32)
    x = np.asarray(x, np.float32)
    out_labels = np.zeros_like(labels)
    out_prob = np.array(prob, np.float32, copy=True)
    if not labels.any():
        return labels, out_prob
    zones = expand_labels(labels, distance=max(2, round(thickness / 4)))
    outside = zones == 0
    plane_bg = float(np.median(x[outside])) if outside.any() else float(np.percentile(x, 5))
    ring_min = max(5, round(thickness))
    for k, box in enumerate(ndi.find_objects(zones), start=1):
        if box is None:
            continue
        zone, own = zones[box] == k, labels[box] == k
        if not own.any():
            continue
        xs = x[box]
        ring = xs[zone & (labels[box] == 0)]
        bg = (
            float(np.percentile(ring, BACKGROUND_PERCENTILE)) if ring.size >= ring_min else plane_bg
        )
        peak = float(np.percentile(xs[own], PEAK_PERCENTILE))
        if peak <= bg:
            out_labels[box][own] = k
            continue
        cut = bg + fraction * (peak - bg)
        above = zone & (xs > cut)
        parts, _ = ndi.label(above)
        kept = np.unique(parts[own & above])
        kept = kept[kept > 0]
        mask = ndi.binary_fill_holes(np.isin(parts, kept)) & zone if kept.size else own
        out_labels[box][mask] = k
        z = np.clip((xs[zone] - cut) / softness, -50, 50)
        out_prob[box][zone] = 1.0 / (1.0 + np.exp(-z))
    return out_labels, out_prob


def own_edges(
    found: np.ndarray, config, global_map: np.ndarray, smoothed: np.ndarray, thickness: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`local_edges` of the objects a global cut ``found``, with ``config``'s fraction,
    softness and smallest object (``config.min_size``, else from ``config.diameter``)."""
    from ..data._diameter import sizes_for_diameter

    labels, prob = local_edges(
        smoothed, found, global_map, thickness, config.edge_fraction, config.softness
    )
    diameter = config.diameter or thickness
    return drop_small(labels, sizes_for_diameter(diameter, min_size=config.min_size).min_size), prob
