"""Classical pseudo-masks from a fluorescent channel: smoothing, global threshold, watershed.

The probability-like map is a logistic function of the smoothed, normalised intensity centred on
the automatic threshold, so that ``0.5`` on the map is exactly the Otsu (or Li, triangle)
threshold and other values move the cut up or down in a way that is comparable across images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from .._config import ConfigBase, _check_range, setting
from .._errors import InputError
from .._progress import Progress, Stage
from ..data._diameter import sizes_for_diameter
from ..data._normalize import NormalizationConfig, percentile_normalize
from ..inference._postprocess import clean_mask, split_touching
from ..inference._rods import split_rods
from ._edges import EDGE_FRACTION, own_edges
from ._result import PseudoMaskResult, cut_plane, plane_names
from ._scale import POLARITIES, PlaneScale, analyse_plane

METHODS = ("otsu", "li", "triangle")
TARGETS = ("nuclei", "cells")


@dataclass
class ThresholdConfig(ConfigBase):
    """Parameters of the threshold pseudo-mask.

    Sizes left at ``None`` derive from the object diameter (given, or estimated per plane by
    :func:`~napari_selfsup_seg.pseudo._scale.analyse_plane`), see :func:`derived_sizes`.

    Attributes
    ----------
    method : str
        Automatic threshold: ``"otsu"``, ``"li"`` or ``"triangle"``.
    diameter : float or None
        Typical object diameter in pixels; ``None`` estimates it from each plane.
    polarity : str
        Objects are ``"bright"`` on a dark background (fluorescence), ``"dark"`` (phase
        contrast, brightfield) or ``"auto"`` (detected per plane).
    background : bool
        Subtract the uneven background (an opening wider than the objects) before the cut.
    sigma : float or None
        Gaussian smoothing before thresholding, in pixels (``None``: from the diameter).
    threshold : float or None
        Cut on the probability-like map (0.5 = the automatic threshold itself); ``None``
        chooses it per plane with :func:`~napari_selfsup_seg.pseudo._sweep.threshold_sweep`.
    min_size : int or None
        Objects smaller than this many pixels are removed (``None``: from the diameter).
    min_distance : int or None
        Minimum distance between centres of touching objects split by the watershed
        (``None``: from the diameter).
    softness : float
        Width of the logistic map, as a fraction of the normalised intensity range.
    bright_objects : bool or None
        Kept for older scripts: ``True``/``False`` force ``polarity`` to bright/dark.
    edge_fraction : float
        Each object's edge lies this fraction of the way from the background around it to its
        peak (:mod:`~napari_selfsup_seg.pseudo._edges`); ``0`` keeps the global cut's edges.
    width : float or None
        Width in pixels of elongated objects (rods, e.g. bacteria) whose ``diameter`` is
        given; ``None`` estimates it with the diameter (compact objects when the diameter is
        given). Rods are smoothed at their width and split only at their necks and along the
        dimmer gaps between them.
    target : str
        ``"nuclei"`` (compact objects of the plane) or ``"cells"``: whole cells of a cell
        channel, grown from the nuclei of a seed channel when one is given
        (:mod:`~napari_selfsup_seg.pseudo._cells`); ``diameter`` is then the cell diameter.
    """

    method: str = "otsu"
    diameter: float | None = setting(None, metavar="PX")
    polarity: str = setting("auto", choices=POLARITIES)
    background: bool = True
    sigma: float | None = None
    threshold: float | None = 0.5
    min_size: int | None = None
    min_distance: int | None = None
    softness: float = 0.05
    bright_objects: bool | None = None
    target: str = setting("nuclei", choices=TARGETS)
    width: float | None = setting(None, metavar="PX")
    edge_fraction: float = EDGE_FRACTION

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise InputError(f"target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        if self.method not in METHODS:
            raise InputError(f"threshold method must be one of {', '.join(METHODS)}")
        if self.polarity not in POLARITIES:
            raise InputError(f"polarity must be one of {', '.join(POLARITIES)}")
        if self.diameter is not None:
            _check_range("diameter", self.diameter, 1.0, 10_000.0)
        if self.width is not None:
            _check_range("width", self.width, 1.0, 10_000.0)
        if self.sigma is not None:
            _check_range("sigma", self.sigma, 0.0, 50.0)
        if self.threshold is not None:
            _check_range("threshold", self.threshold, 0.0, 1.0)
        if self.min_size is not None:
            _check_range("min_size", self.min_size, 0, 10**9)
        if self.min_distance is not None:
            _check_range("min_distance", self.min_distance, 1, 1000)
        _check_range("softness", self.softness, 1e-4, 1.0)
        _check_range("edge_fraction", self.edge_fraction, 0.0, 0.9)

    @property
    def chosen_polarity(self) -> str:
        """``polarity``, or bright/dark where ``bright_objects`` forces it."""
        if self.bright_objects is None:
            return self.polarity
        return "bright" if self.bright_objects else "dark"


def derived_sizes(config: ThresholdConfig, diameter: float) -> tuple[float, int, int, int]:
    """``(sigma, min_size, min_distance, max_hole)`` for objects ``diameter`` pixels wide.

    Explicit config values win; the rest follow
    :func:`~napari_selfsup_seg.data._diameter.sizes_for_diameter` (the rule prediction uses
    with a model's recorded diameter).
    """
    return sizes_for_diameter(diameter, config.sigma, config.min_size, config.min_distance)


def threshold_probability(image: np.ndarray, config: ThresholdConfig | None = None) -> np.ndarray:
    """Probability-like foreground map of one plane.

    Parameters
    ----------
    image : numpy.ndarray
        Shape ``(Y, X)``, any numeric dtype.
    config : ThresholdConfig, optional

    Returns
    -------
    numpy.ndarray of float32
        Shape ``(Y, X)`` in [0, 1]; 0.5 at the automatic threshold.
    """
    return threshold_map(image, config or ThresholdConfig())[0]


def threshold_map(image: np.ndarray, config: ThresholdConfig) -> tuple[np.ndarray, PlaneScale]:
    """The global map of :func:`threshold_probability` and the plane's scale and polarity.

    The plane is normalised, turned so that objects are bright, its background subtracted
    (when ``config.background``), smoothed at the diameter's scale, and mapped through a
    logistic centred on the automatic threshold (objects' own edges: :func:`threshold_plane`).
    """
    scale = analyse_plane(image, config.diameter, config.chosen_polarity, config.width)
    return logistic_map(smoothed_plane(image, scale, config), config), scale


def logistic_map(x: np.ndarray, config: ThresholdConfig) -> np.ndarray:
    """The logistic of the smoothed plane ``x`` centred on its automatic threshold."""
    from skimage import filters

    cut = float(getattr(filters, f"threshold_{config.method}")(x))  # one of METHODS
    z = np.clip((x - cut) / config.softness, -50, 50)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def smoothed_plane(image: np.ndarray, scale: PlaneScale, config: ThresholdConfig) -> np.ndarray:
    """The plane the cut is made on: corrected (or only normalised), smoothed at the width."""
    x = scale.corrected
    if not config.background:
        x = percentile_normalize(image, NormalizationConfig(0.5, 99.9, clip=False))
        x = -x if scale.polarity == "dark" else x
    sigma = derived_sizes(config, scale.thickness)[0]
    return ndi.gaussian_filter(x, sigma) if sigma > 0 else x


def threshold_pseudo_mask(
    image: np.ndarray, config: ThresholdConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Instance pseudo-mask of one plane by threshold and distance-transform watershed.

    Parameters
    ----------
    image : numpy.ndarray
        Shape ``(Y, X)``.
    config : ThresholdConfig, optional

    Returns
    -------
    labels : numpy.ndarray of int32
        Shape ``(Y, X)``, 0 = background.
    probability : numpy.ndarray of float32
        Shape ``(Y, X)`` in [0, 1].
    """
    labels, prob, *_ = threshold_plane(image, config or ThresholdConfig(), "image")
    return labels, prob


def threshold_plane(
    plane: np.ndarray, config: ThresholdConfig, name: str, sweeps: bool = False
) -> tuple[np.ndarray, np.ndarray, float, Any, PlaneScale, dict]:
    """``(labels, map, cut, sweep, scale, recut inputs)`` of one plane.

    The global map is cut (:func:`~napari_selfsup_seg.pseudo._result.cut_plane`), then every
    object's edge and the map around it move to its own cut unless ``config.edge_fraction`` is 0.
    """
    if np.ndim(plane) != 2:
        raise InputError(f"{name}: expected one 2D plane, got shape {np.shape(plane)}")
    scale = analyse_plane(plane, config.diameter, config.chosen_polarity, config.width)
    x = smoothed_plane(plane, scale, config)  # as in threshold_map, kept for the edges
    prob = logistic_map(x, config)
    sized = dataclasses.replace(config, diameter=scale.diameter, width=scale.width)
    labels, cut, sweep = cut_plane(
        prob, plane, config.threshold, threshold_recut, sized, name, sweeps
    )
    if config.edge_fraction <= 0:
        return labels, prob, cut, sweep, scale, {}
    labels, local = own_edges(labels, sized, prob, x, scale.thickness)
    return labels, local, cut, sweep, scale, {"smoothed": x, "width": scale.width}


def threshold_iter(
    planes: np.ndarray | Sequence[np.ndarray],
    config: ThresholdConfig | None = None,
    *,
    stop: Callable[[], bool] | None = None,
    sweeps: bool = False,
    names: Sequence[str] | None = None,
) -> Generator[Progress, None, PseudoMaskResult]:
    """Threshold pseudo-masks plane by plane (progress generator).

    Parameters
    ----------
    planes : numpy.ndarray or sequence of numpy.ndarray
        One plane ``(Y, X)``, a stack ``(N, Y, X)`` or a list of planes ``(Y, X)``.
    config : ThresholdConfig, optional
        ``config.threshold = None`` chooses every plane's cut by the sweep.
    stop : callable, optional
        Checked before every plane; when it returns True the job ends with the planes done.
    sweeps : bool
        Also sweep planes whose cut is fixed (for the curve in the widget).
    names : sequence of str, optional
        One name per plane for error messages (default ``"plane <i>"``).

    Yields
    ------
    Progress
        ``threshold`` records, one per plane.

    Returns
    -------
    PseudoMaskResult
    """
    config = config or ThresholdConfig()
    if config.target == "cells":
        raise InputError(
            'target="cells" runs through cells_iter (or get_method("threshold").run_iter)'
        )
    planes = as_plane_list(planes)
    names = plane_names(len(planes), names)
    out = PseudoMaskResult("threshold", config, threshold_recut)
    for i, plane in enumerate(planes):
        if stop is not None and stop():
            break
        labels, prob, cut, sweep, scale, inputs = threshold_plane(plane, config, names[i], sweeps)
        out.add(plane, labels, prob, cut, sweep)
        out.recut_inputs.append(inputs)
        out.diameters.append(scale.diameter)
        out.polarities.append(scale.polarity)
        yield Progress(Stage.THRESHOLD, i + 1, len(planes), f"plane {i + 1}")
    return out


def as_plane_list(planes: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """A plane ``(Y, X)``, a stack ``(..., Y, X)`` or a list of planes as a list of planes."""
    if isinstance(planes, np.ndarray):
        if planes.ndim < 2:
            raise InputError(f"expected 2D planes, got shape {planes.shape}")
        return list(planes.reshape(-1, *planes.shape[-2:]))
    return [np.asarray(p) for p in planes]


def threshold_recut(
    prob: np.ndarray, plane: np.ndarray, cut: float, config: Any, **edges: Any
) -> np.ndarray:
    """Labels of ``prob >= cut`` with sizes derived from ``config.diameter``.

    The threshold method's labelling; a config without a diameter has it estimated from
    ``plane``. Rods (a config with a ``width``) are split by :func:`~napari_selfsup_seg.
    inference._rods.split_rods` along the smoothed plane, their holes filled up to half a disc
    of their width. Given ``edges`` (the recut inputs of :func:`threshold_plane`) the global
    map is cut instead and every object gets its own edge.
    """
    if edges:  # the global map again from the smoothed plane, then each object's edge
        config = dataclasses.replace(config, width=edges["width"])  # rods are cut as rods
        global_map = logistic_map(edges["smoothed"], config)
        found = threshold_recut(global_map, plane, cut, config)
        thickness = config.width or config.diameter
        return own_edges(found, config, global_map, edges["smoothed"], thickness)[0]
    diameter, width = config.diameter, getattr(config, "width", None)
    if diameter is None:
        scale = analyse_plane(plane, None, config.chosen_polarity)
        diameter, width = scale.diameter, scale.width
    _sigma, min_size, min_distance, max_hole = derived_sizes(config, diameter)
    if width is not None and width < diameter:
        scale = analyse_plane(plane, diameter, config.chosen_polarity, width)
        hole = derived_sizes(config, width)[3]
        mask = clean_mask(prob >= cut, min_size=min_size, max_hole=hole)
        return split_rods(mask, smoothed_plane(plane, scale, config), width, min_size)
    mask = clean_mask(prob >= cut, min_size=min_size, max_hole=max_hole)
    return split_touching(mask, min_distance, min_size, smoothing=max(1.0, diameter / 12))


def split_recut(prob: np.ndarray, _plane: np.ndarray, cut: float, config: Any) -> np.ndarray:
    """Labels of ``prob >= cut`` by :func:`mask_to_instances` with the config's sizes.

    The labelling of the threshold and Score-CAM methods (``config`` needs ``min_size`` and
    ``min_distance``).
    """
    return mask_to_instances(prob >= cut, config.min_size, config.min_distance)


def mask_to_instances(mask: np.ndarray, min_size: int = 16, min_distance: int = 4) -> np.ndarray:
    """Clean a binary mask and split touching objects into instances (0 = background)."""
    return split_touching(
        clean_mask(mask, min_size=min_size, max_hole=min_size), min_distance, min_size
    )
