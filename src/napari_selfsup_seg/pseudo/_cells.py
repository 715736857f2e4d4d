"""Whole-cell pseudo-masks: nuclei of a seed channel grown over a cell channel.

With a seed channel (a nuclear stain), the threshold teacher's nuclei of each seed plane are
the seeds; the cell channel (cytoplasm or membrane stain, brightfield) gives the foreground and
the image the seeds propagate over (:mod:`~napari_selfsup_seg.pseudo._propagate`). The cell
diameter is :attr:`ThresholdConfig.diameter <napari_selfsup_seg.pseudo._threshold.
ThresholdConfig>` when given, else the diameter of the disc of the cell foreground's area per
nucleus (:func:`~._cell_map.cell_diameter_from_seeds`; on the scratch assay's oblique
brightfield 30-32 px against a true median of 30 px, where twice the nucleus diameter gave
23 px); the foreground's smoothing and closing, the cells' reach from their nucleus and the
smallest cell follow from it.

Without a seed channel, the cell diameter is estimated from a first foreground of the cell
channel (:func:`~napari_selfsup_seg.pseudo._scale.diameter_of_mask`) and the foreground is split
by the distance-transform watershed sized by that diameter, as the threshold method splits
nuclei.

The map of each plane is a logistic of the foreground signal centred on its automatic
threshold, so ``0.5`` is the automatic cut and the slider and the sweep move it as for nuclei.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Sequence
from functools import partial
from typing import Any

import numpy as np

from .._errors import InputError
from .._progress import Progress, Stage
from ..data._diameter import diameter_of_labels, sizes_for_diameter
from ..inference._postprocess import clean_mask, split_touching
from ._cell_map import cell_diameter_from_seeds, cell_diameter_unseeded, cell_map
from ._propagate import (
    REACH,
    close_foreground,
    contrast_kind,
    normalised,
    propagate,
    propagation_cost,
)
from ._result import PseudoMaskResult, cut_plane, plane_names
from ._threshold import (
    ThresholdConfig,
    as_plane_list,
    threshold_iter,
    threshold_plane,
)


def cells_recut(
    prob: np.ndarray,
    plane: np.ndarray,
    cut: float,
    config: Any,
    seeds: np.ndarray | None = None,
    contrast: str = "auto",
) -> np.ndarray:
    """Cells of ``prob >= cut``: ``seeds`` propagated over it, or the foreground split.

    Parameters
    ----------
    prob : numpy.ndarray
        Foreground map ``(Y, X)`` of the cell plane.
    plane : numpy.ndarray
        The cell plane ``(Y, X)`` (the propagation follows its gradient).
    cut : float
        Threshold on ``prob``.
    config : ThresholdConfig
        ``config.diameter`` is the cell diameter (estimated from ``plane`` when ``None``).
    seeds : numpy.ndarray of int, optional
        Nuclei ``(Y, X)`` (0 = background); ``None`` splits the foreground instead.
    contrast : str
        The cell plane's kind (``"auto"``: detected with ``config``'s polarity), which sets
        the polarity of the lines between cells.

    Returns
    -------
    numpy.ndarray of int32
        Shape ``(Y, X)``, 0 = background.
    """
    diameter = config.diameter
    if diameter is None:
        diameter = cell_diameter_unseeded(plane, config)
    _sigma, min_size, min_distance, max_hole = sizes_for_diameter(
        diameter, config.sigma, config.min_size, config.min_distance
    )
    if seeds is None:
        # No closing: the thin gaps between touching cells are all that separates them.
        mask = clean_mask(prob >= cut, min_size=min_size, max_hole=max_hole)
        return split_touching(mask, min_distance, min_size, smoothing=max(1.0, diameter / 12))
    mask = close_foreground(prob >= cut, diameter / 8)
    mask = clean_mask(mask, min_size=min_size, max_hole=max_hole)
    if contrast == "auto":
        contrast = contrast_kind(normalised(plane), config.chosen_polarity)
    cost = propagation_cost(plane, diameter, contrast)
    return propagate(cost, seeds, mask, REACH * diameter)


def _seed_nuclei(seed_plane: np.ndarray, config: Any, name: str) -> tuple[np.ndarray, float]:
    """The threshold teacher's nuclei of a seed plane and their diameter."""
    nuclei_config = dataclasses.replace(
        config, target="nuclei", diameter=None, threshold=0.5, polarity="auto",
        bright_objects=None, sigma=None, min_size=None, min_distance=None,
    )  # fmt: skip
    labels, _prob, _cut, _sweep, scale, _inputs = threshold_plane(seed_plane, nuclei_config, name)
    return labels, scale.diameter


def nuclei_of(seed_plane: np.ndarray, config: Any = None) -> np.ndarray:
    """The nuclei ``(Y, X)`` of a nuclear-stain plane that seed the cells of :func:`cells_iter`."""
    return _seed_nuclei(seed_plane, config or ThresholdConfig(target="cells"), "seed plane")[0]


def cells_iter(
    cell_planes: np.ndarray | Sequence[np.ndarray],
    seed_planes: np.ndarray | Sequence[np.ndarray] | None,
    config: Any,
    *,
    stop: Callable[[], bool] | None = None,
    sweeps: bool = False,
    names: Sequence[str] | None = None,
) -> Generator[Progress, None, PseudoMaskResult]:
    """Whole-cell pseudo-masks plane by plane (progress generator; see module notes).

    Parameters
    ----------
    cell_planes : numpy.ndarray or sequence of numpy.ndarray
        The cell channel: one plane ``(Y, X)``, a stack ``(N, Y, X)`` or a list of planes.
    seed_planes : numpy.ndarray or sequence of numpy.ndarray or None
        The nuclear channel, the same planes as ``cell_planes``; ``None`` splits each cell
        plane's foreground by the estimated cell diameter instead.
    config : ThresholdConfig
        ``config.diameter`` is the cell diameter (``None``: estimated per plane);
        ``config.threshold = None`` chooses every plane's cut by the sweep.
    stop, sweeps, names
        As for :func:`~napari_selfsup_seg.pseudo._threshold.threshold_iter`.

    Yields
    ------
    Progress
        ``threshold`` records, one per plane.

    Returns
    -------
    PseudoMaskResult
        ``diameters`` holds each plane's cell diameter, ``polarities`` the cell channel's
        contrast (``"bright"``, ``"dark"`` or ``"relief"``), ``seeds`` the nuclei (or
        ``None``); with seed planes, ``record["seed_diameter"]`` is the nuclei's median
        diameter (recorded by a model trained on these cells, see
        :class:`~napari_selfsup_seg._config.ModelBundleConfig`).

    Raises
    ------
    InputError
        Seed planes missing, of other shapes, or the same as the cell planes.
    """
    cells = as_plane_list(cell_planes)
    seeds = None if seed_planes is None else as_plane_list(seed_planes)
    names = plane_names(len(cells), names)
    if seeds is not None:
        _check_seeds(cells, seeds)
    out = PseudoMaskResult("threshold", config, cells_recut)
    for i, plane in enumerate(cells):
        if stop is not None and stop():
            break
        if plane.ndim != 2:
            raise InputError(f"{names[i]}: expected one 2D plane, got shape {plane.shape}")
        contrast = contrast_kind(normalised(plane), config.chosen_polarity)
        nuclei: np.ndarray | None = None
        if seeds is not None:
            nuclei, nucleus = _seed_nuclei(seeds[i], config, names[i])
            diameter = config.diameter or cell_diameter_from_seeds(
                plane, nuclei, nucleus, config, contrast
            )
        else:
            diameter = cell_diameter_unseeded(plane, config, contrast)
        prob, signal = cell_map(plane, diameter, config, contrast, seeds is not None)
        sized = dataclasses.replace(config, diameter=diameter)
        recut = partial(cells_recut, seeds=nuclei, contrast=contrast)
        labels, cut, sweep = cut_plane(
            prob, plane, config.threshold, recut, sized, names[i], sweeps, score_plane=signal
        )
        out.add(plane, labels, prob, cut, sweep)
        out.diameters.append(float(diameter))
        out.polarities.append(contrast)
        out.seeds.append(nuclei)
        yield Progress(Stage.THRESHOLD, i + 1, len(cells), f"plane {i + 1}")
    nuclei_found = [s for s in out.seeds if s is not None]
    if nuclei_found:
        out.record["seed_diameter"] = diameter_of_labels(nuclei_found)
    return out


def threshold_or_cells_iter(
    planes: np.ndarray | Sequence[np.ndarray],
    config: Any = None,
    *,
    stop: Callable[[], bool] | None = None,
    sweeps: bool = False,
    names: Sequence[str] | None = None,
    seeds: np.ndarray | Sequence[np.ndarray] | None = None,
) -> Generator[Progress, None, PseudoMaskResult]:
    """The threshold method's pipeline: nuclei, or whole cells for ``config.target == "cells"``.

    ``seeds`` (the nuclear channel's planes, one per plane) go to :func:`cells_iter`; the
    other arguments are :func:`~napari_selfsup_seg.pseudo._threshold.threshold_iter`'s.
    """
    config = config or ThresholdConfig()
    if config.target == "cells":
        return (yield from cells_iter(planes, seeds, config, stop=stop, sweeps=sweeps, names=names))
    if seeds is not None:
        raise InputError('seed planes are used only with target="cells"')
    return (yield from threshold_iter(planes, config, stop=stop, sweeps=sweeps, names=names))


def _check_seeds(cells: list[np.ndarray], seeds: list[np.ndarray]) -> None:
    if len(seeds) != len(cells):
        raise InputError(f"{len(cells)} cell planes but {len(seeds)} seed planes")
    for i, (c, s) in enumerate(zip(cells, seeds)):
        if c.shape != s.shape:
            raise InputError(f"plane {i}: seed plane {s.shape} differs from cell plane {c.shape}")
    if all(c is s or np.array_equal(c, s) for c, s in zip(cells, seeds)):
        raise InputError(
            "the seed channel is the cell channel: seeds come from a nuclear stain, "
            "cells from a cytoplasm, membrane or brightfield channel"
        )


def cell_pseudo_masks(
    cell_planes: np.ndarray | Sequence[np.ndarray],
    seed_planes: np.ndarray | Sequence[np.ndarray] | None = None,
    config: Any = None,
) -> PseudoMaskResult:
    """Whole-cell pseudo-masks (runs :func:`cells_iter` to the end).

    Parameters
    ----------
    cell_planes : numpy.ndarray
        The cell channel, ``(Y, X)`` or ``(N, Y, X)``.
    seed_planes : numpy.ndarray, optional
        The nuclear channel, same shape; ``None``: cells from the cell channel alone.
    config : ThresholdConfig, optional
        Default ``ThresholdConfig(target="cells")``.

    Returns
    -------
    PseudoMaskResult
        ``labels`` holds the cells of each plane.
    """
    from .._progress import drain

    config = config or ThresholdConfig(target="cells")
    if config.target != "cells":
        config = dataclasses.replace(config, target="cells")
    return drain(cells_iter(cell_planes, seed_planes, config))
