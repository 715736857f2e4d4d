"""Whole cells of a model that also reads a nuclear stain: one nucleus, one cell.

A model trained on whole-cell masks grown from the nuclei of one of its input channels records
that channel (``ModelBundleConfig.seed_channel``) and the nuclei's diameter
(``seed_diameter``). Its predicted cell foreground is then split as its teacher split it, not by
the shape of the foreground: the nuclei of the seed channel (:func:`find_nuclei`) grow over the
foreground along the cheapest paths (:func:`propagate`), a step costing its length times
:data:`LAMBDA` + the ridges of the cell channel there (the thin lines between touching cells;
their polarity is read from the image: the lines are those darker, or brighter, than the cell
interiors the model predicts). No cell reaches farther than :data:`REACH` cell diameters from its
nucleus; foreground without a nucleus is left out.

The distance watershed of the predicted interiors (the nuclei models' splitting) cuts a large,
irregular cell into several: on the scratch assay's cells, with the same network, AP@0.5 0.33
that way against 0.50 grown from the nuclei.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ._labels import drop_small

#: Cost of a step's length next to the ridges (CellProfiler's regularisation factor).
LAMBDA = 0.02
#: A cell reaches at most this many cell diameters beyond its nucleus's edge.
REACH = 0.75
#: Width of the ridge filter that finds the lines between cells, in cell diameters (>= 1 px).
RIDGE = 1 / 16
#: Nuclei diameter in cell diameters when the model records none.
NUCLEUS_PER_CELL = 0.5


def find_nuclei(plane: np.ndarray, diameter: float) -> np.ndarray:
    """Nuclei ``(Y, X)`` of a nuclear-stain plane: Otsu cut of the smoothed plane minus its
    background, split by the distance watershed sized by the nuclei's ``diameter`` (px)."""
    from skimage.filters import threshold_otsu

    from ..data._diameter import sizes_for_diameter
    from ._postprocess import clean_mask, split_touching

    sizes = sizes_for_diameter(diameter)
    x = ndi.gaussian_filter(np.asarray(plane, np.float32), sizes.sigma)
    x = x - ndi.gaussian_filter(x, 5.0 * diameter)
    if float(x.max()) <= float(x.min()):
        return np.zeros(x.shape, np.int32)
    mask = clean_mask(x > threshold_otsu(x), sizes.min_size, sizes.max_hole)
    return split_touching(mask, sizes.min_distance, sizes.min_size, sizes.sigma)


def propagate(cost: np.ndarray, seeds: np.ndarray, mask: np.ndarray, reach: float) -> np.ndarray:
    """Grow labelled seeds over ``mask`` along the cheapest paths of ``cost``.

    Parameters
    ----------
    cost : numpy.ndarray of float
        Shape ``(Y, X)``, positive cost of a unit step at each pixel.
    seeds : numpy.ndarray of int
        Shape ``(Y, X)``, seed objects (0 = none); every seed pixel keeps its label.
    mask : numpy.ndarray of bool
        Shape ``(Y, X)``, where cells may grow.
    reach : float
        No pixel farther than this (Euclidean, in pixels) from every seed is labelled.

    Returns
    -------
    numpy.ndarray of int32
        Shape ``(Y, X)``, each pixel the label of the seed that reaches it most cheaply.
    """
    from skimage.graph import MCP_Geometric

    seeds = np.asarray(seeds)
    if not seeds.any():
        return np.zeros(seeds.shape, np.int32)
    near = ndi.distance_transform_edt(seeds == 0) <= reach
    allowed = (np.asarray(mask, bool) & near) | (seeds > 0)
    c = np.where(allowed, cost, np.inf)
    mcp = MCP_Geometric(c, fully_connected=True)
    cumulative, traceback = mcp.find_costs(np.argwhere(seeds > 0))
    # Each pixel's predecessor on its cheapest path; pointer jumping finds the seed at the
    # path's start for every pixel at once.
    offsets = np.asarray(mcp.offsets)
    reached = (traceback >= 0) & np.isfinite(cumulative)
    step = offsets[np.maximum(traceback, 0)] * reached[..., None]
    yy, xx = np.indices(seeds.shape)
    parent = ((yy - step[..., 0]) * seeds.shape[1] + (xx - step[..., 1])).ravel()
    for _ in range(64):
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    out = seeds.ravel()[parent].reshape(seeds.shape).astype(np.int32)
    out[~np.isfinite(cumulative)] = 0
    return out


def ridge_cost(plane: np.ndarray, probs: np.ndarray, diameter: float) -> np.ndarray:
    """Step cost ``(Y, X)`` of :func:`propagate`: :data:`LAMBDA` + the cell plane's ridges,
    normalised to their 99th percentile. The ridges are dark lines when the predicted
    boundaries are darker than the predicted interiors in ``plane``, bright lines otherwise."""
    from skimage.filters import sato

    plane = np.asarray(plane, np.float32)
    boundary, interior = probs[2] > 0.5, probs[1] > 0.5
    dark = True
    if boundary.any() and interior.any():
        dark = float(np.median(plane[boundary])) <= float(np.median(plane[interior]))
    ridges = sato(plane, sigmas=[max(1.0, RIDGE * diameter)], black_ridges=dark)
    scale = float(np.percentile(ridges, 99))
    return (LAMBDA + ridges / (scale if scale > 0 else 1.0)).astype(np.float64)


def seeded_cells(
    probs: np.ndarray, nuclei: np.ndarray, cell_plane: np.ndarray, config
) -> np.ndarray:
    """Cells ``(Y, X)`` grown from ``nuclei`` over the predicted foreground (module notes).

    Parameters
    ----------
    probs : numpy.ndarray
        ``(3, Y, X)`` background, interior and boundary probabilities.
    nuclei : numpy.ndarray of int
        ``(Y, X)`` seeds, 0 = none.
    cell_plane : numpy.ndarray
        ``(Y, X)`` the cell channel whose ridges part touching cells.
    config : PredictConfig
        Its ``diameter`` (the cells', required) and ``foreground_threshold``.
    """
    from ._postprocess import post_sizes

    min_size = post_sizes(config)[0]
    foreground = (probs[1] + probs[2]) > config.foreground_threshold
    cost = ridge_cost(cell_plane, probs, config.diameter)
    return drop_small(propagate(cost, nuclei, foreground, REACH * config.diameter), min_size)


def plane_instances(model, probs: np.ndarray, x: np.ndarray, config) -> np.ndarray:
    """Instance labels of one plane with the model's splitting.

    ``x`` is the plane's normalised network input ``(C, Y, X)`` and ``config`` the prediction
    settings with the model's diameter filled in. A model that records a seed channel (and a
    cell diameter) gets :func:`seeded_cells` with the nuclei of that channel, the cell channel
    being the first other one; any other model the interiors' watershed
    (:func:`~napari_selfsup_seg.inference._postprocess.probabilities_to_instances`).
    """
    from ._postprocess import probabilities_to_instances

    seed = model.config.seed_channel
    if seed is None or config.diameter is None or x.shape[0] < 2:
        return probabilities_to_instances(probs, config)
    nucleus = model.config.seed_diameter or NUCLEUS_PER_CELL * config.diameter
    nuclei = find_nuclei(x[seed], nucleus)
    cell = next(c for c in range(x.shape[0]) if c != seed)
    return seeded_cells(np.asarray(probs, np.float32), nuclei, x[cell], config)
